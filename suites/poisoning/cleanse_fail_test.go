package poisoning

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// TestCleanseGradientFailures: Neural Cleanse has no estimated-gradient
// variant, so a gradient graph the builder cannot write is an exit-2 error
// naming the node; a runner that cannot be made (here the second worker's)
// is the run's error. Nothing panics and the graph is closed afterwards.
func TestCleanseGradientFailures(t *testing.T) {
	tg := digitsTarget(t)
	tg.Pool = runtime.Pool{Workers: 2}
	cfg := CleanseConfig{Samples: 8, Steps: 2, LearningRate: 0.1, InitCost: 1e-3, Success: 0.99, Threshold: 2, Classes: []int{0, 1}}
	og, or := openGraph, newGraphRunner
	t.Cleanup(func() { openGraph, newGraphRunner = og, or })

	openGraph = func(*suite.Target) (*runtime.Graph, error) {
		return nil, fmt.Errorf("neural cleanse gradient graph: %w", errs.WithCode(errs.Invalid,
			&autodiff.UnsupportedError{Ops: []autodiff.UnsupportedOp{{Op: "Injected", Node: "injected_node"}}}))
	}
	_, err := runCleanse(context.Background(), tg, cfg, suite.NewResult())
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), `Injected (node "injected_node")`) {
		t.Fatalf("graph failure: got %v, want an exit-2 error naming the node", err)
	}

	var g *runtime.Graph
	openGraph = func(tg *suite.Target) (*runtime.Graph, error) {
		var err error
		g, err = og(tg)
		return g, err
	}
	calls := 0
	newGraphRunner = func(g *runtime.Graph, n int) (*runtime.GraphRunner, error) {
		calls++
		if calls == 2 {
			return nil, errors.New("injected runner failure")
		}
		return or(g, n)
	}
	if _, err := runCleanse(context.Background(), tg, cfg, suite.NewResult()); err == nil || !strings.Contains(err.Error(), "injected runner failure") {
		t.Fatalf("runner failure: got %v, want the runner's error", err)
	}
	if g == nil {
		t.Fatal("no graph opened")
	}
	if r, err := g.NewRunner(1); err == nil {
		r.Close()
		t.Error("graph left open")
	}
}

// TestCleanseNoRuleModel: on ../suites/evasion/testdata/no_rule.onnx (a
// Shrink node without a gradient rule) Neural Cleanse is exit 2 naming
// the node.
func TestCleanseNoRuleModel(t *testing.T) {
	const n = 6
	x := make([]float32, n*16)
	for i := range x {
		x[i] = float32(i%17) / 16
	}
	ds := &data.Dataset{X: x, N: n, SampleShape: []int{1, 4, 4}, Y: []int64{0, 1, 2, 0, 1, 2}}
	tg := suitetest.Open(t, filepath.Join(testutil.RepoRoot(t), "suites", "evasion", "testdata", "no_rule.onnx"), ds)
	tg = withSettings(t, tg)
	cfg := CleanseConfig{Samples: 4, Steps: 2, LearningRate: 0.1, InitCost: 1e-3, Success: 0.99, Threshold: 2}
	_, err := runCleanse(context.Background(), tg, cfg, suite.NewResult())
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), `Shrink (node "shrink")`) {
		t.Fatalf("got %v, want an exit-2 error naming Shrink (node \"shrink\")", err)
	}
}
