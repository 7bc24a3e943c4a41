package fairness

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// shardCommon is what every shard computes alike: the row count and the
// favourable class.
type shardCommon struct {
	N        int    `json:"n"`
	Positive int    `json:"positive"`
	PosName  string `json:"positive_name"`
}

// shardUnit is one batch of evaluation rows: label, prediction,
// positive-class probability and the sensitive values (one list per
// sensitive column, in config order) of each row.
type shardUnit struct {
	Y         []int64      `json:"y"`
	Pred      []int32      `json:"pred"`
	Score     suite.Floats `json:"score"`
	Sensitive [][]string   `json:"sensitive"`
}

// RunShard implements suite.Sharder: the units are the batches of the
// evaluation data, in order; a unit's result is its rows' predictions.
// The group tables, bootstrap intervals and tests are computed in Merge
// from every row, as Run computes them. The counterfactual flip test is
// not sharded yet: a config with counterfactual entries is refused.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	d := t.Data
	k := t.Classes
	if len(cfg.Counterfactual) > 0 {
		return 0, nil, errs.Invalidf("config suites.fairness.counterfactual: the counterfactual flip test does not run sharded or resumed yet; run it without --shard and --resume, or leave counterfactual out of the sharded run")
	}
	if err := s.CheckData(cfg, d, k); err != nil {
		return 0, nil, err
	}
	pos, posName, err := positiveClass(cfg.PositiveLabel, d, k)
	if err != nil {
		return 0, nil, err
	}
	common, err := json.Marshal(shardCommon{N: d.N, Positive: pos, PosName: posName})
	if err != nil {
		return 0, nil, err
	}
	dec := decider{k: k, pos: pos, probs: t.OutputKind == runtime.Probabilities, thr: -1}
	if cfg.Threshold != nil {
		dec.thr = *cfg.Threshold
	}
	units := t.Batches(d.N)
	lo, hi := sh.Range(units)
	for _, r := range suite.Runs(suite.Pending(st, lo, hi)) {
		err := suite.ForBatches(ctx, t, d, r[0], r[1], func(b, rlo, rhi int, out []float32) error {
			u := shardUnit{Y: d.Y[rlo:rhi], Pred: make([]int32, rhi-rlo), Score: make([]float64, rhi-rlo)}
			for i := rlo; i < rhi; i++ {
				u.Pred[i-rlo], u.Score[i-rlo] = dec.decide(out[(i-rlo)*k : (i-rlo+1)*k])
			}
			for _, name := range cfg.Sensitive {
				u.Sensitive = append(u.Sensitive, d.Columns[name][rlo:rhi])
			}
			raw, err := json.Marshal(u)
			if err != nil {
				return err
			}
			return st.Save(b, raw)
		})
		if err != nil {
			return 0, nil, err
		}
	}
	return units, common, nil
}

// Merge implements suite.Sharder: it joins the units' rows in order and
// computes the groups, rates, intervals and tests as Run does.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("fairness: shard common part: %w", err)
	}
	in := &Input{Classes: t.Classes, Positive: cm.Positive}
	cols := make([][]string, len(cfg.Sensitive))
	for i, raw := range results {
		var u shardUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("fairness: unit %d: %w", i, err)
		}
		n := len(u.Y)
		if len(u.Pred) != n || len(u.Score) != n || len(u.Sensitive) != len(cols) {
			return nil, fmt.Errorf("fairness: unit %d: %d labels, %d predictions, %d scores, %d sensitive columns (want %d)", i, n, len(u.Pred), len(u.Score), len(u.Sensitive), len(cols))
		}
		in.Y = append(in.Y, u.Y...)
		in.Pred = append(in.Pred, u.Pred...)
		in.Score = append(in.Score, u.Score...)
		for j := range cols {
			if len(u.Sensitive[j]) != n {
				return nil, fmt.Errorf("fairness: unit %d: sensitive column %s has %d values for %d rows", i, cfg.Sensitive[j], len(u.Sensitive[j]), n)
			}
			cols[j] = append(cols[j], u.Sensitive[j]...)
		}
	}
	if len(in.Y) != cm.N {
		return nil, fmt.Errorf("fairness: the units hold %d rows, the data %d", len(in.Y), cm.N)
	}
	part, err := NewPartition(cfg.Sensitive, cols, cfg.Intersections)
	if err != nil {
		return nil, err
	}
	ref := map[string]string{}
	for _, a := range cfg.attributes() {
		if g, ok := cfg.referenceFor(a); ok {
			ref[a] = g
		}
	}
	res, err := Compute(in, part, Options{MinGroupSize: cfg.MinGroupSize, NBoot: cfg.NBoot, Bins: cfg.Bins,
		Seed: t.Seed, Level: t.ConfidenceLevel, Reference: ref, Interval: cfg.Interval})
	if err != nil {
		return nil, err
	}
	pred := map[string]any{"rule": "argmax"}
	if cfg.Threshold != nil {
		pred = map[string]any{"rule": "threshold", "threshold": *cfg.Threshold}
	}
	res.Details["prediction"] = pred
	res.Details["positive_label"] = map[string]any{"class": cm.Positive, "name": cm.PosName}
	res.Details["output_kind"] = string(t.OutputKind)
	return res, nil
}
