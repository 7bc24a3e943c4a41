package extraction

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite's work units are its query budgets, in config order
// (docs/sharding.md). Budgets are independent: each trains its own
// surrogate from scratch, seeded by the budget, on the first budget rows
// of the shuffled query pool (a prefix of the larger budgets' queries,
// but no budget starts from another's surrogate), and attacks it with its
// own seed. Every shard splits the data and asks the model about the test
// part and the largest budget's queries alike (inference, cheap beside
// the training), so a budget's targets are those of the unsharded run.

// shardCommon is what every shard computes alike: the model's right
// answers on the test part and its size, the split's record, the
// surrogate architecture, the transfer attack's row count, the query
// pool's size and the query files (provenance; paths relative to the
// config's folder, suite.RelFiles).
type shardCommon struct {
	Correct int             `json:"correct"`
	TestN   int             `json:"test_n"`
	Split   json.RawMessage `json:"split"`
	Arch    string          `json:"arch"`
	Rows    int             `json:"rows"`
	Pool    int             `json:"pool"`
	Queries []data.File     `json:"queries"`
}

// shardUnit is one budget's result: nil Budget when the budget is larger
// than the query pool (it does not run).
type shardUnit struct {
	Budget *budgetResult `json:"budget"`
}

// RunShard implements suite.Sharder: it prepares the queries and trains,
// measures and attacks the surrogate of each budget of sh's block that st
// does not hold, saving each as it finishes.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	r := suite.NewResult()
	pr, err := prepare(ctx, t, cfg, r)
	if err != nil {
		return 0, nil, err
	}
	defer pr.cleanup()
	split, err := json.Marshal(pr.split)
	if err != nil {
		return 0, nil, err
	}
	common, err := json.Marshal(shardCommon{Correct: pr.correct, TestN: pr.test.N, Split: split, Arch: pr.arch, Rows: pr.atk.N,
		Pool: pr.pool.N, Queries: suite.RelFiles(t.BaseDir, queryFiles(r))})
	if err != nil {
		return 0, nil, err
	}
	units := len(cfg.Budgets)
	lo, hi := sh.Range(units)
	for _, u := range suite.Pending(st, lo, hi) {
		b := cfg.Budgets[u]
		var unit shardUnit
		if b <= pr.pool.N {
			br, err := s.budget(ctx, t, cfg, pr, b)
			if err != nil {
				return 0, nil, fmt.Errorf("budget %d: %w", b, err)
			}
			unit.Budget = &br
		}
		if err := suite.SaveUnit(st, u, unit); err != nil {
			return 0, nil, err
		}
	}
	return units, common, nil
}

// Merge implements suite.Sharder: it writes each budget's figures and the
// extraction curve in budget order, as Run does.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("extraction: shard common part: %w", err)
	}
	if len(results) != len(cfg.Budgets) {
		return nil, fmt.Errorf("extraction: %d units for %d budgets", len(results), len(cfg.Budgets))
	}
	r := suite.NewResult()
	if len(cm.Queries) > 0 {
		r.AddData("queries", &data.Dataset{Files: suite.AbsFiles(t.BaseDir, cm.Queries)})
	}
	r.SetProportion("target_accuracy", cm.Correct, cm.TestN, t.ConfidenceLevel)
	var curve []map[string]any
	for u, raw := range results {
		b := cfg.Budgets[u]
		var unit shardUnit
		if err := json.Unmarshal(raw, &unit); err != nil {
			return nil, fmt.Errorf("extraction: unit %d: %w", u, err)
		}
		if (unit.Budget == nil) != (b > cm.Pool) {
			return nil, fmt.Errorf("extraction: unit %d: budget %d against a pool of %d rows, but the unit says otherwise", u, b, cm.Pool)
		}
		if unit.Budget == nil {
			overPool(r, b, cm.Pool)
			continue
		}
		curve = append(curve, setBudget(r, t, b, *unit.Budget))
	}
	var split map[string]any
	if err := json.Unmarshal(cm.Split, &split); err != nil {
		return nil, fmt.Errorf("extraction: shard common part: split: %w", err)
	}
	writeDetails(r, cfg, split, cm.Arch, cm.Rows, curve)
	return r, nil
}

// queryFiles returns the query files parts recorded in r.
func queryFiles(r *suite.Result) []data.File {
	var out []data.File
	for _, f := range r.Data {
		out = append(out, f.File)
	}
	return out
}
