package benchmarks

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"

	"github.com/gauntlet-ml/gauntlet/runtime"
)

func testEnv(t testing.TB) *runtime.Environment {
	t.Helper()
	p := testutil.ORTLibrary(t)
	env, err := runtime.Init(p)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// benchModel is the MNIST CNN from ../shared when present, else the
// runtime package's MLP fixture.
func benchModel(tb testing.TB) string {
	if p, ok := testutil.SharedIfPresent(tb, "fixtures/vision/mnist_cnn.onnx"); ok {
		return p
	}
	return filepath.Join("..", "runtime", "testdata", "mlp_logits.onnx")
}

// TestCompare runs Compare on the tiny MLP fixture: it must find the harness
// and bare outputs identical and report one throughput per round. No timing
// is asserted.
func TestCompare(t *testing.T) {
	env := testEnv(t)
	cfg := Config{Model: filepath.Join("..", "runtime", "testdata", "mlp_logits.onnx"), Samples: 64, Batch: 16, Workers: 2, Threads: 1, Rounds: 3, Passes: 1, Seed: 1}
	res, err := Compare(context.Background(), env, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Harness) != 3 || len(res.Bare) != 3 || !(res.Ratio > 0) || !(res.MedianRatio > 0) {
		t.Errorf("result %+v", res)
	}
	t.Log(res)
	if _, err := Compare(context.Background(), env, Config{Model: cfg.Model, Samples: 10, Batch: 16}); err == nil {
		t.Error("Compare accepted fewer samples than one batch")
	}
}

// BenchmarkHarnessVsBare reports harness/bare throughput on the MNIST CNN
// (2048 samples, batch 256, 2 workers × 1 intra-op thread, the auto split on
// 2 cores); each iteration is one round of one pass per side.
func BenchmarkHarnessVsBare(b *testing.B) {
	env := testEnv(b)
	cfg := Config{Model: benchModel(b), Samples: 2048, Batch: 256, Workers: 2, Threads: 1, Rounds: b.N, Passes: 1, Seed: 1}
	b.ResetTimer()
	res, err := Compare(context.Background(), env, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.Ratio, "harness/bare")
	b.ReportMetric(res.MedianRatio, "median-harness/bare")
}
