package fairness

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite's work units, in order: the batches of the evaluation rows
// (pass 0), then for each counterfactual entry and each of its values v
// (in config order) the batches of the rows whose value is not v, with v's
// encoding written in — the very batches Run feeds the model, so every
// row's outputs are those of the unsharded run.

// shardCommon is what every shard computes alike: the row count, the
// favourable class and the unit count.
type shardCommon struct {
	N        int    `json:"n"`
	Positive int    `json:"positive"`
	PosName  string `json:"positive_name"`
}

// shardUnit is one unit's result. An evaluation batch holds each row's
// label, prediction, positive-class probability, sensitive values (one
// list per sensitive column, in config order) and, per counterfactual
// entry, the row's value index and whether its encoding mismatches its
// value. A counterfactual batch holds the predictions of its rows with the
// new value's encoding.
type shardUnit struct {
	Y         []int64      `json:"y,omitempty"`
	Pred      []int32      `json:"pred,omitempty"`
	Score     suite.Floats `json:"score,omitempty"`
	Sensitive [][]string   `json:"sensitive,omitempty"`
	CFGroup   [][]int      `json:"cf_group,omitempty"`
	CFMis     []int        `json:"cf_mismatch,omitempty"`
	CFPred    []int32      `json:"cf_pred,omitempty"`
}

// pass is a run of units over one data set: the evaluation rows (cf < 0)
// or counterfactual entry cf's rows of other values than v (idx).
type pass struct {
	cf, v int
	idx   []int
	first int // the pass's first unit
	units int
}

// layout lists the passes of a run of n evaluation rows whose
// counterfactual entries have the value indices groups (nil when there is
// none) and the total unit count.
func layout(t *suite.Target, n int, cfs []Counterfactual, groups [][]int) ([]pass, int) {
	ps := []pass{{cf: -1, units: t.Batches(n)}}
	total := ps[0].units
	for i, cf := range cfs {
		for v := range cf.Values {
			idx := others(groups[i], v)
			if len(idx) == 0 {
				continue
			}
			ps = append(ps, pass{cf: i, v: v, idx: idx, first: total, units: t.Batches(len(idx))})
			total += ps[len(ps)-1].units
		}
	}
	return ps, total
}

// RunShard implements suite.Sharder: see the unit order above. A unit's
// result is its rows' predictions; the group tables, bootstrap intervals,
// tests and flip rates are computed in Merge from every row, as Run
// computes them.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	d := t.Data
	k := t.Classes
	if err := s.CheckData(cfg, d, k); err != nil {
		return 0, nil, err
	}
	pos, posName, err := positiveClass(cfg.PositiveLabel, d, k)
	if err != nil {
		return 0, nil, err
	}
	setups := make([]*cfSetup, len(cfg.Counterfactual))
	groups := make([][]int, len(cfg.Counterfactual))
	for i, cf := range cfg.Counterfactual {
		if setups[i], err = setupCounterfactual(d, i, cf); err != nil {
			return 0, nil, err
		}
		groups[i] = setups[i].group
	}
	common, err := json.Marshal(shardCommon{N: d.N, Positive: pos, PosName: posName})
	if err != nil {
		return 0, nil, err
	}
	dec := decider{k: k, pos: pos, probs: t.OutputKind == runtime.Probabilities, thr: -1}
	if cfg.Threshold != nil {
		dec.thr = *cfg.Threshold
	}
	passes, units := layout(t, d.N, cfg.Counterfactual, groups)
	lo, hi := sh.Range(units)
	size := d.SampleSize()
	for _, p := range passes {
		plo, phi := max(lo, p.first), min(hi, p.first+p.units)
		if plo >= phi {
			continue
		}
		todo := suite.Runs(suite.Pending(st, plo, phi))
		if len(todo) == 0 {
			continue
		}
		ds, save := d, func(b, rlo, rhi int, out []float32) error { return nil }
		if p.cf < 0 {
			save = func(b, rlo, rhi int, out []float32) error {
				u := shardUnit{Y: d.Y[rlo:rhi], Pred: make([]int32, rhi-rlo), Score: make([]float64, rhi-rlo)}
				for i := rlo; i < rhi; i++ {
					u.Pred[i-rlo], u.Score[i-rlo] = dec.decide(out[(i-rlo)*k : (i-rlo+1)*k])
				}
				for _, name := range cfg.Sensitive {
					u.Sensitive = append(u.Sensitive, d.Columns[name][rlo:rhi])
				}
				for _, cs := range setups {
					u.CFGroup = append(u.CFGroup, cs.group[rlo:rhi])
					mis := 0
					for _, m := range cs.mismatch[rlo:rhi] {
						if m {
							mis++
						}
					}
					u.CFMis = append(u.CFMis, mis)
				}
				return suite.SaveUnit(st, p.first+b, u)
			}
		} else {
			// The counterfactual rows of the batches to run, as Run
			// builds them (the other batches' rows stay zero, unread).
			x := make([]float32, len(p.idx)*size)
			for _, r := range todo {
				blo, _ := t.BatchRange(r[0]-p.first, len(p.idx))
				_, bhi := t.BatchRange(r[1]-1-p.first, len(p.idx))
				for j := blo; j < bhi; j++ {
					row := x[j*size : (j+1)*size]
					copy(row, d.Sample(p.idx[j]))
					setups[p.cf].enc.set(row, p.v)
				}
			}
			ds = &data.Dataset{X: x, N: len(p.idx), SampleShape: d.SampleShape}
			save = func(b, rlo, rhi int, out []float32) error {
				u := shardUnit{CFPred: make([]int32, rhi-rlo)}
				for j := rlo; j < rhi; j++ {
					u.CFPred[j-rlo], _ = dec.decide(out[(j-rlo)*k : (j-rlo+1)*k])
				}
				return suite.SaveUnit(st, p.first+b, u)
			}
		}
		for _, r := range todo {
			if err := suite.ForBatches(ctx, t, ds, r[0]-p.first, r[1]-p.first, save); err != nil {
				if p.cf >= 0 {
					cf := cfg.Counterfactual[p.cf]
					err = fmt.Errorf("counterfactual %s=%s: %w", cf.Attribute, cf.Values[p.v], err)
				}
				return 0, nil, err
			}
		}
	}
	return units, common, nil
}

