package certify

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite's work units are the batches of runtime.batch_size certified
// samples, in data order (docs/sharding.md). Each sample's noise comes
// from its own stream (suite.BatchRand of σ's seed and the sample index),
// so a unit's certificates are those of the unsharded run.

// shardCommon is what every shard computes alike: the number of samples
// certified.
type shardCommon struct {
	N int `json:"n"`
}

// shardUnit is one batch's result: its clean hits, its samples' labels
// and, for each σ in order, its samples' smoothed predictions (−1:
// abstained) and certified radii.
type shardUnit struct {
	Clean  int            `json:"clean"`
	Y      []int64        `json:"y"`
	Class  [][]int        `json:"class"`
	Radius []suite.Floats `json:"radius"`
}

// RunShard implements suite.Sharder: for each batch of sh's block that st
// does not hold, it counts the clean hits and certifies the batch's
// samples at every σ, then saves the batch's unit.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	d := t.Data
	n, err := checkData(cfg, d)
	if err != nil {
		return 0, nil, err
	}
	common, err := json.Marshal(shardCommon{N: n})
	if err != nil {
		return 0, nil, err
	}
	units := t.Batches(n)
	lo, hi := sh.Range(units)
	pending := suite.Pending(st, lo, hi)
	if len(pending) == 0 {
		return units, common, nil
	}
	ws, closeWorkers, err := newWorkers(t, d, min(n, t.BatchSize))
	if err != nil {
		return 0, nil, err
	}
	defer closeWorkers()
	sub := subset(d, n)
	for _, b := range pending {
		blo, bhi := t.BatchRange(b, n)
		u := shardUnit{Y: sub.Y[blo:bhi]}
		err := suite.ForBatches(ctx, t, sub, b, b+1, func(_, lo, hi int, out []float32) error {
			u.Clean = cleanHits(out, sub.Y, lo, hi, t.Classes)
			return nil
		})
		if err != nil {
			return 0, nil, err
		}
		for _, sigma := range cfg.Sigma {
			out := make([]Outcome, bhi-blo)
			var done atomic.Int64
			if err := certifySamples(ctx, t, ws, d, cfg, sigma, blo, bhi, out, &done); err != nil {
				return 0, nil, err
			}
			class, radius := make([]int, len(out)), make(suite.Floats, len(out))
			for i, o := range out {
				class[i], radius[i] = o.Class, o.Radius
			}
			u.Class, u.Radius = append(u.Class, class), append(u.Radius, radius)
		}
		if err := suite.SaveUnit(st, b, u); err != nil {
			return 0, nil, err
		}
	}
	return units, common, nil
}

// Merge implements suite.Sharder: it joins the batches' labels, clean hits
// and certificates in batch order and reduces them as Run does.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("certify: shard common part: %w", err)
	}
	if nb := t.Batches(cm.N); len(results) != nb {
		return nil, fmt.Errorf("certify: %d units for %d samples in batches of %d (want %d)", len(results), cm.N, t.BatchSize, nb)
	}
	y := make([]int64, 0, cm.N)
	clean := 0
	outs := make([][]Outcome, len(cfg.Sigma))
	for b, raw := range results {
		var u shardUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("certify: unit %d: %w", b, err)
		}
		lo, hi := t.BatchRange(b, cm.N)
		m := hi - lo
		if len(u.Y) != m || len(u.Class) != len(cfg.Sigma) || len(u.Radius) != len(cfg.Sigma) {
			return nil, fmt.Errorf("certify: unit %d: %d labels, %d/%d noise levels (want %d samples, %d noise levels)",
				b, len(u.Y), len(u.Class), len(u.Radius), m, len(cfg.Sigma))
		}
		y = append(y, u.Y...)
		clean += u.Clean
		for s := range cfg.Sigma {
			if len(u.Class[s]) != m || len(u.Radius[s]) != m {
				return nil, fmt.Errorf("certify: unit %d: σ %v has %d predictions and %d radii for %d samples", b, cfg.Sigma[s], len(u.Class[s]), len(u.Radius[s]), m)
			}
			for i := range m {
				outs[s] = append(outs[s], Outcome{Class: u.Class[s][i], Radius: u.Radius[s][i]})
			}
		}
	}
	return reduce(t, cfg, y, clean, cfg.Sigma, outs), nil
}
