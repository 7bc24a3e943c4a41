package evasion

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// hookRecorder replaces openGraph and newGraphRunner for one test: the
// failGraph-th graph (1-based; 0: none) and the failRunner-th graph runner
// fail with the error the real builder gives for an operator without a
// gradient rule, or a runner error. It keeps every graph it opened, so the
// test can check they were all closed.
type hookRecorder struct {
	failGraph, failRunner int
	graphs                []*runtime.Graph
	nGraph, nRunner       int
}

// injected is the builder's error for a node without a gradient rule, as
// autodiff.BuildNamed returns it (errs.Invalid around *UnsupportedError).
func injected() error {
	return fmt.Errorf("gradient graph (ce loss): %w", errs.WithCode(errs.Invalid,
		&autodiff.UnsupportedError{Ops: []autodiff.UnsupportedOp{{Op: "Injected", Node: "injected_node"}}}))
}

func (h *hookRecorder) install(t *testing.T) {
	og, or := openGraph, newGraphRunner
	t.Cleanup(func() { openGraph, newGraphRunner = og, or })
	openGraph = func(tg *suite.Target, head string) (*runtime.Graph, error) {
		h.nGraph++
		if h.nGraph == h.failGraph {
			return nil, injected()
		}
		g, err := og(tg, head)
		if g != nil {
			h.graphs = append(h.graphs, g)
		}
		return g, err
	}
	newGraphRunner = func(g *runtime.Graph, batch int) (*runtime.GraphRunner, error) {
		h.nRunner++
		if h.nRunner == h.failRunner {
			return nil, errors.New("injected runner failure")
		}
		return or(g, batch)
	}
}

// checkClosed fails the test for every recorded graph still open: a
// closed graph refuses new runners.
func (h *hookRecorder) checkClosed(t *testing.T) {
	t.Helper()
	for i, g := range h.graphs {
		if r, err := g.NewRunner(1); err == nil {
			r.Close()
			t.Errorf("graph %d of %d left open", i+1, len(h.graphs))
		}
	}
}

// TestGradientBuildFailures injects a failure at every point of the
// exact set-up (first graph, second head's graph, first and a later
// runner): auto falls back to estimated gradients with the failure as the
// reason, exact is an exit-2 error naming it, nothing panics and no graph
// stays open. The config uses two heads (ce for pgd, dlr for apgd) and two
// workers, so runner 3 is the first runner of the second worker.
func TestGradientBuildFailures(t *testing.T) {
	tg := digits(t, "digits_cnn.onnx", 2, 4)
	sub := *tg.Data
	sub.N, sub.X, sub.Y = 8, tg.Data.X[:8*tg.Data.SampleSize()], tg.Data.Y[:8]
	tg.Data = &sub
	raw := func(mode string) map[string]any {
		return map[string]any{"gradient_mode": mode, "nes_samples": 2, "attacks": []any{
			map[string]any{"name": "pgd", "eps": []any{0.1}, "steps": 2},
			map[string]any{"name": "apgd", "loss": "dlr", "eps": []any{0.1}, "steps": 2}}}
	}
	points := []struct {
		name        string
		graph, run  int
		wantInError string
	}{
		{"first graph", 1, 0, `Injected (node "injected_node")`},
		{"second head's graph", 2, 0, `Injected (node "injected_node")`},
		{"first runner", 0, 1, "injected runner failure"},
		{"second worker's runner", 0, 3, "injected runner failure"},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			h := &hookRecorder{failGraph: p.graph, failRunner: p.run}
			h.install(t)
			_, err := Suite{}.Run(context.Background(), tg, decode(t, raw(ModeExact)))
			if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), p.wantInError) {
				t.Fatalf("gradient_mode exact: got %v, want an exit-2 error containing %q", err, p.wantInError)
			}
			h.checkClosed(t)

			h2 := &hookRecorder{failGraph: p.graph, failRunner: p.run}
			h2.install(t)
			res, err := Suite{}.Run(context.Background(), tg, decode(t, raw(ModeAuto)))
			if err != nil {
				t.Fatalf("gradient_mode auto: %v", err)
			}
			h2.checkClosed(t)
			g := res.Details["gradient"].(map[string]any)
			if g["mode"] != ModeEstimated || !strings.Contains(g["reason"].(string), p.wantInError) {
				t.Errorf("details.gradient %v, want estimated with a reason containing %q", g, p.wantInError)
			}
			if !strings.Contains(strings.Join(res.Warnings, "\n"), p.wantInError) {
				t.Errorf("warnings %q do not give the reason", res.Warnings)
			}
		})
	}
	// without a failure the same set-up is exact, and all four graphs'
	// runners and both graphs are closed after the run
	h := &hookRecorder{}
	h.install(t)
	res, err := Suite{}.Run(context.Background(), tg, decode(t, raw(ModeAuto)))
	if err != nil {
		t.Fatal(err)
	}
	if g := res.Details["gradient"].(map[string]any); g["mode"] != ModeExact || g["reason"] != nil {
		t.Errorf("details.gradient %v, want exact without a reason", g)
	}
	if len(h.graphs) != 2 || h.nRunner != 4 {
		t.Errorf("opened %d graphs and %d runners, want 2 (ce, dlr) and 4 (2 workers × 2 heads)", len(h.graphs), h.nRunner)
	}
	h.checkClosed(t)
}

