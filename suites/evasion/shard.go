package evasion

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite's work units (docs/sharding.md), at the attack batch
// (attackBatch: suites.evasion.batch_size, else the rule on the data's
// shape and runtime.batch_size): pass 0 is the clean batches, then one
// pass per attack and eps, in config order, each over the same batches.
// Unit p·B + b is batch b of pass p (B batches). An attack batch runs with
// the seeds and per-batch random stream (suite.BatchRand) of the unsharded
// run, on the same samples, so its per-sample outcomes are the unsharded
// run's; AutoAttack's later parts run on the batch's points still robust,
// which is per sample too. The figures, intervals, by-group tables and
// sanity flags are computed in Merge from every sample's outcomes, by the
// reduction Run uses (finish).

// shardCommon is what every shard computes alike: the sample count and
// shape, the feature names, the attack batch, the gradient mode (with its
// straight-through operators) and PGD path, and the probability-outputs
// text of the sanity flags. A field added to gradChoice or fuseChoice
// must be carried here too (TestShardMergeEqualsRun compares details).
type shardCommon struct {
	N           int      `json:"n"`
	Shape       []int    `json:"shape"`
	Features    []string `json:"features,omitempty"`
	Batch       int      `json:"batch"`
	BatchSource string   `json:"batch_source"`
	Mode        string   `json:"mode"`
	GradMode    string   `json:"gradient_mode"`
	GradReason  string   `json:"gradient_reason,omitempty"`
	FellBack    bool     `json:"fell_back,omitempty"`
	PerBatch    bool     `json:"per_batch_size,omitempty"`
	Straight    []string `json:"straight_through,omitempty"`
	FuseSetting string   `json:"fuse_setting"`
	Fused       bool     `json:"fused,omitempty"`
	FuseReason  string   `json:"fuse_reason,omitempty"`
	How         string   `json:"probs_how,omitempty"`
}

// cleanUnit is a clean batch's result: its samples' model outputs,
// labels and by-column values.
type cleanUnit struct {
	Out suite.Floats32      `json:"out"`
	Y   []int64             `json:"y"`
	By  map[string][]string `json:"by,omitempty"`
}

// attackUnit is one attack batch's result at one eps: per sample, whether
// the attack succeeded, whether the sample stayed robust, its
// perturbation norm (successes only, else 0), its model evaluations and
// whether its first gradient was all zero; the batch's zero-gradient
// counts; for AutoAttack, the part that broke each sample and each part's
// evaluations.
type attackUnit struct {
	Success     []bool       `json:"success"`
	Robust      []bool       `json:"robust"`
	Pert        suite.Floats `json:"pert"`
	Queries     []int32      `json:"queries"`
	Zero        []bool       `json:"zero"`
	ZeroGrad    int          `json:"zero_grad"`
	GradSeen    int          `json:"grad_seen"`
	BrokenBy    []int8       `json:"broken_by,omitempty"`
	PartQueries []int32      `json:"part_queries,omitempty"`
	// Examples are the batch's first successful samples (up to
	// save_examples): index, adversarial prediction, adversarial and
	// clean inputs.
	Examples []unitExample `json:"examples,omitempty"`
}

// unitExample is one saved example of an attack batch.
type unitExample struct {
	I    int            `json:"i"`
	Pred int            `json:"pred"`
	X    suite.Floats32 `json:"x"`
	X0   suite.Floats32 `json:"x0"`
}

// pairs lists the (attack, eps) passes in config order.
func pairs(cfg Config) []struct {
	a   AttackConfig
	eps float64
} {
	var out []struct {
		a   AttackConfig
		eps float64
	}
	for _, a := range cfg.Attacks {
		for _, e := range a.Eps {
			out = append(out, struct {
				a   AttackConfig
				eps float64
			}{a, e})
		}
	}
	return out
}

// cleanCorrect returns, per sample, whether the clean output's arg max is
// the label, and how many are: Run's and Merge's clean figures.
func cleanCorrect(clean []float32, y []int64, k int) ([]bool, int) {
	correct := make([]bool, len(y))
	n := 0
	for i := range correct {
		correct[i] = int64(stats.Argmax(clean[i*k:(i+1)*k])) == y[i]
		if correct[i] {
			n++
		}
	}
	return correct, n
}

