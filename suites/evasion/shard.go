package evasion

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

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
	// LabelOutput and LabelReason are where hopskipjump reads labels
	// (labelChoice).
	LabelOutput string `json:"label_output,omitempty"`
	LabelReason string `json:"label_reason,omitempty"`
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

// shardable lists the attacks whose units RunShard splits: each attack
// batch runs alone, from its own seed and stream (deepfool and fmn: once
// per entry, see passes). An attack added to the suite is refused in a
// sharded or resumed run (exit 2 naming it) until it is listed here, with
// a test that its merged shards equal Run, and in docs/sharding.md.
var shardable = map[string]bool{FGSM: true, PGD: true, APGD: true, Square: true, FAB: true, DeepFool: true, FMN: true, AutoAttack: true, HopSkipJump: true, SignOPT: true}

// ShardRefusal implements suite.ShardRefuser: it names the entries whose
// attack is not in shardable ("" when every one is), so that the engine
// refuses a sharded run before anything is loaded and runs a resumed one
// whole.
func (Suite) ShardRefusal(cfgAny any) string {
	cfg := cfgAny.(Config)
	var no []string
	for i, a := range cfg.Attacks {
		if !shardable[a.Name] {
			no = append(no, fmt.Sprintf("attacks[%d] (%s): %s", i, a.Key(), a.Name))
		}
	}
	if len(no) == 0 {
		return ""
	}
	return "these attacks do not shard yet: " + strings.Join(no, ", ")
}

// pass is one attack pass of the units: an attack at one eps, or a
// deepfool, fmn, hopskipjump or signopt entry at all its eps (each runs once and judges
// each eps from its per-sample norms).
type pass struct {
	a   AttackConfig
	eps []float64
}

// passes lists the attack passes in config order: one per attack and eps,
// one per ε* (deepfool, fmn) or decision-based (hopskipjump, signopt)
// entry.
func passes(cfg Config) []pass {
	var out []pass
	for _, a := range cfg.Attacks {
		if a.epsStar() || a.decision() {
			out = append(out, pass{a, a.Eps})
			continue
		}
		for _, e := range a.Eps {
			out = append(out, pass{a, []float64{e}})
		}
	}
	return out
}

// dfUnit is one batch of a deepfool entry's pass: per sample, ε* (+Inf:
// no adversarial point found), the prediction at the last point, the
// model evaluations and the zero-gradient flag; the batch's
// zero-gradient counts; and the adversarial and clean inputs of the
// samples that some eps of the entry saves as examples.
type dfUnit struct {
	Eps      suite.Floats `json:"eps_star"`
	Pred     []int32      `json:"pred"`
	Queries  []int32      `json:"queries"`
	Zero     []bool       `json:"zero"`
	ZeroGrad int          `json:"zero_grad"`
	GradSeen int          `json:"grad_seen"`
	Examples []dfExample  `json:"examples,omitempty"`
}

// hsjUnit is one batch of a hopskipjump entry's pass: per budget and
// sample, the norm reached and the norm of the point ART would return
// (+Inf: none); per sample the prediction at the last point, the model
// evaluations; and the points of the samples some eps saves as examples.
type hsjUnit struct {
	Norms    []suite.Floats `json:"norms"`
	Last     []suite.Floats `json:"last"`
	Pred     []int32        `json:"pred"`
	Queries  []int32        `json:"queries"`
	Zero     []bool         `json:"zero"`
	Examples []dfExample    `json:"examples,omitempty"`
}

// dfExample is a deepfool sample saved as an example at some eps.
type dfExample struct {
	I  int            `json:"i"`
	X  suite.Floats32 `json:"x"`
	X0 suite.Floats32 `json:"x0"`
}

