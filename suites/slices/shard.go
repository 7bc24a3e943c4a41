package slices

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite's work units are the batches of runtime.batch_size evaluation
// samples, in data order (docs/sharding.md): the model pass. A unit's
// result is its samples' predictions, labels and the values of the
// feature and sensitive columns; the binning, the slice search and its
// multiple-comparison correction need every sample and run once, in the
// merge. An evasion block does not shard (ShardRefusal).

// shardCommon is what every shard computes alike: the sample count.
type shardCommon struct {
	N int `json:"n"`
}

// shardUnit is one batch's result: per sample its predicted class, label
// and the value of each feature and sensitive column (as the search reads
// them: strings).
type shardUnit struct {
	Pred    []int32             `json:"pred"`
	Y       []int64             `json:"y"`
	Columns map[string][]string `json:"columns"`
}

// ShardRefusal implements suite.ShardRefuser: an evasion block does not
// shard (its attacks run over all samples at the attack batch size).
func (Suite) ShardRefusal(cfgAny any) string {
	if cfgAny.(Config).evasion != nil {
		return "its evasion block (robust_accuracy slices) does not shard"
	}
	return ""
}

// columnsOf lists the feature and sensitive columns, each once, in
// config order.
func columnsOf(cfg Config) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range append(append([]string(nil), cfg.Features...), cfg.Sensitive...) {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// RunShard implements suite.Sharder: it classifies the batches of sh's
// block that st does not hold and saves each batch's predictions, labels
// and column values.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	if why := s.ShardRefusal(cfg); why != "" {
		return 0, nil, errs.Invalidf("suite slices: %s", why)
	}
	d := t.Data
	if err := s.CheckData(cfg, d, t.Classes); err != nil {
		return 0, nil, err
	}
	common, err := json.Marshal(shardCommon{N: d.N})
	if err != nil {
		return 0, nil, err
	}
	units := t.Batches(d.N)
	lo, hi := sh.Range(units)
	pending := suite.Pending(st, lo, hi)
	if len(pending) == 0 {
		return units, common, nil
	}
	cols := map[string][]string{}
	for i, name := range columnsOf(cfg) {
		v, err := values(d, name)
		if err != nil {
			return 0, nil, errs.Invalidf(field+"columns[%d]: %v", i, err)
		}
		cols[name] = v
	}
	k := t.Classes
	for _, r := range suite.Runs(pending) {
		err := suite.ForBatches(ctx, t, d, r[0], r[1], func(b, blo, bhi int, out []float32) error {
			u := shardUnit{Pred: make([]int32, bhi-blo), Y: d.Y[blo:bhi], Columns: make(map[string][]string, len(cols))}
			for i := range u.Pred {
				u.Pred[i] = int32(stats.Argmax(out[i*k : (i+1)*k]))
			}
			for name, v := range cols {
				u.Columns[name] = v[blo:bhi]
			}
			return suite.SaveUnit(st, b, u)
		})
		if err != nil {
			return 0, nil, err
		}
	}
	return units, common, nil
}

// Merge implements suite.Sharder: it joins the batches' predictions,
// labels and column values in batch order, then searches the slices and
// corrects for multiple comparisons as Run does.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("slices: shard common part: %w", err)
	}
	if nb := t.Batches(cm.N); len(results) != nb {
		return nil, fmt.Errorf("slices: %d units for %d samples in batches of %d (want %d)", len(results), cm.N, t.BatchSize, nb)
	}
	names := columnsOf(cfg)
	d := &data.Dataset{N: cm.N, Y: make([]int64, 0, cm.N), Columns: make(map[string][]string, len(names))}
	pred := make([]int, 0, cm.N)
	for b, raw := range results {
		var u shardUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("slices: unit %d: %w", b, err)
		}
		lo, hi := t.BatchRange(b, cm.N)
		n := hi - lo
		if len(u.Pred) != n || len(u.Y) != n {
			return nil, fmt.Errorf("slices: unit %d: %d predictions and %d labels for %d samples", b, len(u.Pred), len(u.Y), n)
		}
		for _, p := range u.Pred {
			pred = append(pred, int(p))
		}
		d.Y = append(d.Y, u.Y...)
		for _, name := range names {
			v := u.Columns[name]
			if len(v) != n {
				return nil, fmt.Errorf("slices: unit %d: column %s has %d values for %d samples", b, name, len(v), n)
			}
			d.Columns[name] = append(d.Columns[name], v...)
		}
	}
	feats, searches, minSize, _, err := prepare(cfg, d, pred)
	if err != nil {
		return nil, err
	}
	r := suite.NewResult()
	write(r, cfg, searches, feats, minSize, cm.N)
	return r, nil
}
