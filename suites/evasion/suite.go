package evasion

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Sanity thresholds (AutoAttack-style flags; docs/metrics/evasion.md).
const (
	// zeroGradWarn: warn when at least this share of attacked samples had
	// an all-zero gradient at their first point (gradient masking).
	zeroGradWarn = 0.01
	// saturatedProb: a probability output this close to 1 is saturated in
	// float32 (its softmax gradient is rounding noise).
	saturatedProb = 1 - 1e-6
	// noSignalShare: when at least this share of an attack's samples had
	// an all-zero estimated gradient at their first point, the attack found
	// no signal, and Square runs on those samples (squareFallback).
	noSignalShare = 0.5
)

// Suite is the evasion suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "evasion" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// perAttackKeys are the metric suffixes written for every attack, norm and eps.
func perAttackKeys(prefix string) []string {
	keys := suite.ProportionKeys(prefix + ".robust_accuracy")
	keys = append(keys, suite.ProportionKeys(prefix+".attack_success_rate")...)
	return append(keys, prefix+".mean_perturbation", prefix+".median_perturbation", prefix+".queries")
}

// Metrics implements suite.Suite.
func (Suite) Metrics(cfgAny any, _ int) []string {
	cfg := cfgAny.(Config)
	keys := suite.ProportionKeys("clean_accuracy")
	worst := map[string]bool{}
	var worstKeys []string
	for _, a := range cfg.Attacks {
		if a.epsStar() {
			keys = append(keys, deepfoolKeys(a.Key()+"."+a.Norm)...)
		}
		if a.decision() {
			keys = append(keys, hsjKeys(a.Key()+"."+a.Norm, a.Budgets)...)
		}
		for _, e := range a.Eps {
			keys = append(keys, perAttackKeys(Prefix(a.Key(), a.Norm, e))...)
			if a.whiteBox() {
				keys = append(keys, Prefix(a.Key(), a.Norm, e)+".zero_gradient_share")
			}
			if a.Name == AutoAttack {
				for _, part := range a.parts() {
					keys = append(keys, suite.ProportionKeys(afterPrefix(a.Key(), a.Norm, e, part)+".robust_accuracy")...)
				}
			}
			w := Prefix("worst", a.Norm, e)
			if !worst[w] {
				worst[w] = true
				worstKeys = append(worstKeys, suite.ProportionKeys(w+".robust_accuracy")...)
			}
		}
	}
	return append(append(keys, worstKeys...), byKeys(cfg)...)
}

// outcome is the result of one attack at one eps over the whole data.
type outcome struct {
	a        AttackConfig
	eps      float64
	mode     string // exact, estimated or none
	success  []bool
	robust   []bool
	queries  []int32
	pert     []float64 // perturbation norm of successful samples
	zeroGrad int
	gradSeen int
	zero     []bool      // per sample: the first gradient was all zero
	fallback *fallback   // Square run on the samples without gradient signal
	examples [][]example // per batch: the first successful samples
	adv      []float32   // n×d adversarial points (only with runners.keepAdv)
	// autoattack only: per sample, 1 + the part that broke it (0: none),
	// and n×numParts model evaluations spent by each part
	brokenBy    []int8
	partQueries []int32
	// done counts the samples of the batches that finished when the
	// attack was stopped (runtime.timeout); only that is set then.
	done int
}

type example struct {
	i    int
	pred int
	x    []float32
	// x0 is the clean sample when the example was read back from a
	// sharded run's units (a merge has no data); nil otherwise.
	x0 []float32
}

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	if err := s.check(t, cfg); err != nil {
		return nil, err
	}
	dim := t.Data.SampleSize()

	// the attack batch: on an out-of-memory error the whole run is
	// repeated at half the batch (results depend on the batch through the
	// per-batch random streams, so every attack runs at the same one)
	bc := attackBatch(t, cfg, dim)
	for {
		tb := *t
		tb.BatchSize = bc.size
		res, err := s.run(ctx, &tb, cfg)
		if err == nil {
			res.Details["batch"] = bc.details()
			if len(bc.halved) > 0 {
				res.Warnings = append(res.Warnings, fmt.Sprintf("evasion: out of memory at attack batch %v; ran at batch %d (set suites.evasion.batch_size to skip the retries)", bc.halved, bc.size))
			}
			return res, nil
		}
		if !isOOM(err) || bc.size == 1 || ctx.Err() != nil {
			return res, err // res: the partial figures of a timed-out run, else nil
		}
		bc.halved = append(bc.halved, bc.size)
		bc.size /= 2
	}
}

