package evasion

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// gradChoice is the gradient mode of a run and why it is not exact.
type gradChoice struct {
	mode   string // exact, estimated, or none (no attack uses gradients)
	reason string // why the mode is not exact ("" when it is)
	// fellBack: gradient_mode auto settled for estimated gradients.
	fellBack bool
	// perBatch: the exact graphs are specialised on each batch size (their
	// shape arithmetic reads it; grad.OpenTargetGraph).
	perBatch bool
	// straightThrough lists the operators whose exact-path gradient is a
	// straight-through estimate (autodiff.StraightThroughOps: the
	// QuantizeLinear and DequantizeLinear of an INT8 QDQ model).
	straightThrough []string
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
	if len(g.straightThrough) > 0 {
		d["straight_through"] = g.straightThrough
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
	rt, gc, err := openRunnersMode(t, cfg, dim, k)
	if err == nil {
		rt.fuse = decideFuse(t, cfg, rt.mode)
		if err = rt.restrict(cfg, t.Data); err != nil {
			rt.close()
			return nil, gc, err
		}
	}
	return rt, gc, err
}

// openRunnersMode is openRunners before the fuse decision.
func openRunnersMode(t *suite.Target, cfg Config, dim, k int) (*runners, gradChoice, error) {
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
	if err == nil || mode != ModeExact || !errors.As(err, &ge) || isOOM(err) {
		if err == nil {
			for _, g := range rt.graphs {
				gc.perBatch = gc.perBatch || g.PerBatch()
			}
			if mode == ModeExact {
				gc.straightThrough = autodiff.StraightThroughOps(t.Model)
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
	// fuse is the PGD path (fused.go); loop the open fused graph of the
	// attack in progress (nil when per step).
	fuse fuseChoice
	loop *runtime.Graph
	// span, when set, restricts attack to the batches [span[0], span[1])
	// and save receives each batch's outcome as it finishes (a sharded
	// run's units, shard.go); attack then returns without the square
	// fallback, which needs every batch.
	span *[2]int
	save func(o *outcome, b, lo, hi int, zero [2]int) error
	// dfSave is save for a deepfool entry's batches (one pass whatever
	// its eps): it receives the run whose rows [lo, hi) batch b filled.
	dfSave func(r *dfRun, b, lo, hi int, zero [2]int) error
	// hsjSave is the same for a hopskipjump entry's batches.
	hsjSave func(r *hsjRun, b, lo, hi int) error
	// dfRuns holds each deepfool entry's run ("<key>.<norm>"), made at its
	// first eps (deepfool.go).
	dfRuns map[string]*dfRun
	// hsjRuns holds each hopskipjump entry's run ("<key>.<norm>"), and
	// labels where the decision-based attacks read labels (hsj.go,
	// decision.go).
	hsjRuns map[string]*hsjRun
	labels  labelChoice
}

// forBatches runs fn on rt's workers (with rt.progress) for every attack
// batch b of n samples, rows [lo, hi), or for a sharded run's batches
// only (rt.span); wi is the worker's index in rt.works.
func (rt *runners) forBatches(ctx context.Context, t *suite.Target, n int, fn func(ctx context.Context, wi, b, lo, hi int) error) error {
	pool := t.Pool
	pool.Workers = len(rt.works)
	if rt.progress != nil {
		pool.Progress = rt.progress
	}
	b0, b1 := 0, t.Batches(n)
	if rt.span != nil { // a sharded run's units (shard.go)
		b0, b1 = rt.span[0], rt.span[1]
	}
	return pool.Run(ctx, b1-b0, func(ctx context.Context, wi, b int) error {
		b += b0
		lo, hi := t.BatchRange(b, n)
		return fn(ctx, wi, b, lo, hi)
	})
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
				if twoLabelHead(h) {
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
	var err error
	if rt.labels, err = chooseLabels(t, cfg); err != nil {
		return err
	}
	for _, a := range cfg.Attacks {
		if !a.decision() {
			continue
		}
		for _, w := range rt.works {
			if w.dc, err = newDecider(rt.labels, t.Session, decisionRows(t.BatchSize, dim), dim, k); err != nil {
				return err
			}
		}
		break
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
		w.dc.close()
	}
	if rt.labels.graph != nil {
		rt.labels.graph.Close()
	}
	rt.closeLoops()
	for _, g := range rt.graphs {
		g.Close()
	}
	rt.works, rt.graphs = nil, nil
}
