package corruption

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite's work units are the batches of runtime.batch_size corrupted
// samples (the first samples), in data order; a unit carries the batch's
// clean hits and its hits under every (family, severity) cell
// (docs/sharding.md). Each sample is corrupted from its own stream
// (suite.BatchRand of the cell's derived seed and the sample index), so a
// unit's corrupted samples are those of the unsharded run.

// shardCommon is what every shard computes alike: the sample count, the
// details that describe the data, the families that apply (in order),
// those that do not with why, and the baseline.
type shardCommon struct {
	N             int               `json:"n"`
	Details       map[string]any    `json:"details"`
	Applicable    []string          `json:"applicable"`
	NotApplicable map[string]string `json:"not_applicable"`
	Base          *Baseline         `json:"baseline,omitempty"`
}

// shardUnit is one batch's result: its clean hits and its hits under each
// cell of the applicable families, in family then severity order.
type shardUnit struct {
	Clean   int   `json:"clean"`
	Correct []int `json:"correct"`
}

// RunShard implements suite.Sharder: for each batch of sh's block that st
// does not hold, it counts the batch's clean hits and its hits under
// every cell (the cells run in parallel), then saves the batch's unit.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	p, err := prepare(ctx, t, cfg)
	if err != nil {
		return 0, nil, err
	}
	common, err := json.Marshal(shardCommon{N: p.n, Details: p.details, Applicable: p.applicable, NotApplicable: p.notApplicable, Base: p.base})
	if err != nil {
		return 0, nil, err
	}
	jobs := jobsOf(p.applicable, cfg.Severities)
	units := t.Batches(p.n)
	lo, hi := sh.Range(units)
	for _, b := range suite.Pending(st, lo, hi) {
		var u shardUnit
		err := suite.ForBatches(ctx, t, p.sub, b, b+1, func(_, lo, hi int, out []float32) error {
			u.Clean = hits(out, p.sub.Y, lo, hi, t.Classes)
			return nil
		})
		if err != nil {
			return 0, nil, err
		}
		correct := make([]int, len(jobs)*units)
		finished := make([]bool, len(jobs)*units)
		if len(jobs) > 0 {
			if err := runJobs(ctx, t, p.sub, p.cor, jobs, b, b+1, correct, finished); err != nil {
				return 0, nil, err
			}
		}
		u.Correct = make([]int, len(jobs))
		for j := range jobs {
			u.Correct[j] = correct[j*units+b]
		}
		if err := suite.SaveUnit(st, b, u); err != nil {
			return 0, nil, err
		}
	}
	return units, common, nil
}

// Merge implements suite.Sharder: it lays the batches' hits out as Run
// does and reduces them as Run does.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("corruption: shard common part: %w", err)
	}
	nb := t.Batches(cm.N)
	if len(results) != nb {
		return nil, fmt.Errorf("corruption: %d units for %d samples in batches of %d (want %d)", len(results), cm.N, t.BatchSize, nb)
	}
	if cm.Details == nil {
		return nil, fmt.Errorf("corruption: shard common part has no details")
	}
	jobs := jobsOf(cm.Applicable, cfg.Severities)
	correct := make([]int, len(jobs)*nb)
	clean := 0
	for b, raw := range results {
		var u shardUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("corruption: unit %d: %w", b, err)
		}
		if len(u.Correct) != len(jobs) {
			return nil, fmt.Errorf("corruption: unit %d: %d cells (want %d)", b, len(u.Correct), len(jobs))
		}
		clean += u.Clean
		for j, c := range u.Correct {
			correct[j*nb+b] = c
		}
	}
	res := suite.NewResult()
	reduce(res, cfg, cm.Base, cm.Details, cm.N, nb, clean, jobs, cm.Applicable, cm.NotApplicable, correct, t.ConfidenceLevel)
	return res, nil
}