// check is Run's and RunShard's check of the data and the attacks
// against the model and data.range (errs.Invalid naming the key).
func (s Suite) check(t *suite.Target, cfg Config) error {
	ds := t.Data
	if ds.Y == nil {
		return errs.Invalidf("suite evasion needs labels: set data.y (NumPy) or data.label (CSV)")
	}
	n, dim, k := ds.N, ds.SampleSize(), t.Classes
	width := t.Range[1] - t.Range[0]
	if !(width > 0) {
		return errs.Invalidf("suite evasion needs data.range, the valid input domain (for example [0, 1]); it is unset or empty (%v)", t.Range)
	}
	for i, a := range cfg.Attacks {
		for _, e := range a.Eps {
			lim := width
			switch a.Norm {
			case L2:
				lim = width * math.Sqrt(float64(dim))
			case L1:
				lim = width * float64(dim)
			case L0:
				lim = float64(dim)
			}
			if e > lim {
				return errs.Invalidf("config suites.evasion.attacks[%d].eps %v: larger than the %s diameter %v of data.range [%v, %v]", i, e, a.Norm, lim, t.Range[0], t.Range[1])
			}
		}
		if a.Name == Square && a.Norm == L2 && !squareL2Fits(shapeParams(ds.SampleShape)) {
			return errs.Invalidf("config suites.evasion.attacks[%d]: L2 square needs image inputs ([C,H,W] or [H,W], H and W ≥ 3); the samples have shape %v", i, ds.SampleShape)
		}
		if a.Target != nil && *a.Target >= k {
			return errs.Invalidf("config suites.evasion.attacks[%d].target %d: the model has %d classes", i, *a.Target, k)
		}
		if a.Name == APGD && a.Loss == headDLR && !a.Targeted && k < 3 {
			return errs.Invalidf("config suites.evasion.attacks[%d].loss dlr: needs at least 3 classes, the model has %d", i, k)
		}
		if a.Name == APGD && a.Loss == headDLR && a.Targeted && k < 4 {
			return errs.Invalidf("config suites.evasion.attacks[%d].loss dlr: targeted DLR needs at least 4 classes, the model has %d; use loss: ce", i, k)
		}
	}
	if n == 0 {
		return errs.Invalidf("suite evasion: the data has no samples")
	}
	return s.CheckData(cfg, ds, k)
}