// noRuleTarget opens testdata/no_rule.onnx (its Shrink node has no
// gradient rule; testdata/gen_fixtures.py) on 16 uniform samples in
// [0, 1), labelled with the model's own predictions.
func noRuleTarget(t *testing.T) *suite.Target {
	t.Helper()
	tg := suitetest.Open(t, filepath.Join("testdata", "no_rule.onnx"), nil)
	bad := autodiff.Unsupported(tg.Model)
	if len(bad) != 1 || bad[0].Op != "Shrink" || bad[0].Node != "shrink" {
		t.Fatalf("autodiff.Unsupported = %v; the fixture needs exactly one node without a gradient rule: if Shrink gained a rule, regenerate testdata/no_rule.onnx with another operator", bad)
	}
	const n = 16
	d, k := tg.Session.SampleSize(), tg.Classes
	rng := rand.New(rand.NewPCG(21, 22))
	x := make([]float32, n*d)
	for i := range x {
		x[i] = rng.Float32()
	}
	tg.Data = &data.Dataset{X: x, N: n, SampleShape: []int{1, 4, 4}, Y: ownLabels(t, tg.Session, x, n, k)}
	return withSettings(t, tg, 2, 4)
}

// TestNoRuleModel: on a model with an operator autodiff has no rule for,
// the gradient graph fails to build; auto runs on estimated gradients with
// the builder's reason in details.gradient and the warnings, and gives the
// very results of gradient_mode estimated (the same estimator and seeds);
// exact is an exit-2 error naming the node.
func TestNoRuleModel(t *testing.T) {
	tg := noRuleTarget(t)
	raw := func(mode string) map[string]any {
		return map[string]any{"gradient_mode": mode, "nes_samples": 10, "attacks": []any{
			map[string]any{"name": "pgd", "eps": []any{0.5}, "steps": 10},
			map[string]any{"name": "apgd", "eps": []any{0.5}, "steps": 10}}}
	}
	_, err := Suite{}.Run(context.Background(), tg, decode(t, raw(ModeExact)))
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), `Shrink (node "shrink")`) {
		t.Fatalf("gradient_mode exact: got %v, want an exit-2 error naming Shrink (node \"shrink\")", err)
	}
	auto := suitetest.Run(t, Suite{}, tg, raw(ModeAuto))
	g := auto.Details["gradient"].(map[string]any)
	if g["mode"] != ModeEstimated || !strings.Contains(g["reason"].(string), `no gradient rule for 1 node(s): Shrink (node "shrink")`) {
		t.Errorf("details.gradient %v, want estimated with the builder's reason", g)
	}
	if !strings.Contains(strings.Join(auto.Warnings, "\n"), `Shrink (node "shrink")`) {
		t.Errorf("warnings %q do not name the node", auto.Warnings)
	}
	est := suitetest.Run(t, Suite{}, tg, raw(ModeEstimated))
	if !reflect.DeepEqual(auto.Metrics, est.Metrics) {
		t.Errorf("auto's metrics differ from estimated's:\n%v\n%v", auto.Metrics, est.Metrics)
	}
	if eg := est.Details["gradient"].(map[string]any); eg["mode"] != ModeEstimated || eg["reason"] != "gradient_mode: estimated" {
		t.Errorf("estimated: details.gradient %v", eg)
	}
}