// dfExampleRows returns the rows of batch [lo, hi) that deepfoolOutcome
// saves as examples at any of eps: at each eps, the first saveExamples
// clean-correct rows with ε* ≤ eps.
func dfExampleRows(eps []float64, epsStar []float64, correct []bool, lo, hi, saveExamples int) []int {
	var rows []int
	if saveExamples <= 0 {
		return nil
	}
	for _, e := range eps {
		c := 0
		for i := lo; i < hi && c < saveExamples; i++ {
			if correct[i] && e > 0 && epsStar[i] <= e {
				c++
				if !slices.Contains(rows, i) {
					rows = append(rows, i)
				}
			}
		}
	}
	slices.Sort(rows)
	return rows
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
		if !shardable[a.Name] {
			return 0, nil, errs.Invalidf("config suites.evasion.attacks[%d] (%s): %s does not shard yet (docs/sharding.md lists the attacks that do): run it in an unsharded run", i, a.Key(), a.Name)
		}
	}
	ds := t.Data
	n, dim, k := ds.N, ds.SampleSize(), t.Classes
	bc := attackBatch(t, cfg, dim)
	tb := *t
	tb.BatchSize = bc.size
	nb := tb.Batches(n)
	ps := passes(cfg)
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
		FuseSetting: rt.fuse.setting, Fused: rt.fuse.fused, FuseReason: rt.fuse.reason, How: probsHow(t),
		LabelOutput: rt.labels.output, LabelReason: rt.labels.reason})
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
	var dfEps []float64 // the eps of the deepfool pass in progress
	rt.dfSave = func(r *dfRun, b, blo, bhi int, zero [2]int) error {
		u := dfUnit{Eps: r.eps[blo:bhi], Pred: make([]int32, bhi-blo), Queries: r.queries[blo:bhi], Zero: r.zero[blo:bhi],
			ZeroGrad: zero[0], GradSeen: zero[1]}
		for i, p := range r.pred[blo:bhi] {
			u.Pred[i] = int32(p)
		}
		for _, i := range dfExampleRows(dfEps, r.eps, correct, blo, bhi, cfg.SaveExamples) {
			u.Examples = append(u.Examples, dfExample{I: i, X: r.adv[i*dim : (i+1)*dim], X0: ds.Sample(i)})
		}
		return suite.SaveUnit(st, first+b, u)
	}
	rt.hsjSave = func(r *hsjRun, b, blo, bhi int) error {
		u := hsjUnit{Pred: make([]int32, bhi-blo), Queries: r.df.queries[blo:bhi], Zero: r.df.zero[blo:bhi]}
		for bi := range r.norms {
			u.Norms = append(u.Norms, r.norms[bi][blo:bhi])
			u.Last = append(u.Last, r.last[bi][blo:bhi])
		}
		for i, p := range r.df.pred[blo:bhi] {
			u.Pred[i] = int32(p)
		}
		for _, i := range dfExampleRows(dfEps, r.norms[len(r.norms)-1], correct, blo, bhi, cfg.SaveExamples) {
			u.Examples = append(u.Examples, dfExample{I: i, X: r.df.adv[i*dim : (i+1)*dim], X0: ds.Sample(i)})
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
			if pp.a.decision() {
				dfEps = pp.eps
				if _, err := rt.hsjAll(ctx, &tb, pp.a, clean, correct); err != nil {
					return 0, nil, oomHint(fmt.Errorf("attack %s.%s: %w", pp.a.Key(), pp.a.Norm, err), bc.size)
				}
				u = end
				continue
			}
			if pp.a.epsStar() {
				dfEps = pp.eps
				if _, err := rt.deepfoolAll(ctx, &tb, pp.a, clean, correct); err != nil {
					return 0, nil, oomHint(fmt.Errorf("attack %s.%s: %w", pp.a.Key(), pp.a.Norm, err), bc.size)
				}
				u = end
				continue
			}
			if _, err := rt.attack(ctx, &tb, cfg, pp.a, pp.eps[0], clean, correct); err != nil {
				return 0, nil, oomHint(fmt.Errorf("attack %s: %w", Prefix(pp.a.Key(), pp.a.Norm, pp.eps[0]), err), bc.size)
			}
			if rt.fuse != fuse0 {
				// fuse: auto fell back to per step: the shards' common
				// part would no longer describe this shard's run.
				return 0, nil, fmt.Errorf("attack %s: %s; a sharded or resumed run keeps one PGD path: set suites.evasion.fuse to never", Prefix(pp.a.Key(), pp.a.Norm, pp.eps[0]), rt.fuse.reason)
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
	ps := passes(cfg)
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
	var outs []*outcome
	dfRuns := map[string]*mergedDeepFool{}
	hsjRuns := map[string]*hsjRun{}
	for p, pp := range ps {
		if pp.a.decision() {
			hr, x0, err := mergeHSJ(&tb, cfg, pp, results[(p+1)*nb:(p+2)*nb], correct)
			if err != nil {
				return nil, fmt.Errorf("evasion: %w", err)
			}
			hsjRuns[pp.a.Key()+"."+pp.a.Norm] = hr
			for _, e := range pp.eps {
				o := deepfoolOutcome(&tb, pp.a, e, hr.df, correct, cfg.SaveExamples)
				o.mode = "none"
				for _, ex := range o.examples {
					for q := range ex {
						ex[q].x0 = x0[ex[q].i]
					}
				}
				outs = append(outs, o)
			}
			continue
		}
		if pp.a.epsStar() {
			df, err := mergeDeepFool(&tb, cfg, pp, results[(p+1)*nb:(p+2)*nb], correct)
			if err != nil {
				return nil, fmt.Errorf("evasion: %w", err)
			}
			dfRuns[pp.a.Key()+"."+pp.a.Norm] = df
			for _, e := range pp.eps {
				outs = append(outs, deepfoolOutcome(&tb, pp.a, e, df.run, correct, cfg.SaveExamples))
				for _, ex := range outs[len(outs)-1].examples {
					for q := range ex {
						ex[q].x0 = df.x0[ex[q].i]
					}
				}
			}
			continue
		}
		eps := pp.eps[0]
		o := &outcome{a: pp.a, eps: eps, mode: cm.Mode, examples: make([][]example, nb)}
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
				return nil, fmt.Errorf("evasion: unit %d (%s, batch %d): the per-sample outcomes do not cover its %d samples", unit, Prefix(pp.a.Key(), pp.a.Norm, eps), b, m)
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
		outs = append(outs, o)
	}
	gc := gradChoice{mode: cm.GradMode, reason: cm.GradReason, fellBack: cm.FellBack, perBatch: cm.PerBatch, straightThrough: cm.Straight}
	fuse := fuseChoice{setting: cm.FuseSetting, fused: cm.Fused, reason: cm.FuseReason}
	res, err := finish(&tb, cfg, outs, correct, nCorrect, clean, gc, fuse, cm.How)
	if err != nil {
		return nil, err
	}
	labels := labelChoice{output: cm.LabelOutput, reason: cm.LabelReason}
	for _, a := range cfg.Attacks {
		if a.epsStar() {
			deepfoolSummary(res, &tb, a, dfRuns[a.Key()+"."+a.Norm].run, correct, nCorrect)
		}
		if a.decision() {
			hsjSummary(res, &tb, a, hsjRuns[a.Key()+"."+a.Norm], correct, nCorrect, labels)
			res.Details["decision"] = labels.details()
		}
	}
	if cfg.SaveExamples > 0 {
		if err := saveExamples(&tb, cfg, res, outs, cm.Shape); err != nil {
			return nil, err
		}
	}
	res.Details["batch"] = batchChoice{size: cm.Batch, source: cm.BatchSource}.details()
	return res, nil
}

// mergedDeepFool is a deepfool entry's run joined from its units, with
// the clean inputs of the samples saved as examples.
type mergedDeepFool struct {
	run *dfRun
	x0  map[int][]float32
}

// mergeDeepFool joins the units of a deepfool pass (one per batch) into
// the run deepfoolAll returns, holding the adversarial points of the
// samples saved as examples only.
func mergeDeepFool(t *suite.Target, cfg Config, pp pass, units []json.RawMessage, correct []bool) (*mergedDeepFool, error) {
	n, d := t.Data.N, t.Data.SampleSize()
	r := &dfRun{eps: make([]float64, 0, n), pred: make([]int, 0, n), queries: make([]int32, 0, n), zero: make([]bool, 0, n)}
	if cfg.SaveExamples > 0 {
		r.adv = make([]float32, n*d)
	}
	m := &mergedDeepFool{run: r, x0: map[int][]float32{}}
	for b, raw := range units {
		var u dfUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("%s.%s batch %d: %w", pp.a.Key(), pp.a.Norm, b, err)
		}
		lo, hi := t.BatchRange(b, n)
		if len(u.Eps) != hi-lo || len(u.Pred) != hi-lo || len(u.Queries) != hi-lo || len(u.Zero) != hi-lo {
			return nil, fmt.Errorf("%s.%s batch %d: the per-sample results do not cover its %d samples", pp.a.Key(), pp.a.Norm, b, hi-lo)
		}
		r.eps = append(r.eps, u.Eps...)
		for _, p := range u.Pred {
			r.pred = append(r.pred, int(p))
		}
		r.queries = append(r.queries, u.Queries...)
		r.zero = append(r.zero, u.Zero...)
		r.zeroGrad += u.ZeroGrad
		r.gradSeen += u.GradSeen
		for _, e := range u.Examples {
			if e.I < lo || e.I >= hi || len(e.X) != d || len(e.X0) != d || r.adv == nil {
				return nil, fmt.Errorf("%s.%s batch %d: example %d does not belong to it", pp.a.Key(), pp.a.Norm, b, e.I)
			}
			copy(r.adv[e.I*d:(e.I+1)*d], e.X)
			m.x0[e.I] = e.X0
		}
		for _, i := range dfExampleRows(pp.eps, r.eps, correct, lo, hi, cfg.SaveExamples) {
			if _, ok := m.x0[i]; !ok {
				return nil, fmt.Errorf("%s.%s batch %d: sample %d is saved as an example but its unit has no points for it", pp.a.Key(), pp.a.Norm, b, i)
			}
		}
	}
	return m, nil
}

// mergeHSJ joins the units of a hopskipjump pass (one per batch) into
// the run hsjAll returns, holding the adversarial points of the samples
// saved as examples only, and returns those samples' clean inputs.
func mergeHSJ(t *suite.Target, cfg Config, pp pass, units []json.RawMessage, correct []bool) (*hsjRun, map[int][]float32, error) {
	n, d := t.Data.N, t.Data.SampleSize()
	nbud := len(pp.a.Budgets)
	r := &hsjRun{norms: make([][]float64, nbud), last: make([][]float64, nbud),
		df: &dfRun{pred: make([]int, 0, n), queries: make([]int32, 0, n), zero: make([]bool, 0, n)}}
	if cfg.SaveExamples > 0 {
		r.df.adv = make([]float32, n*d)
	}
	x0 := map[int][]float32{}
	for b, raw := range units {
		var u hsjUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, nil, fmt.Errorf("%s.%s batch %d: %w", pp.a.Key(), pp.a.Norm, b, err)
		}
		lo, hi := t.BatchRange(b, n)
		m := hi - lo
		ok := len(u.Norms) == nbud && len(u.Last) == nbud && len(u.Pred) == m && len(u.Queries) == m && len(u.Zero) == m
		for bi := 0; ok && bi < nbud; bi++ {
			ok = len(u.Norms[bi]) == m && len(u.Last[bi]) == m
		}
		if !ok {
			return nil, nil, fmt.Errorf("%s.%s batch %d: the per-sample results do not cover its %d samples and %d budgets", pp.a.Key(), pp.a.Norm, b, m, nbud)
		}
		for bi := range nbud {
			r.norms[bi] = append(r.norms[bi], u.Norms[bi]...)
			r.last[bi] = append(r.last[bi], u.Last[bi]...)
		}
		for _, p := range u.Pred {
			r.df.pred = append(r.df.pred, int(p))
		}
		r.df.queries = append(r.df.queries, u.Queries...)
		r.df.zero = append(r.df.zero, u.Zero...)
		for _, e := range u.Examples {
			if e.I < lo || e.I >= hi || len(e.X) != d || len(e.X0) != d || r.df.adv == nil {
				return nil, nil, fmt.Errorf("%s.%s batch %d: example %d does not belong to it", pp.a.Key(), pp.a.Norm, b, e.I)
			}
			copy(r.df.adv[e.I*d:(e.I+1)*d], e.X)
			x0[e.I] = e.X0
		}
		for _, i := range dfExampleRows(pp.eps, r.norms[nbud-1], correct, lo, hi, cfg.SaveExamples) {
			if _, ok := x0[i]; !ok {
				return nil, nil, fmt.Errorf("%s.%s batch %d: sample %d is saved as an example but its unit has no points for it", pp.a.Key(), pp.a.Norm, b, i)
			}
		}
	}
	r.df.eps = r.norms[nbud-1]
	return r, x0, nil
}