// run is Run at the attack batch t.BatchSize, after the config checks.
func (s Suite) run(ctx context.Context, t *suite.Target, cfg Config) (*suite.Result, error) {
	ds := t.Data
	n, dim, k := ds.N, ds.SampleSize(), t.Classes

	// one progress count over the clean pass and every attack: each pass
	// reports its batches after those of the passes before it
	runs := 1
	for _, a := range cfg.Attacks {
		if a.decision() {
			runs++ // one run; its eps are judged from its norms
			continue
		}
		runs += len(a.Eps)
	}
	nb := t.Batches(n)
	progress := func(pass int) func(done, total int) {
		p := t.Pool.Progress
		if p == nil {
			return nil
		}
		return func(done, _ int) { p(pass*nb+done, runs*nb) }
	}
	tc := *t
	tc.Pool.Progress = progress(0)

	// clean outputs
	clean := make([]float32, n*k)
	err := suite.ForEachBatch(ctx, &tc, ds, func(_, lo, hi int, out []float32) error {
		copy(clean[lo*k:hi*k], out[:(hi-lo)*k])
		return nil
	})
	if err != nil {
		return nil, err
	}
	correct, nCorrect := cleanCorrect(clean, ds.Y, k) // shard.go

	rt, gc, err := openRunners(t, cfg, dim, k)
	if err != nil {
		return nil, err
	}
	defer rt.close()

	var outs []*outcome
	pass := 1 // the progress pass of the next attack run
	for _, a := range cfg.Attacks {
		if a.decision() { // runs once; every eps is judged from its norms
			rt.progress = progress(pass)
			pass++
			if _, err := rt.hsjRun(ctx, t, a, clean, correct); err != nil {
				err = fmt.Errorf("attack %s.%s: %w", a.Key(), a.Norm, err)
				if !suite.TimedOut(ctx, err) {
					return nil, err
				}
				return timedOut(t, cfg, outs, correct, nCorrect, clean, nil, a.Key()+"."+a.Norm), err
			}
		}
		for _, e := range a.Eps {
			if !a.decision() {
				rt.progress = progress(pass)
				pass++
			}
			o, err := rt.attack(ctx, t, cfg, a, e, clean, correct)
			if err != nil {
				err = fmt.Errorf("attack %s: %w", Prefix(a.Key(), a.Norm, e), err)
				if !suite.TimedOut(ctx, err) {
					return nil, err
				}
				return timedOut(t, cfg, outs, correct, nCorrect, clean, o, Prefix(a.Key(), a.Norm, e)), err
			}
			outs = append(outs, o)
		}
	}
	res, err := finish(t, cfg, outs, correct, nCorrect, clean, gc, rt.fuse, probsHow(t)) // shard.go
	if err != nil {
		return nil, err
	}
	for _, a := range cfg.Attacks {
		if a.epsStar() {
			deepfoolSummary(res, t, a, rt.dfRuns[a.Key()+"."+a.Norm], correct, nCorrect)
		}
		if a.decision() {
			hsjSummary(res, t, a, rt.hsjRuns[a.Key()+"."+a.Norm], correct, nCorrect, rt.labels)
			res.Details["decision"] = rt.labels.details()
		}
	}
	if cfg.SaveExamples > 0 {
		if err := saveExamples(t, cfg, res, outs, ds.SampleShape); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// timedOut is the result of a run that runtime.timeout stopped during
// attack stopped: the clean figures and the attacks (at each eps) that
// finished, each over every sample, and details.timed_out naming them and
// how many samples the stopped attack had finished (o.done, when known).
func timedOut(t *suite.Target, cfg Config, outs []*outcome, correct []bool, nCorrect int, clean []float32, o *outcome, stopped string) *suite.Result {
	res := summarise(t, cfg, outs, correct, nCorrect)
	sanity(t, res, outs, clean)
	finished := make([]string, len(outs))
	for i, f := range outs {
		finished[i] = Prefix(f.a.Key(), f.a.Norm, f.eps)
	}
	extra := map[string]any{"attacks_finished": finished, "stopped_in": stopped}
	if o != nil {
		extra["stopped_in_samples"] = o.done
	}
	res.SetTimedOut(t.Data.N, t.Data.N, extra)
	return res
}

// attack runs one attack at one eps on every batch.
func (rt *runners) attack(ctx context.Context, t *suite.Target, cfg Config, a AttackConfig, eps float64, clean []float32, correct []bool) (*outcome, error) {
	if a.epsStar() {
		return rt.deepfoolAt(ctx, t, cfg, a, eps, clean, correct)
	}
	if a.decision() {
		return rt.hsjAt(ctx, t, cfg, a, eps, clean, correct)
	}
	ds := t.Data
	n, d, k := ds.N, ds.SampleSize(), t.Classes
	nb := t.Batches(n)
	o := &outcome{a: a, eps: eps, mode: rt.mode, success: make([]bool, n), robust: make([]bool, n),
		queries: make([]int32, n), pert: make([]float64, n), examples: make([][]example, nb), zero: make([]bool, n)}
	if a.Name == Square {
		o.mode = "none"
	}
	if a.Name == AutoAttack {
		o.brokenBy, o.partQueries = make([]int8, n), make([]int32, n*numParts)
	}
	pred := make([]int, n)
	if rt.keepAdv {
		o.adv = make([]float32, n*d)
	}
	xadv := make([][]float32, len(rt.works))
	for w := range xadv {
		xadv[w] = make([]float32, t.BatchSize*d)
	}
	zero := make([][2]int, nb)
	seed := suite.DeriveSeed(t.Seed, Prefix(a.Key(), a.Norm, eps))
	if rt.fuse.fused && fusable(a) && eps > 0 {
		if err := rt.openLoops(t, a, eps, pgdAlpha(a, eps)); err != nil {
			if rt.fuse.setting != FuseAuto {
				return nil, err
			}
			rt.fuse = fuseChoice{setting: FuseAuto, reason: "the fused loop is unavailable: " + err.Error()}
		} else {
			defer rt.closeLoops()
		}
	}
	var done atomic.Int64 // samples of the batches that finished
	err := rt.forBatches(ctx, t, n, func(ctx context.Context, wi, b, lo, hi int) error {
		w := rt.works[wi]
		j := &job{n: hi - lo, eps: eps, norm: a.Norm, x0: ds.X[lo*d : hi*d], y: ds.Y[lo:hi], correct: correct[lo:hi],
			clean: clean[lo*k : hi*k], success: o.success[lo:hi], pred: pred[lo:hi], queries: o.queries[lo:hi],
			xadv: xadv[wi][:(hi-lo)*d], zero: o.zero[lo:hi]}
		if o.brokenBy != nil {
			j.brokenBy, j.partQueries = o.brokenBy[lo:hi], o.partQueries[lo*numParts:hi*numParts]
		}
		w.begin(j)
		if eps > 0 {
			if err := rt.runOne(ctx, w, j, a, seed, b); err != nil {
				return err
			}
		}
		zero[b] = [2]int{j.zeroGrad, j.gradSeen}
		if o.adv != nil {
			copy(o.adv[lo*d:hi*d], j.xadv)
		}
		for i := 0; i < j.n; i++ {
			g := lo + i
			o.robust[g] = correct[g] && int64(j.pred[i]) == ds.Y[g]
			if !j.success[i] {
				continue
			}
			xa, x0 := j.xadv[i*d:(i+1)*d], j.x0[i*d:(i+1)*d]
			if a.Norm == L2 {
				o.pert[g] = distL2(xa, x0)
			} else {
				o.pert[g] = distLinf(xa, x0)
			}
			if len(o.examples[b]) < cfg.SaveExamples {
				o.examples[b] = append(o.examples[b], example{i: g, pred: j.pred[i], x: append([]float32(nil), xa...)})
			}
		}
		done.Add(int64(j.n))
		if rt.save != nil {
			return rt.save(o, b, lo, hi, zero[b])
		}
		return nil
	})
	if err != nil {
		return &outcome{a: a, eps: eps, done: int(done.Load())}, err
	}
	if rt.save != nil {
		return o, nil // a sharded run's batches, saved as they finished
	}
	for _, z := range zero {
		o.zeroGrad += z[0]
		o.gradSeen += z[1]
	}
	if rt.mode == ModeEstimated && a.whiteBox() && a.Name != AutoAttack && eps > 0 && o.gradSeen > 0 &&
		float64(o.zeroGrad) >= noSignalShare*float64(o.gradSeen) {
		if err := rt.squareFallback(ctx, t, cfg.SaveExamples, o, clean, correct, pred, xadv, seed); err != nil {
			return nil, fmt.Errorf("square fallback: %w", err)
		}
	}
	return o, nil
}

// runOne dispatches one batch of one attack. Each part of an ensemble
// draws from its own stream, so adding a part never shifts another's.
func (rt *runners) runOne(ctx context.Context, w *work, j *job, a AttackConfig, seed uint64, b int) error {
	rng := func(part string) *rand.Rand { return suite.BatchRand(suite.DeriveSeed(seed, part), b) }
	switch a.Name {
	case FGSM, PGD:
		r := rng(a.Name)
		targeted := a.Targeted
		if targeted {
			w.drawTargets(j, a.Target, r)
		}
		p := pgdParams{alpha: j.eps, steps: 1, restarts: 1, earlyStop: a.earlyStop(), targeted: targeted}
		if a.Name == PGD {
			p.steps, p.restarts, p.randomStart = a.Steps, a.Restarts, a.RandomStart
			p.alpha = pgdAlpha(a, j.eps)
		}
		return w.pgd(ctx, j, w.oracles[headCE], p, r)
	case APGD:
		o := w.oracles[a.heads(w.k)[0]]
		if !a.Targeted {
			return w.apgd(ctx, j, o, apgdParams{steps: a.Steps, restarts: a.Restarts}, rng("apgd"))
		}
		if a.Target != nil {
			w.drawTargets(j, a.Target, nil)
			return w.apgd(ctx, j, o, apgdParams{steps: a.Steps, restarts: a.Restarts, targeted: true, hitTarget: true}, rng("apgd-t"))
		}
		return w.apgdT(ctx, j, o, a.Steps, a.Restarts, a.TargetClasses, rng("apgd-t"))
	case Square:
		if a.Targeted {
			w.drawTargets(j, a.Target, rng("targets"))
		}
		if a.Norm == L2 {
			return w.squareL2(ctx, j, w.squareParams(a, a.Targeted), rng("square"))
		}
		return w.square(ctx, j, w.squareParams(a, a.Targeted), rng("square"))
	case FAB:
		o := w.oracles[headMarginT]
		if a.Targeted {
			return w.fabT(ctx, j, o, a.Steps, a.Restarts, a.TargetClasses, rng("fab-t"))
		}
		return w.fab(ctx, j, o, a.Steps, a.Restarts, false, rng("fab"))
	case AutoAttack:
		return w.autoAttack(ctx, j, a, rng)
	}
	return fmt.Errorf("unknown attack %q", a.Name)
}

// pgdAlpha is PGD's step size at eps: step_size, else 2.5·eps/steps.
func pgdAlpha(a AttackConfig, eps float64) float64 {
	if a.StepSize != nil {
		return *a.StepSize
	}
	return 2.5 * eps / float64(a.Steps)
}