// Merge implements suite.Sharder: it joins the units' rows in order and
// computes the groups, rates, intervals, tests and flip rates as Run does.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("fairness: shard common part: %w", err)
	}
	nb := t.Batches(cm.N)
	if len(results) < nb {
		return nil, fmt.Errorf("fairness: %d units for %d rows in batches of %d", len(results), cm.N, t.BatchSize)
	}
	units := make([]shardUnit, len(results))
	for i, raw := range results {
		if err := json.Unmarshal(raw, &units[i]); err != nil {
			return nil, fmt.Errorf("fairness: unit %d: %w", i, err)
		}
	}
	in := &Input{Classes: t.Classes, Positive: cm.Positive}
	cols := make([][]string, len(cfg.Sensitive))
	ncf := len(cfg.Counterfactual)
	groups := make([][]int, ncf)
	mismatch := make([]int, ncf)
	for i, u := range units[:nb] {
		n := len(u.Y)
		if len(u.Pred) != n || len(u.Score) != n || len(u.Sensitive) != len(cols) || len(u.CFGroup) != ncf || len(u.CFMis) != ncf {
			return nil, fmt.Errorf("fairness: unit %d: %d labels, %d predictions, %d scores, %d sensitive columns, %d counterfactual groups (want %d rows, %d and %d)",
				i, n, len(u.Pred), len(u.Score), len(u.Sensitive), len(u.CFGroup), n, len(cols), ncf)
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
		for j := range ncf {
			if len(u.CFGroup[j]) != n {
				return nil, fmt.Errorf("fairness: unit %d: counterfactual %d has %d values for %d rows", i, j, len(u.CFGroup[j]), n)
			}
			groups[j] = append(groups[j], u.CFGroup[j]...)
			mismatch[j] += u.CFMis[j]
		}
	}
	if len(in.Y) != cm.N {
		return nil, fmt.Errorf("fairness: the units hold %d rows, the data %d", len(in.Y), cm.N)
	}
	passes, total := layout(t, cm.N, cfg.Counterfactual, groups)
	if total != len(results) {
		return nil, fmt.Errorf("fairness: %d units, the counterfactual values make %d", len(results), total)
	}
	part, err := NewPartition(cfg.Sensitive, cols, cfg.Intersections)
	if err != nil {
		return nil, err
	}
	res, err := compute(t, cfg, in, part, cm.Positive, cm.PosName)
	if err != nil {
		return nil, err
	}

	attrs := res.Details["attributes"].(map[string]any)
	for i, cf := range cfg.Counterfactual {
		var cfPred [][]int32 // by value: the predictions of the other values' rows
		cfPred = make([][]int32, len(cf.Values))
		for _, p := range passes {
			if p.cf != i {
				continue
			}
			for _, u := range units[p.first : p.first+p.units] {
				cfPred[p.v] = append(cfPred[p.v], u.CFPred...)
			}
			if len(cfPred[p.v]) != len(p.idx) {
				return nil, fmt.Errorf("fairness: counterfactual %s=%s: %d predictions for %d rows", cf.Attribute, cf.Values[p.v], len(cfPred[p.v]), len(p.idx))
			}
		}
		det, warn := flipDetails(cf, groups[i], mismatch[i], in.Pred, cfPred, t.ConfidenceLevel, res)
		attrs[cf.Attribute].(map[string]any)["counterfactual"] = det
		res.Warnings = append(res.Warnings, warn...)
	}
	return res, nil
}

// compute is Run's and Merge's reduction of the rows: the group tables,
// rates, intervals and tests (Compute), and the prediction rule's details.
func compute(t *suite.Target, cfg Config, in *Input, part *Partition, pos int, posName string) (*suite.Result, error) {
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
	res.Details["positive_label"] = map[string]any{"class": pos, "name": posName}
	res.Details["output_kind"] = string(t.OutputKind)
	return res, nil
}