// finish is Run's and Merge's reduction of the outcomes: the figures, the
// by-group tables, the gradient and PGD-path details, the fallback warning
// and the sanity flags (how: probsHow's text).
func finish(t *suite.Target, cfg Config, outs []*outcome, correct []bool, nCorrect int, clean []float32, gc gradChoice, fuse fuseChoice, how string) (*suite.Result, error) {
	res := summarise(t, cfg, outs, correct, nCorrect)
	if err := byGroup(res, t, cfg, outs, correct); err != nil {
		return nil, err
	}
	res.Details["gradient"] = gc.details()
	res.Details["fuse"] = fuse.details()
	if gc.reason != "" && gc.fellBack {
		res.Warnings = append(res.Warnings, "evasion: gradient_mode auto: exact gradients are unavailable ("+gc.reason+"); the attacks ran on estimated (NES) gradients, which may overstate robustness")
	}
	sanityHow(t, res, outs, clean, how)
	return res, nil
}

// RunShard implements suite.Sharder (see the units above). A sharded run
// does not halve the attack batch on an out-of-memory error (the units
// would change under the other shards): it fails naming
// suites.evasion.batch_size. It refuses attacks that the square fallback
// may rerun (estimated gradients), which needs every batch at once
// (docs/sharding.md). Saved examples travel in the attack units with
// their clean inputs, and Merge writes them.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	if err := s.check(t, cfg); err != nil {
		return 0, nil, err
	}
	for i, a := range cfg.Attacks {
		if a.Name == DeepFool {
			return 0, nil, errs.Invalidf("config suites.evasion.attacks[%d] (%s): deepfool runs once over every sample and derives each eps from ε*, which the shards' units do not split yet: run evasion unsharded", i, a.Key())
		}
		if a.decision() {
			return 0, nil, errs.Invalidf("config suites.evasion.attacks[%d] (%s): hopskipjump runs once over every sample and derives each budget's norms and each eps from them, which the shards' units do not split yet: run evasion unsharded", i, a.Key())
		}
	}
	ds := t.Data
	n, dim, k := ds.N, ds.SampleSize(), t.Classes
	bc := attackBatch(t, cfg, dim)
	tb := *t
	tb.BatchSize = bc.size
	nb := tb.Batches(n)
	ps := pairs(cfg)
	units := nb * (1 + len(ps))

	rt, gc, err := openRunners(&tb, cfg, dim, k)
	if err != nil {
		return 0, nil, oomHint(err, bc.size)
	}
	defer rt.close()
	if rt.mode == ModeEstimated {
		for i, a := range cfg.Attacks {
			if a.whiteBox() && a.Name != AutoAttack {
				return 0, nil, errs.Invalidf("config suites.evasion.attacks[%d] (%s): runs on estimated gradients here (%s), where the square fallback reruns the samples of a whole attack; a sharded or resumed run cannot split it (docs/sharding.md): run evasion unsharded", i, a.Key(), gc.reason)
			}
		}
	}
	common, err := json.Marshal(shardCommon{N: n, Shape: ds.SampleShape, Features: ds.Features, Batch: bc.size, BatchSource: bc.source,
		Mode: rt.mode, GradMode: gc.mode, GradReason: gc.reason, FellBack: gc.fellBack, PerBatch: gc.perBatch, Straight: gc.straightThrough,
		FuseSetting: rt.fuse.setting, Fused: rt.fuse.fused, FuseReason: rt.fuse.reason, How: probsHow(t)})
	if err != nil {
		return 0, nil, err
	}
	lo, hi := sh.Range(units)
	fuse0 := rt.fuse

	// The clean units: the model's outputs, as Run's clean pass.
	for _, r := range suite.Runs(suite.Pending(st, lo, min(hi, nb))) {
		err := suite.ForBatches(ctx, &tb, ds, r[0], r[1], func(b, blo, bhi int, out []float32) error {
			u := cleanUnit{Out: append(suite.Floats32(nil), out[:(bhi-blo)*k]...), Y: ds.Y[blo:bhi]}
			if cfg.By.Enabled() {
				u.By = map[string][]string{}
				for _, c := range cfg.By.Columns {
					u.By[c] = ds.Columns[c][blo:bhi]
				}
			}
			return suite.SaveUnit(st, b, u)
		})
		if err != nil {
			return 0, nil, oomHint(err, bc.size)
		}
	}

	// The attack units. Their batches' clean outputs are recomputed (the
	// same batches, the same outputs), without progress counts.
	var todo [][2]int
	need := [2]int{nb, 0} // the batches whose clean outputs are needed
	for _, r := range suite.Runs(suite.Pending(st, max(lo, nb), hi)) {
		for u := r[0]; u < r[1]; u++ {
			b := u % nb
			need[0], need[1] = min(need[0], b), max(need[1], b+1)
		}
		todo = append(todo, r)
	}
	if len(todo) == 0 {
		return units, common, nil
	}
	clean := make([]float32, n*k)
	tq := tb
	tq.Pool.Progress = nil
	err = suite.ForBatches(ctx, &tq, ds, need[0], need[1], func(_, blo, bhi int, out []float32) error {
		copy(clean[blo*k:bhi*k], out[:(bhi-blo)*k])
		return nil
	})
	if err != nil {
		return 0, nil, oomHint(err, bc.size)
	}
	correct, _ := cleanCorrect(clean, ds.Y, k)
	first := 0 // the first unit of the pass in progress
	rt.save = func(o *outcome, b, blo, bhi int, zero [2]int) error {
		u := attackUnit{Success: o.success[blo:bhi], Robust: o.robust[blo:bhi], Pert: o.pert[blo:bhi], Queries: o.queries[blo:bhi],
			Zero: o.zero[blo:bhi], ZeroGrad: zero[0], GradSeen: zero[1]}
		if o.brokenBy != nil {
			u.BrokenBy, u.PartQueries = o.brokenBy[blo:bhi], o.partQueries[blo*numParts:bhi*numParts]
		}
		for _, e := range o.examples[b] {
			u.Examples = append(u.Examples, unitExample{I: e.i, Pred: e.pred, X: e.x, X0: ds.Sample(e.i)})
		}
		return suite.SaveUnit(st, first+b, u)
	}
	for _, r := range todo {
		// split the run of units at the passes' ends
		for u := r[0]; u < r[1]; {
			p := u / nb
			end := min(r[1], (p+1)*nb)
			pp := ps[p-1]
			first = p * nb
			rt.span = &[2]int{u - p*nb, end - p*nb}
			if _, err := rt.attack(ctx, &tb, cfg, pp.a, pp.eps, clean, correct); err != nil {
				return 0, nil, oomHint(fmt.Errorf("attack %s: %w", Prefix(pp.a.Key(), pp.a.Norm, pp.eps), err), bc.size)
			}
			if rt.fuse != fuse0 {
				// fuse: auto fell back to per step: the shards' common
				// part would no longer describe this shard's run.
				return 0, nil, fmt.Errorf("attack %s: %s; a sharded or resumed run keeps one PGD path: set suites.evasion.fuse to never", Prefix(pp.a.Key(), pp.a.Norm, pp.eps), rt.fuse.reason)
			}
			u = end
		}
	}
	return units, common, nil
}

