package evasion

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
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
		for _, e := range a.Eps {
			keys = append(keys, perAttackKeys(Prefix(a.Key(), a.Norm, e))...)
			if a.whiteBox() {
				keys = append(keys, Prefix(a.Key(), a.Norm, e)+".zero_gradient_share")
			}
			if a.Name == AutoAttack {
				for _, part := range autoAttackParts {
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
	return append(keys, worstKeys...)
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
}

type example struct {
	i    int
	pred int
	x    []float32
}

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	ds := t.Data
	if ds.Y == nil {
		return nil, errs.Invalidf("suite evasion needs labels: set data.y (NumPy) or data.label (CSV)")
	}
	n, dim, k := ds.N, ds.SampleSize(), t.Classes
	width := t.Range[1] - t.Range[0]
	if !(width > 0) {
		return nil, errs.Invalidf("suite evasion needs data.range, the valid input domain (for example [0, 1]); it is unset or empty (%v)", t.Range)
	}
	for i, a := range cfg.Attacks {
		for _, e := range a.Eps {
			lim := width
			if a.Norm == L2 {
				lim = width * math.Sqrt(float64(dim))
			}
			if e > lim {
				return nil, errs.Invalidf("config suites.evasion.attacks[%d].eps %v: larger than the %s diameter %v of data.range [%v, %v]", i, e, a.Norm, lim, t.Range[0], t.Range[1])
			}
		}
		if a.Name == Square && a.Norm == L2 && !squareL2Fits(shapeParams(ds.SampleShape)) {
			return nil, errs.Invalidf("config suites.evasion.attacks[%d]: L2 square needs image inputs ([C,H,W] or [H,W], H and W ≥ 3); the samples have shape %v", i, ds.SampleShape)
		}
		if a.Target != nil && *a.Target >= k {
			return nil, errs.Invalidf("config suites.evasion.attacks[%d].target %d: the model has %d classes", i, *a.Target, k)
		}
		if a.Name == APGD && a.Loss == headDLR && !a.Targeted && k < 3 {
			return nil, errs.Invalidf("config suites.evasion.attacks[%d].loss dlr: needs at least 3 classes, the model has %d", i, k)
		}
		if a.Name == APGD && a.Loss == headDLR && a.Targeted && k < 4 {
			return nil, errs.Invalidf("config suites.evasion.attacks[%d].loss dlr: targeted DLR needs at least 4 classes, the model has %d; use loss: ce", i, k)
		}
	}
	if n == 0 {
		return nil, errs.Invalidf("suite evasion: the data has no samples")
	}

	// one progress count over the clean pass and every attack: each pass
	// reports its batches after those of the passes before it
	runs := 1
	for _, a := range cfg.Attacks {
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
	correct := make([]bool, n)
	nCorrect := 0
	for i := range correct {
		correct[i] = int64(stats.Argmax(clean[i*k:(i+1)*k])) == ds.Y[i]
		if correct[i] {
			nCorrect++
		}
	}

	rt, gc, err := openRunners(t, cfg, dim, k)
	if err != nil {
		return nil, err
	}
	defer rt.close()

	var outs []*outcome
	for _, a := range cfg.Attacks {
		for _, e := range a.Eps {
			rt.progress = progress(1 + len(outs))
			o, err := rt.attack(ctx, t, cfg, a, e, clean, correct)
			if err != nil {
				return nil, fmt.Errorf("attack %s: %w", Prefix(a.Key(), a.Norm, e), err)
			}
			outs = append(outs, o)
		}
	}
	res := summarise(t, cfg, outs, correct, nCorrect)
	res.Details["gradient"] = gc.details()
	if gc.reason != "" && gc.fellBack {
		res.Warnings = append(res.Warnings, "evasion: gradient_mode auto: exact gradients are unavailable ("+gc.reason+"); the attacks ran on estimated (NES) gradients, which may overstate robustness")
	}
	sanity(t, res, outs, clean)
	if cfg.SaveExamples > 0 {
		if err := saveExamples(t, cfg, res, outs, ds.SampleShape); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// gradChoice is the gradient mode of a run and why it is not exact.
type gradChoice struct {
	mode   string // exact, estimated, or none (no attack uses gradients)
	reason string // why the mode is not exact ("" when it is)
	// fellBack: gradient_mode auto settled for estimated gradients.
	fellBack bool
	// perBatch: the exact graphs are specialised on each batch size (their
	// shape arithmetic reads it; grad.OpenTargetGraph).
	perBatch bool
}

// details is the report's details.gradient.
func (g gradChoice) details() map[string]any {
	d := map[string]any{"mode": g.mode}
	if g.reason != "" {
		d["reason"] = g.reason
	}
	if g.perBatch {
		d["per_batch_size"] = true
	}
	return d
}

// gradientMode decides from the config and the model's signature alone:
// none when no attack uses gradients, estimated when the config asks for
// it or when the model's input rules out gradient graphs (not float32, or
// a fixed batch size: the attacks run shrinking batches), else exact: the
// graphs are then built by openRunners, which may still fall back. Under
// gradient_mode exact a ruled-out input is an errs.Invalid error.
func gradientMode(t *suite.Target, cfg Config) (gradChoice, error) {
	need := false
	for _, a := range cfg.Attacks {
		need = need || a.whiteBox()
	}
	if !need {
		return gradChoice{mode: "none", reason: "no attack uses gradients"}, nil
	}
	if cfg.GradientMode == ModeEstimated {
		return gradChoice{mode: ModeEstimated, reason: "gradient_mode: estimated"}, nil
	}
	var why string
	if in := t.Session.Input(); in.Type != "float32" {
		why = fmt.Sprintf("its input %q is %s, gradient graphs are run on float32 inputs", in.Name, in.Type)
	} else if fb := t.Session.FixedBatch(); fb > 0 {
		why = fmt.Sprintf("its input %q has a fixed batch size %d", in.Name, fb)
	}
	if why == "" {
		return gradChoice{mode: ModeExact}, nil
	}
	if cfg.GradientMode == ModeExact {
		return gradChoice{}, errs.Invalidf("config suites.evasion.gradient_mode exact: the model has no exact gradients: %s; use gradient_mode: auto or estimated", why)
	}
	return gradChoice{mode: ModeEstimated, reason: "the model has no exact gradients: " + why, fellBack: true}, nil
}

// openRunners decides the gradient mode (gradientMode) and opens the
// runners. When the exact gradient graphs cannot be built or run, auto
// falls back to estimated gradients with the builder's error as the
// reason (it names the node and why), and exact is an errs.Invalid error
// naming the same. Other failures are returned as they are.
func openRunners(t *suite.Target, cfg Config, dim, k int) (*runners, gradChoice, error) {
	gc, err := gradientMode(t, cfg)
	if err != nil {
		return nil, gc, err
	}
	mode := gc.mode
	if mode == "none" {
		mode = ModeEstimated // no oracle is made: no head is needed
	}
	rt, err := newRunners(t, cfg, mode, dim, k)
	var ge *gradError
	if err == nil || mode != ModeExact || !errors.As(err, &ge) {
		if err == nil {
			for _, g := range rt.graphs {
				gc.perBatch = gc.perBatch || g.PerBatch()
			}
		}
		return rt, gc, err
	}
	if cfg.GradientMode == ModeExact {
		return nil, gc, errs.WithCode(errs.Invalid, fmt.Errorf("config suites.evasion.gradient_mode exact: the model has no exact gradients: %w; use gradient_mode: auto or estimated", ge.err))
	}
	gc = gradChoice{mode: ModeEstimated, reason: "the model has no exact gradients: " + ge.err.Error(), fellBack: true}
	rt, err = newRunners(t, cfg, ModeEstimated, dim, k)
	return rt, gc, err
}

// gradError marks a failure to build or run an exact gradient graph, which
// openRunners answers with a fallback (auto) or an errs.Invalid error
// (exact).
type gradError struct{ err error }

func (e *gradError) Error() string { return e.err.Error() }
func (e *gradError) Unwrap() error { return e.err }

// Test hooks: how newRunners opens a head's gradient graph and a runner of
// it. Tests replace them to inject failures at each point of the set-up.
var (
	openGraph      = buildGraph
	newGraphRunner = func(g *runtime.Graph, batch int) (*runtime.GraphRunner, error) { return g.NewRunner(batch) }
)

// runners holds the shared graphs and each worker's scratch and runners.
type runners struct {
	mode   string
	graphs map[string]*runtime.Graph
	works  []*work
	// progress replaces the pool's progress callback during attacks.
	progress func(done, total int)
	// keepAdv makes attack keep every sample's adversarial point in
	// outcome.adv (tests check the constraints on all of them).
	keepAdv bool
}

// newRunners opens the graphs (exact mode) and every worker's runners and
// oracles. On an error it closes whatever it opened and returns a nil
// *runners; failures of the gradient graphs are *gradError.
func newRunners(t *suite.Target, cfg Config, mode string, dim, k int) (*runners, error) {
	rt := &runners{mode: mode, graphs: map[string]*runtime.Graph{}}
	if err := rt.open(t, cfg, dim, k); err != nil {
		rt.close()
		return nil, err
	}
	return rt, nil
}

func (rt *runners) open(t *suite.Target, cfg Config, dim, k int) error {
	seen := map[string]bool{}
	var heads []string
	for _, a := range cfg.Attacks {
		for _, h := range a.heads(k) {
			if !seen[h] {
				seen[h] = true
				heads = append(heads, h)
			}
		}
	}
	sort.Strings(heads)
	if rt.mode == ModeExact {
		for _, h := range heads {
			g, err := openGraph(t, h)
			if err != nil {
				return &gradError{err}
			}
			rt.graphs[h] = g
		}
	}
	workers := max(1, min(t.Pool.Workers, t.Batches(t.Data.N)))
	probs := t.OutputKind == runtime.Probabilities
	rlo, rhi := up32(t.Range[0]), down32(t.Range[1])
	for range workers {
		w := newWork(dim, k, t.BatchSize, rlo, rhi, probs)
		w.shape = t.Data.SampleShape
		rt.works = append(rt.works, w)
		var err error
		if w.fwd, err = t.Session.NewRunner(t.BatchSize); err != nil {
			return err
		}
		for _, h := range heads {
			if rt.mode == ModeExact {
				r, err := newGraphRunner(rt.graphs[h], t.BatchSize)
				if err != nil {
					return &gradError{fmt.Errorf("gradient graph (%s loss): %w", h, err)}
				}
				nIn := 2
				if h == headDLRT {
					nIn = 3
				}
				w.oracles[h] = &exactOracle{r: r, nIn: nIn}
			} else {
				sigma := cfg.NESSigma * (t.Range[1] - t.Range[0])
				o, err := newNES(t.Session, t.BatchSize, dim, k, cfg.NESSamples, sigma, h, probs)
				if err != nil {
					return err
				}
				w.oracles[h] = o
			}
		}
	}
	return nil
}

// close closes every runner, then the graphs; it is safe on a nil or
// partly opened *runners.
func (rt *runners) close() {
	if rt == nil {
		return
	}
	for _, w := range rt.works {
		if w.fwd != nil {
			w.fwd.Close()
		}
		for _, o := range w.oracles {
			switch o := o.(type) {
			case *exactOracle:
				o.r.Close()
			case *nesOracle:
				o.fwd.Close()
			}
		}
	}
	for _, g := range rt.graphs {
		g.Close()
	}
	rt.works, rt.graphs = nil, nil
}

// attack runs one attack at one eps on every batch.
func (rt *runners) attack(ctx context.Context, t *suite.Target, cfg Config, a AttackConfig, eps float64, clean []float32, correct []bool) (*outcome, error) {
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
	pool := t.Pool
	pool.Workers = len(rt.works)
	if rt.progress != nil {
		pool.Progress = rt.progress
	}
	err := pool.Run(ctx, nb, func(ctx context.Context, wi, b int) error {
		w := rt.works[wi]
		lo, hi := t.BatchRange(b, n)
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
		return nil
	})
	if err != nil {
		return nil, err
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

// fallback records the Square attack run on an attack's samples without
// gradient signal.
type fallback struct {
	samples int     // samples attacked: still robust, first gradient all zero
	broken  int     // of those, broken by Square
	norm    string  // Square's norm and radius (L∞ at eps/√d stands in
	eps     float64 // for L2 on inputs that are not images)
}

// squareFallback runs Square (gradient-free, the default budget) at the
// attack's norm and eps on the samples whose estimated gradient was all
// zero at their first point and that the attack left robust, and folds its
// successes into the attack's outcome: its robust accuracy becomes the
// worst case of the attack and Square on those samples. A targeted attack
// that must hit its target keeps its targets (drawn again from the
// attack's own stream). For L2 on inputs that are not images (Square L2
// needs H, W ≥ 3), Square L∞ at eps/√d runs instead: its ball lies inside
// the L2 ball, so each of its successes is an L2 adversarial example.
// Square draws from the stream of a standalone untargeted square attack at
// the same norm and eps, so on a batch whose samples are all attacked it
// repeats that attack's run.
func (rt *runners) squareFallback(ctx context.Context, t *suite.Target, keep int, o *outcome, clean []float32, correct []bool, pred []int, xadv [][]float32, seed uint64) error {
	ds := t.Data
	n, d, k := ds.N, ds.SampleSize(), t.Classes
	a := o.a
	cand := make([]bool, n)
	fb := &fallback{norm: a.Norm, eps: o.eps}
	for i := range cand {
		cand[i] = correct[i] && !o.success[i] && o.zero[i]
		if cand[i] {
			fb.samples++
		}
	}
	o.fallback = fb
	if fb.samples == 0 {
		return nil
	}
	if a.Norm == L2 && !squareL2Fits(shapeParams(ds.SampleShape)) {
		fb.norm, fb.eps = Linf, o.eps/math.Sqrt(float64(d))
	}
	hitTarget := a.Targeted && !(a.Name == APGD && a.Target == nil)
	sq := AttackConfig{Name: Square, Norm: fb.norm, Queries: DefaultQueries, PInit: DefaultPInit}
	succ, pr, qs := make([]bool, n), make([]int, n), make([]int32, n)
	// the stream of a standalone square attack at this norm and eps
	fseed := suite.DeriveSeed(suite.DeriveSeed(t.Seed, Prefix(Square, fb.norm, fb.eps)), "square")
	pool := t.Pool
	pool.Workers, pool.Progress = len(rt.works), nil
	err := pool.Run(ctx, t.Batches(n), func(ctx context.Context, wi, b int) error {
		lo, hi := t.BatchRange(b, n)
		if !slices.Contains(cand[lo:hi], true) {
			return nil
		}
		w := rt.works[wi]
		j := &job{n: hi - lo, eps: fb.eps, norm: fb.norm, x0: ds.X[lo*d : hi*d], y: ds.Y[lo:hi], correct: cand[lo:hi],
			clean: clean[lo*k : hi*k], success: succ[lo:hi], pred: pr[lo:hi], queries: qs[lo:hi], xadv: xadv[wi][:(hi-lo)*d]}
		w.begin(j)
		if hitTarget {
			var r *rand.Rand
			if a.Name != APGD {
				r = suite.BatchRand(suite.DeriveSeed(seed, a.Name), b) // runOne's first draws
			}
			w.drawTargets(j, a.Target, r)
		}
		p := w.squareParams(sq, hitTarget)
		r := suite.BatchRand(fseed, b)
		var err error
		if fb.norm == L2 {
			err = w.squareL2(ctx, j, p, r)
		} else {
			err = w.square(ctx, j, p, r)
		}
		if err != nil {
			return err
		}
		for i := 0; i < j.n; i++ {
			g := lo + i
			if !cand[g] {
				continue
			}
			o.queries[g] += j.queries[i]
			if !j.success[i] {
				continue
			}
			o.success[g], o.robust[g], pred[g] = true, false, j.pred[i]
			xa, x0 := j.xadv[i*d:(i+1)*d], j.x0[i*d:(i+1)*d]
			if a.Norm == L2 {
				o.pert[g] = distL2(xa, x0)
			} else {
				o.pert[g] = distLinf(xa, x0)
			}
			if o.adv != nil {
				copy(o.adv[g*d:(g+1)*d], xa)
			}
			if len(o.examples[b]) < keep {
				o.examples[b] = append(o.examples[b], example{i: g, pred: j.pred[i], x: append([]float32(nil), xa...)})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for g := range cand {
		if cand[g] && succ[g] {
			fb.broken++
		}
	}
	return nil
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
			p.alpha = 2.5 * j.eps / float64(a.Steps)
			if a.StepSize != nil {
				p.alpha = *a.StepSize
			}
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
	case AutoAttack:
		return w.autoAttack(ctx, j, a, rng)
	}
	return fmt.Errorf("unknown attack %q", a.Name)
}

// apgdT runs APGD-T: targeted APGD towards each of the top-tc classes of
// the clean output in turn, on the samples still correctly classified; a
// sample falls as soon as it is misclassified.
func (w *work) apgdT(ctx context.Context, j *job, o oracle, steps, restarts, tc int, r *rand.Rand) error {
	for c := 1; c <= min(tc, w.k-1); c++ {
		for i := 0; i < j.n; i++ {
			w.tgt[i] = int64(rankClass(j.clean[i*w.k:(i+1)*w.k], c))
		}
		if err := w.apgd(ctx, j, o, apgdParams{steps: steps, restarts: restarts, targeted: true}, r); err != nil {
			return err
		}
	}
	return nil
}

// rankClass returns the class with the (c+1)-th largest output (c = 0:
// the arg max); ties go to the lower index.
func rankClass(row []float32, c int) int {
	for j := range row {
		above := 0
		for l, v := range row {
			if v > row[j] || (v == row[j] && l < j) {
				above++
			}
		}
		if above == c {
			return j
		}
	}
	return 0
}

// drawTargets fills w.tgt: the fixed target, or a class drawn uniformly
// among the k−1 others.
func (w *work) drawTargets(j *job, fixed *int, r *rand.Rand) {
	for i := 0; i < j.n; i++ {
		if fixed != nil {
			w.tgt[i] = int64(*fixed)
			continue
		}
		w.tgt[i] = (j.y[i] + 1 + int64(r.IntN(w.k-1))) % int64(w.k)
	}
}

// squareParams derives the image layout Square works on: [C,H,W], [H,W]
// or a flat row of values.
func (w *work) squareParams(a AttackConfig, targeted bool) squareParams {
	p := shapeParams(w.shape)
	p.queries, p.pInit, p.targeted = a.Queries, a.PInit, targeted
	return p
}

// shapeParams lays a sample out as channels × height × width.
func shapeParams(s []int) squareParams {
	p := squareParams{c: 1, h: 1, w: 1}
	switch len(s) {
	case 3:
		p.c, p.h, p.w = s[0], s[1], s[2]
	case 2:
		p.h, p.w = s[0], s[1]
	default:
		for _, v := range s {
			p.w *= v
		}
	}
	return p
}

// squareL2Fits reports whether the L2 Square attack's windows (at least
// 3×3) fit the layout.
func squareL2Fits(p squareParams) bool { return p.h >= 3 && p.w >= 3 }

// summarise computes the metrics and details.
func summarise(t *suite.Target, cfg Config, outs []*outcome, correct []bool, nCorrect int) *suite.Result {
	r := suite.NewResult()
	ds := t.Data
	n, k := ds.N, t.Classes
	level := t.ConfidenceLevel
	r.SetProportion("clean_accuracy", nCorrect, n, level)
	// Per-sample outcomes in the reports.PerSampleKey convention, so that
	// baselines can run McNemar tests on clean and robust correctness.
	outcomes := map[string]reports.Bits{"clean_correct": packBits(correct)}

	type worstAcc struct {
		norm   string
		eps    float64
		robust []bool
	}
	var worstOrder []string
	worst := map[string]*worstAcc{}
	var attacks []map[string]any
	modes := map[string]string{}
	curves := map[string][]map[string]any{}
	for _, o := range outs {
		a := o.a
		p := Prefix(a.Key(), a.Norm, o.eps)
		nRobust, nSucc := 0, 0
		var perts []float64
		var q int64
		nq := 0
		for i := 0; i < n; i++ {
			if o.robust[i] {
				nRobust++
			}
			if o.success[i] {
				nSucc++
				perts = append(perts, o.pert[i])
			}
			if correct[i] {
				q += int64(o.queries[i])
				nq++
			}
		}
		r.SetProportion(p+".robust_accuracy", nRobust, n, level)
		r.SetProportion(p+".attack_success_rate", nSucc, nCorrect, level)
		outcomes[p+".robust"] = packBits(o.robust)
		mean, median := meanMedian(perts)
		r.Set(p+".mean_perturbation", mean, len(perts) > 0)
		r.Set(p+".median_perturbation", median, len(perts) > 0)
		r.Set(p+".queries", float64(q)/float64(nq), nq > 0)
		if a.whiteBox() {
			r.Set(p+".zero_gradient_share", float64(o.zeroGrad)/float64(max(o.gradSeen, 1)), o.gradSeen > 0)
		}

		wk := Prefix("worst", a.Norm, o.eps)
		wa := worst[wk]
		if wa == nil {
			wa = &worstAcc{norm: a.Norm, eps: o.eps, robust: append([]bool(nil), correct...)}
			worst[wk] = wa
			worstOrder = append(worstOrder, wk)
		}
		for i, v := range o.robust {
			wa.robust[i] = wa.robust[i] && v
		}

		perClass := make([]any, k)
		sup := make([]int, k)
		rob := make([]int, k)
		for i := 0; i < n; i++ {
			sup[ds.Y[i]]++
			if o.robust[i] {
				rob[ds.Y[i]]++
			}
		}
		for c := range perClass {
			if sup[c] > 0 {
				perClass[c] = float64(rob[c]) / float64(sup[c])
			}
		}
		modes[a.Key()] = o.mode
		entry := map[string]any{
			"attack": a.Key(), "name": a.Name, "norm": a.Norm, "eps": o.eps, "gradient_mode": o.mode,
			"params":                    params(a),
			"robust_accuracy":           float64(nRobust) / float64(n),
			"successes":                 nSucc,
			"per_class_robust_accuracy": perClass,
			"robust":                    bits(o.robust),
		}
		if o.gradSeen > 0 {
			entry["zero_gradient_share"] = float64(o.zeroGrad) / float64(o.gradSeen)
		}
		if fb := o.fallback; fb != nil {
			entry["square_fallback"] = map[string]any{"samples": fb.samples, "broken": fb.broken, "norm": fb.norm, "eps": fb.eps,
				"queries": DefaultQueries, "p_init": DefaultPInit}
		}
		if o.brokenBy != nil {
			entry["parts"], entry["broken_by"] = autoAttackSummary(r, o, ds.SampleShape, correct, nCorrect, level)
		}
		attacks = append(attacks, entry)
		ck := a.Key() + "." + a.Norm
		curves[ck] = append(curves[ck], map[string]any{"eps": o.eps, "robust_accuracy": float64(nRobust) / float64(n)})
	}
	var worstDetails []map[string]any
	for _, wk := range worstOrder {
		wa := worst[wk]
		nr := 0
		for _, v := range wa.robust {
			if v {
				nr++
			}
		}
		r.SetProportion(wk+".robust_accuracy", nr, n, level)
		outcomes[wk+".robust"] = packBits(wa.robust)
		worstDetails = append(worstDetails, map[string]any{"norm": wa.norm, "eps": wa.eps,
			"robust_accuracy": float64(nr) / float64(n), "robust": bits(wa.robust)})
	}
	for ck, c := range curves {
		// Every curve starts at ε = 0, where robust accuracy is the clean
		// accuracy.
		hasZero := false
		for _, pt := range c {
			hasZero = hasZero || pt["eps"].(float64) == 0
		}
		if !hasZero {
			c = append(c, map[string]any{"eps": 0.0, "robust_accuracy": float64(nCorrect) / float64(n)})
		}
		sort.SliceStable(c, func(i, j int) bool { return c[i]["eps"].(float64) < c[j]["eps"].(float64) })
		curves[ck] = c
	}
	r.Details["samples"] = n
	r.Details[reports.PerSampleKey] = reports.PerSampleDetails(n, nil, outcomes)
	r.Details["clean_correct"] = bits(correct)
	r.Details["gradient_mode"] = modes
	r.Details["attacks"] = attacks
	r.Details["curves"] = curves
	r.Details["worst"] = worstDetails
	return r
}

// params lists an attack's effective parameters for the report.
func params(a AttackConfig) map[string]any {
	p := map[string]any{}
	switch a.Name {
	case PGD:
		p["step_size"], p["steps"], p["random_start"], p["restarts"] = "2.5·eps/steps", a.Steps, a.RandomStart, a.Restarts
		if a.StepSize != nil {
			p["step_size"] = *a.StepSize
		}
	case APGD:
		p["loss"], p["steps"], p["restarts"] = a.Loss, a.Steps, a.Restarts
		if a.Targeted {
			p["target_classes"] = a.TargetClasses
		}
	case Square:
		p["queries"], p["p_init"] = a.Queries, a.PInit
	case AutoAttack:
		p["steps"], p["restarts"], p["target_classes"], p["queries"], p["p_init"] = a.Steps, a.Restarts, a.TargetClasses, a.Queries, a.PInit
		parts := []string{"apgd-ce", "apgd-t", "square"}
		p["parts"] = parts
	}
	if a.Name != APGD && a.Name != AutoAttack {
		p["early_stop"] = a.earlyStop()
	}
	if a.Targeted {
		p["targeted"] = true
		if a.Target != nil {
			p["target"] = *a.Target
		} else if a.Name != APGD {
			p["target"] = "random"
		}
	}
	return p
}

// packBits packs flags into the reports.Bits of the per-sample convention.
func packBits(v []bool) reports.Bits {
	b := reports.NewBits(len(v))
	for i, f := range v {
		b.Set(i, f)
	}
	return b
}

// bits writes flags compactly: one '1' or '0' per sample.
func bits(v []bool) string {
	b := make([]byte, len(v))
	for i, f := range v {
		b[i] = '0'
		if f {
			b[i] = '1'
		}
	}
	return string(b)
}

func meanMedian(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return sum / float64(len(s)), stats.Median(s)
}

// sanity adds AutoAttack-style warnings, each with its figure.
func sanity(t *suite.Target, r *suite.Result, outs []*outcome, clean []float32) {
	var flags []map[string]any
	warn := func(kind, msg string, v float64) {
		r.Warnings = append(r.Warnings, "evasion: "+msg)
		flags = append(flags, map[string]any{"flag": kind, "message": msg, "value": v})
	}
	for _, o := range outs {
		if o.gradSeen == 0 {
			continue
		}
		share := float64(o.zeroGrad) / float64(o.gradSeen)
		if share >= zeroGradWarn {
			warn("zero_gradients", fmt.Sprintf("%s: %.1f%% of attacked samples (%d of %d) had an all-zero gradient at their first point; gradient-based results may overstate robustness (gradient masking)",
				Prefix(o.a.Key(), o.a.Norm, o.eps), 100*share, o.zeroGrad, o.gradSeen), share)
		}
	}
	for _, o := range outs {
		fb := o.fallback
		if fb == nil {
			continue
		}
		share := float64(o.zeroGrad) / float64(o.gradSeen)
		sq := "Square"
		if fb.norm != o.a.Norm {
			sq = fmt.Sprintf("Square L∞ at eps/√d = %.4g (inside the L2 ball; Square L2 needs image inputs)", fb.eps)
		}
		warn("square_fallback", fmt.Sprintf("%s: no gradient signal: the estimated gradient was all zero at the first point of %.1f%% of attacked samples (%d of %d); %s (gradient-free, %d queries) was run on the %d of them the attack left robust and broke %d: the robust accuracy is the worst case of both",
			Prefix(o.a.Key(), o.a.Norm, o.eps), 100*share, o.zeroGrad, o.gradSeen, sq, DefaultQueries, fb.samples, fb.broken), float64(fb.broken))
	}
	// within the autoattack preset: Square breaking what both APGD parts
	// missed
	for _, o := range outs {
		autoAttackSanity(o, warn)
	}
	// black-box beating white-box at the same norm and eps
	type group struct{ white, black []*outcome }
	groups := map[string]*group{}
	var order []string
	for _, o := range outs {
		if o.a.Targeted {
			continue
		}
		key := o.a.Norm + "/" + FormatEps(o.eps)
		g := groups[key]
		if g == nil {
			g = &group{}
			groups[key] = g
			order = append(order, key)
		}
		if o.a.Name == Square {
			g.black = append(g.black, o)
		} else if o.a.Name != AutoAttack {
			g.white = append(g.white, o)
		}
	}
	for _, key := range order {
		g := groups[key]
		// the strongest iterative white-box attack (FGSM is a single step
		// and is expected to lose to a query-based attack)
		var strong *outcome
		for _, wo := range g.white {
			if wo.a.Name != FGSM && (strong == nil || share(wo.robust) < share(strong.robust)) {
				strong = wo
			}
		}
		if strong == nil {
			continue
		}
		for _, b := range g.black {
			broke := 0
			for i := range b.robust {
				allWhite := true
				for _, wo := range g.white {
					allWhite = allWhite && wo.robust[i]
				}
				if !b.robust[i] && allWhite {
					broke++
				}
			}
			rb, rw := share(b.robust), share(strong.robust)
			if rb < rw {
				warn("black_box_beats_white_box", fmt.Sprintf("%s robust accuracy %.4g is below the strongest white-box attack %s's %.4g (%d samples fall to the black-box attack only); the gradients may be masked or the white-box attacks too weak",
					Prefix(b.a.Key(), b.a.Norm, b.eps), rb, Prefix(strong.a.Key(), strong.a.Norm, strong.eps), rw, broke), rw-rb)
			}
		}
	}
	if t.OutputKind == runtime.Probabilities {
		k := t.Classes
		sat := 0
		n := len(clean) / k
		for i := 0; i < n; i++ {
			row := clean[i*k : (i+1)*k]
			if float64(row[stats.Argmax(row)]) >= saturatedProb {
				sat++
			}
		}
		sh := float64(sat) / float64(max(n, 1))
		how := "the gradient graph differentiates −log p directly"
		if t.Model != nil && t.Model.LastOp(t.Session.Output().Name) == "Softmax" {
			how = "the gradient graph reads the logits before the final Softmax"
		}
		warn("probability_outputs", fmt.Sprintf("the model outputs probabilities: %.1f%% of clean samples (%d of %d) have a top probability ≥ 1−1e-6, where softmax saturation flattens gradients and margins (%s)",
			100*sh, sat, n, how), sh)
	}
	if flags != nil {
		r.Details["sanity"] = flags
	}
}

func share(v []bool) float64 {
	c := 0
	for _, f := range v {
		if f {
			c++
		}
	}
	return float64(c) / float64(max(len(v), 1))
}
