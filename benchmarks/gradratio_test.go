package benchmarks

import (
	"path/filepath"
	"testing"
	"time"
)

// TestGradMeasure runs OpenGrad and Measure on the runtime package's tiny
// MLP fixture: the gradient graph's loss must match the cross-entropy of
// the forward output (checked inside Measure), every repetition must be
// recorded, and the ratio must be the ratio of the medians. No timing is
// asserted.
func TestGradMeasure(t *testing.T) {
	testEnv(t)
	g, err := OpenGrad(filepath.Join("..", "runtime", "testdata", "mlp_logits.onnx"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	cfg := GradConfig{Batch: 16, Seed: 1, Warmup: 1, MinReps: 5, MaxReps: 5}
	res, err := g.Measure(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if len(res.Forward) != 5 || len(res.Grad) != 5 || res.Batch != 16 || res.Threads != 1 {
		t.Errorf("result %+v: want 5 repetitions at batch 16, 1 thread", res)
	}
	if !(res.ForwardMedian > 0) || !(res.GradMedian > 0) || res.Ratio != float64(res.GradMedian)/float64(res.ForwardMedian) {
		t.Errorf("medians %v %v, ratio %v", res.ForwardMedian, res.GradMedian, res.Ratio)
	}
	if len(res.ForwardCPU) != 5 || len(res.GradCPU) != 5 || !(res.GradCPUMedian > 0) ||
		(res.ForwardCPUMedian > 0 && res.CPURatio != float64(res.GradCPUMedian)/float64(res.ForwardCPUMedian)) {
		t.Errorf("process CPU times %v %v, ratio %v", res.ForwardCPU, res.GradCPU, res.CPURatio)
	}
	// MinTime keeps it repeating past MinReps, up to MaxReps.
	cfg.MinReps, cfg.MaxReps, cfg.MinTime = 1, 4, time.Hour
	if res, err = g.Measure(cfg); err != nil || len(res.Forward) != 4 {
		t.Errorf("MinTime 1h, MaxReps 4: %d repetitions, %v", len(res.Forward), err)
	}
	cfg.X = make([]float32, 15*g.Elements) // one sample short of a batch
	if _, err := g.Measure(cfg); err == nil {
		t.Error("Measure accepted 15 samples for a batch of 16")
	}
	if _, err := g.Measure(GradConfig{Batch: 16, MinReps: 2, MaxReps: 1}); err == nil {
		t.Error("Measure accepted MaxReps < MinReps")
	}
}

// TestCheckLoss: hand-computed cross-entropies. Logits (0, 0) at label 0:
// ln 2 = 0.693147; probabilities (0.25, 0.75) at label 1: −ln 0.75 =
// 0.287682.
func TestCheckLoss(t *testing.T) {
	z := []float32{0, 0, 0.25, 0.75}
	y := []int64{0, 1}
	if err := checkLoss(z, y, 2, []float32{0.693147, 0.287682}); err != nil {
		t.Error(err)
	}
	if err := checkLoss(z, y, 2, []float32{0.693147, 0.5}); err == nil {
		t.Error("a loss of 0.5 for sample 1 passed")
	}
	if err := checkLoss(z, y, 2, []float32{0.693147}); err == nil {
		t.Error("one loss for two samples passed")
	}
}

// TestMedian: odd and even counts, the input left unsorted.
func TestMedian(t *testing.T) {
	d := []time.Duration{3, 1, 2}
	if m := median(d); m != 2 || d[0] != 3 {
		t.Errorf("median(3,1,2) = %v, input %v", m, d)
	}
	if m := median([]time.Duration{4, 1, 3, 2}); m != 2 { // (2+3)/2 in integer nanoseconds
		t.Errorf("median(4,1,3,2) = %v, want 2", m)
	}
}