// oomHint adds to an out-of-memory error that a sharded run keeps its
// attack batch.
func oomHint(err error, size int) error {
	if !isOOM(err) {
		return err
	}
	return fmt.Errorf("%w (a sharded or resumed run does not halve the attack batch %d, which would change its units: set suites.evasion.batch_size to a size that fits)", err, size)
}

// Merge implements suite.Sharder: it joins the clean outputs and every
// attack's per-sample outcomes in batch order and reduces them as Run
// does.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("evasion: shard common part: %w", err)
	}
	k := t.Classes
	tb := *t
	tb.BatchSize = cm.Batch
	nb := tb.Batches(cm.N)
	ps := pairs(cfg)
	if len(results) != nb*(1+len(ps)) {
		return nil, fmt.Errorf("evasion: %d units, want %d (%d batches of %d samples, %d attack passes and the clean pass)", len(results), nb*(1+len(ps)), nb, cm.N, len(ps))
	}
	ds := &data.Dataset{N: cm.N, SampleShape: cm.Shape, Features: cm.Features, Columns: map[string][]string{}}
	clean := make([]float32, 0, cm.N*k)
	for b := range nb {
		var u cleanUnit
		if err := json.Unmarshal(results[b], &u); err != nil {
			return nil, fmt.Errorf("evasion: unit %d: %w", b, err)
		}
		lo, hi := tb.BatchRange(b, cm.N)
		if len(u.Y) != hi-lo || len(u.Out) != (hi-lo)*k {
			return nil, fmt.Errorf("evasion: unit %d: %d labels and %d outputs for %d samples of %d classes", b, len(u.Y), len(u.Out), hi-lo, k)
		}
		clean = append(clean, u.Out...)
		ds.Y = append(ds.Y, u.Y...)
		for _, c := range cfg.By.Columns {
			if len(u.By[c]) != hi-lo {
				return nil, fmt.Errorf("evasion: unit %d: by column %s has %d values for %d samples", b, c, len(u.By[c]), hi-lo)
			}
			ds.Columns[c] = append(ds.Columns[c], u.By[c]...)
		}
	}
	tb.Data = ds
	correct, nCorrect := cleanCorrect(clean, ds.Y, k)
	outs := make([]*outcome, len(ps))
	for p, pp := range ps {
		o := &outcome{a: pp.a, eps: pp.eps, mode: cm.Mode, examples: make([][]example, nb)}
		if pp.a.Name == Square {
			o.mode = "none"
		}
		for b := range nb {
			unit := (p+1)*nb + b
			var u attackUnit
			if err := json.Unmarshal(results[unit], &u); err != nil {
				return nil, fmt.Errorf("evasion: unit %d: %w", unit, err)
			}
			lo, hi := tb.BatchRange(b, cm.N)
			m := hi - lo
			if len(u.Success) != m || len(u.Robust) != m || len(u.Pert) != m || len(u.Queries) != m || len(u.Zero) != m ||
				(pp.a.Name == AutoAttack && (len(u.BrokenBy) != m || len(u.PartQueries) != m*numParts)) {
				return nil, fmt.Errorf("evasion: unit %d (%s, batch %d): the per-sample outcomes do not cover its %d samples", unit, Prefix(pp.a.Key(), pp.a.Norm, pp.eps), b, m)
			}
			o.success = append(o.success, u.Success...)
			o.robust = append(o.robust, u.Robust...)
			o.pert = append(o.pert, u.Pert...)
			o.queries = append(o.queries, u.Queries...)
			o.zero = append(o.zero, u.Zero...)
			o.zeroGrad += u.ZeroGrad
			o.gradSeen += u.GradSeen
			if pp.a.Name == AutoAttack {
				o.brokenBy = append(o.brokenBy, u.BrokenBy...)
				o.partQueries = append(o.partQueries, u.PartQueries...)
			}
			for _, e := range u.Examples {
				o.examples[b] = append(o.examples[b], example{i: e.I, pred: e.Pred, x: e.X, x0: e.X0})
			}
		}
		outs[p] = o
	}
	gc := gradChoice{mode: cm.GradMode, reason: cm.GradReason, fellBack: cm.FellBack, perBatch: cm.PerBatch, straightThrough: cm.Straight}
	fuse := fuseChoice{setting: cm.FuseSetting, fused: cm.Fused, reason: cm.FuseReason}
	res, err := finish(&tb, cfg, outs, correct, nCorrect, clean, gc, fuse, cm.How)
	if err != nil {
		return nil, err
	}
	if cfg.SaveExamples > 0 {
		if err := saveExamples(&tb, cfg, res, outs, cm.Shape); err != nil {
			return nil, err
		}
	}
	res.Details["batch"] = batchChoice{size: cm.Batch, source: cm.BatchSource}.details()
	return res, nil
}
