package inversion

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// digitsTarget opens the demo CNN on the first 40 digits evaluation images.
func digitsTarget(t *testing.T) *suite.Target {
	t.Helper()
	ds, err := data.Load(data.Spec{X: "digits_eval_x.npy", Y: "digits_eval_y.npy"}, testutil.Example(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	return target(t, testutil.Example(t, "digits_cnn.onnx"), ds, "")
}

// TestGradientBuildFailures injects failures into the exact set-up: the
// graph (as the builder fails on an operator without a gradient rule) and
// the runner of a batch. A graph failure falls back to NES under auto,
// with the reason in details.gradient_reason and a warning, giving the
// results of gradient: estimated (same estimator and seeds), and is an
// exit-2 error naming the node under exact; a runner failure is the run's
// error. Nothing panics and the graph is closed after every run.
func TestGradientBuildFailures(t *testing.T) {
	tg := digitsTarget(t)
	tg.BatchSize, tg.Pool = 2, runtime.Pool{Workers: 2}
	raw := func(mode string) map[string]any {
		return map[string]any{"steps": 3, "learning_rate": 0.1, "gradient": mode, "nes_pairs": 2, "classes": []any{0, 1, 7}}
	}
	og, or := openGraph, newGraphRunner
	t.Cleanup(func() { openGraph, newGraphRunner = og, or })
	bad := fmt.Errorf("inversion gradient graph: %w", errs.WithCode(errs.Invalid,
		&autodiff.UnsupportedError{Ops: []autodiff.UnsupportedOp{{Op: "Injected", Node: "injected_node"}}}))
	openGraph = func(*suite.Target) (*runtime.Graph, error) { return nil, bad }
	_, err := Suite{}.Run(context.Background(), tg, decodeCfg(t, raw(GradExact)))
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), `Injected (node "injected_node")`) {
		t.Fatalf("gradient exact: got %v, want an exit-2 error naming the node", err)
	}
	auto := run(t, tg, raw(GradAuto))
	if auto.Details["gradient"] != GradEstimated || !strings.Contains(fmt.Sprint(auto.Details["gradient_reason"]), `Injected (node "injected_node")`) {
		t.Errorf("gradient %v, reason %v: want estimated with the builder's reason", auto.Details["gradient"], auto.Details["gradient_reason"])
	}
	if !strings.Contains(strings.Join(auto.Warnings, "\n"), "injected_node") {
		t.Errorf("warnings %q do not name the node", auto.Warnings)
	}
	est := run(t, tg, raw(GradEstimated))
	if !reflect.DeepEqual(auto.Metrics, est.Metrics) {
		t.Errorf("auto's metrics differ from estimated's:\n%v\n%v", auto.Metrics, est.Metrics)
	}

	// the second runner (the second batch of classes) fails
	var graphs []*runtime.Graph
	openGraph = func(tg *suite.Target) (*runtime.Graph, error) {
		g, err := og(tg)
		if g != nil {
			graphs = append(graphs, g)
		}
		return g, err
	}
	// Two workers open their runners concurrently: the count is atomic so
	// that exactly one of them sees 2 (a plain int raced, and both could
	// read 1).
	var calls atomic.Int32
	newGraphRunner = func(g *runtime.Graph, n int) (*runtime.GraphRunner, error) {
		if calls.Add(1) == 2 {
			return nil, errors.New("injected runner failure")
		}
		return or(g, n)
	}
	for _, mode := range []string{GradAuto, GradExact} {
		calls.Store(0)
		if _, err := (Suite{}).Run(context.Background(), tg, decodeCfg(t, raw(mode))); err == nil || !strings.Contains(err.Error(), "injected runner failure") {
			t.Errorf("gradient %s, runner failure: got %v, want the runner's error", mode, err)
		}
	}
	if len(graphs) != 2 {
		t.Fatalf("%d graphs opened, want 2", len(graphs))
	}
	for i, g := range graphs {
		if r, err := g.NewRunner(1); err == nil {
			r.Close()
			t.Errorf("graph %d left open", i)
		}
	}
}

// TestNoRuleModel: on ../evasion/testdata/no_rule.onnx (a Shrink node
// without a gradient rule) auto inverts with NES and says why; exact is
// exit 2 naming the node.
func TestNoRuleModel(t *testing.T) {
	const n = 6
	x := make([]float32, n*16)
	for i := range x {
		x[i] = float32(i%17) / 16 // a fixed pattern in [0, 1]
	}
	ds := &data.Dataset{X: x, N: n, SampleShape: []int{1, 4, 4}, Y: []int64{0, 1, 2, 0, 1, 2}}
	tg := target(t, filepath.Join(testutil.RepoRoot(t), "suites", "evasion", "testdata", "no_rule.onnx"), ds, "")
	raw := func(mode string) map[string]any {
		return map[string]any{"steps": 5, "learning_rate": 0.1, "gradient": mode, "nes_pairs": 2}
	}
	_, err := Suite{}.Run(context.Background(), tg, decodeCfg(t, raw(GradExact)))
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), `Shrink (node "shrink")`) {
		t.Fatalf("gradient exact: got %v, want an exit-2 error naming Shrink (node \"shrink\")", err)
	}
	res := run(t, tg, raw(GradAuto))
	if res.Details["gradient"] != GradEstimated || !strings.Contains(fmt.Sprint(res.Details["gradient_reason"]), `no gradient rule for 1 node(s): Shrink (node "shrink")`) {
		t.Errorf("gradient %v, reason %v: want estimated with the builder's reason", res.Details["gradient"], res.Details["gradient_reason"])
	}
}

// decodeCfg decodes raw; an error is fatal.
func decodeCfg(t *testing.T, raw map[string]any) any {
	t.Helper()
	cfg, err := Suite{}.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
