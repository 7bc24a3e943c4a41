package accuracy

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite's work units are the batches of runtime.batch_size evaluation
// samples, in data order (docs/sharding.md).

// shardCommon is what every shard computes alike: the sample count.
type shardCommon struct {
	N int `json:"n"`
}

// shardUnit is one batch's result: its sufficient statistics (the
// confusion counts, the calibration bins' counts and confidence sums, the
// confidence sum, summed in sample order as Run sums them), each sample's
// correctness, and the values of the by columns and of the id column
// (IDColumn, when kept) of its samples.
type shardUnit struct {
	Confusion []int64             `json:"confusion"`
	BinN      []int64             `json:"bin_n"`
	BinConf   suite.Floats        `json:"bin_conf"`
	BinHit    []int64             `json:"bin_hit"`
	Conf      suite.Floats        `json:"conf"`
	Correct   []bool              `json:"correct"`
	By        map[string][]string `json:"by,omitempty"`
	IDs       []string            `json:"ids,omitempty"`
}

// batchCounts computes batch [lo, hi)'s counts from its model outputs and
// marks its correct samples in correct (hi-lo values, sample lo first):
// Run's and RunShard's per-batch work.
func batchCounts(out []float32, y []int64, lo, hi, k, bins int, probs bool, correct []bool) *counts {
	c := newCounts(k, bins)
	for i := lo; i < hi; i++ {
		row := out[(i-lo)*k : (i-lo+1)*k]
		pred, conf := Top(row, probs)
		yi := int(y[i])
		c.confusion[yi*k+pred]++
		bin := Bin(conf, bins)
		c.binN[bin]++
		c.binConf[bin] += conf
		if pred == yi {
			c.binHit[bin]++
			correct[i-lo] = true
		}
		c.conf += conf
	}
	return c
}

// reduce is Run's and Merge's reduction: the batches' counts summed in
// batch order (deterministic float sums), the summary figures, the
// per-sample outcomes and the by-group figures. d supplies the sample
// count and the id and by columns. Stopped by runtime.timeout (stop !=
// nil, a Run only), the figures cover the batches that finished (nil
// parts are batches the deadline stopped), and say so; per-sample outcomes
// are left out.
func reduce(t *suite.Target, cfg Config, d *data.Dataset, parts []*counts, correct []bool, stop error) (*suite.Result, error) {
	k := t.Classes
	total, done := newCounts(k, cfg.Bins), 0
	for b, p := range parts {
		if p == nil {
			continue
		}
		total.add(p)
		lo, hi := t.BatchRange(b, d.N)
		done += hi - lo
	}
	r := summarise(total, k, done, cfg.Bins, t.ConfidenceLevel)
	if stop != nil {
		r.SetTimedOut(done, d.N, nil)
		return r, stop
	}
	r.Details[reports.PerSampleKey] = perSample(correct, d.Columns[IDColumn])
	if err := byGroup(r, cfg, d, correct, t.Seed, t.ConfidenceLevel); err != nil {
		return nil, err
	}
	return r, nil
}

// RunShard implements suite.Sharder: the units are the evaluation batches
// and a unit's result is its counts, outcomes and group values; Merge sums
// them in batch order and computes the figures as Run does.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	d := t.Data
	if d.Y == nil {
		return 0, nil, errs.Invalidf("suite accuracy needs labels: set data.y (NumPy) or data.label (CSV)")
	}
	if err := s.CheckData(cfg, d, t.Classes); err != nil {
		return 0, nil, err
	}
	common, err := json.Marshal(shardCommon{N: d.N})
	if err != nil {
		return 0, nil, err
	}
	k := t.Classes
	probs := t.OutputKind == runtime.Probabilities
	ids, hasIDs := d.Columns[IDColumn]
	units := t.Batches(d.N)
	lo, hi := sh.Range(units)
	for _, r := range suite.Runs(suite.Pending(st, lo, hi)) {
		err := suite.ForBatches(ctx, t, d, r[0], r[1], func(b, rlo, rhi int, out []float32) error {
			correct := make([]bool, rhi-rlo)
			c := batchCounts(out, d.Y, rlo, rhi, k, cfg.Bins, probs, correct)
			u := shardUnit{Confusion: c.confusion, BinN: c.binN, BinConf: c.binConf, BinHit: c.binHit,
				Conf: suite.Floats{c.conf}, Correct: correct}
			if cfg.By.Enabled() {
				u.By = map[string][]string{}
				for _, col := range cfg.By.Columns {
					u.By[col] = d.Columns[col][rlo:rhi]
				}
			}
			if hasIDs {
				u.IDs = ids[rlo:rhi]
			}
			return suite.SaveUnit(st, b, u)
		})
		if err != nil {
			return 0, nil, err
		}
	}
	return units, common, nil
}

// Merge implements suite.Sharder: it reads every batch's counts and
// outcomes in batch order and reduces them as Run does.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("accuracy: shard common part: %w", err)
	}
	if nb := t.Batches(cm.N); len(results) != nb {
		return nil, fmt.Errorf("accuracy: %d units for %d samples in batches of %d (want %d)", len(results), cm.N, t.BatchSize, nb)
	}
	k := t.Classes
	d := &data.Dataset{N: cm.N, Columns: map[string][]string{}}
	parts := make([]*counts, len(results))
	correct := make([]bool, 0, cm.N)
	var ids []string
	for b, raw := range results {
		var u shardUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("accuracy: unit %d: %w", b, err)
		}
		lo, hi := t.BatchRange(b, cm.N)
		n := hi - lo
		if len(u.Confusion) != k*k || len(u.BinN) != cfg.Bins || len(u.BinConf) != cfg.Bins || len(u.BinHit) != cfg.Bins ||
			len(u.Conf) != 1 || len(u.Correct) != n || (u.IDs != nil && len(u.IDs) != n) {
			return nil, fmt.Errorf("accuracy: unit %d: %d confusion counts, %d/%d/%d bins, %d sums, %d outcomes, %d ids (want %d, %d, 1, %d samples)",
				b, len(u.Confusion), len(u.BinN), len(u.BinConf), len(u.BinHit), len(u.Conf), len(u.Correct), len(u.IDs), k*k, cfg.Bins, n)
		}
		parts[b] = &counts{confusion: u.Confusion, binN: u.BinN, binConf: u.BinConf, binHit: u.BinHit, conf: u.Conf[0]}
		correct = append(correct, u.Correct...)
		if u.IDs != nil {
			ids = append(ids, u.IDs...)
		}
		for _, col := range cfg.By.Columns {
			v := u.By[col]
			if len(v) != n {
				return nil, fmt.Errorf("accuracy: unit %d: by column %s has %d values for %d samples", b, col, len(v), n)
			}
			d.Columns[col] = append(d.Columns[col], v...)
		}
	}
	if ids != nil {
		if len(ids) != cm.N {
			return nil, fmt.Errorf("accuracy: %d sample ids for %d samples", len(ids), cm.N)
		}
		d.Columns[IDColumn] = ids
	}
	return reduce(t, cfg, d, parts, correct, nil)
}
