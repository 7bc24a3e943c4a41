package train

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"testing"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// blobs returns n samples of 2×2 "images" in k well-separated Gaussian
// blobs (centre c has value 1 at pixel c mod 4), seeded.
func blobs(n, k int, seed uint64) ([]float32, []int64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n*4)
	y := make([]int64, n)
	for i := range y {
		c := rng.IntN(k)
		y[i] = int64(c)
		for j := 0; j < 4; j++ {
			v := 0.1 * rng.NormFloat64()
			if j == c%4 {
				v += 1
			}
			x[i*4+j] = float32(v)
		}
	}
	return x, y
}

// TestFitSeparable trains the three architectures on 4 separable blobs: the
// training accuracy must be 1 (the blobs are 10σ apart), and the same seed
// must give the same weights.
func TestFitSeparable(t *testing.T) {
	x, y := blobs(400, 4, 7)
	for _, arch := range []string{LogReg, MLP, CNN} {
		cfg := Config{Arch: arch, Hidden: 8, Filters: 4, Epochs: 20, Batch: 32, LearningRate: 0.01, Seed: 3}
		net, err := Fit(x, []int{1, 2, 2}, y, 4, cfg)
		if err != nil {
			t.Fatal(err)
		}
		z := make([]float64, 4)
		hid := make([]float64, net.ScratchSize())
		correct := 0
		for i := range y {
			net.Logits(z, x[i*4:(i+1)*4], hid)
			best := 0
			for c := range z {
				if z[c] > z[best] {
					best = c
				}
			}
			if int64(best) == y[i] {
				correct++
			}
		}
		if correct != len(y) {
			t.Errorf("%s: %d/%d correct on separable blobs", arch, correct, len(y))
		}
		again, _ := Fit(x, []int{1, 2, 2}, y, 4, cfg)
		for i := range net.W1 {
			if net.W1[i] != again.W1[i] {
				t.Fatalf("%s: same seed, different weights", arch)
			}
		}
	}
}

// TestONNXMatchesNet writes each kind of trained network as ONNX and runs it through
// ONNX Runtime: the logits must equal Net.Logits up to float32 rounding of
// the weights (tolerance 1e-4 on logits of order 10).
func TestONNXMatchesNet(t *testing.T) {
	x, y := blobs(200, 4, 9)
	env, err := runtime.Init(testutil.ORTLibrary(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{LogReg, MLP, CNN} {
		net, err := Fit(x, []int{1, 2, 2}, y, 4, Config{Arch: arch, Hidden: 8, Filters: 4, Epochs: 5, Batch: 16, LearningRate: 0.01, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		m, err := net.ONNX("input", []int{1, 2, 2})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), arch+".onnx")
		if err := m.Save(path); err != nil {
			t.Fatal(err)
		}
		sess, err := runtime.Open(env, path, runtime.Options{Device: cuda.Device{Kind: cuda.CPU}, IntraOpThreads: 1})
		if err != nil {
			t.Fatal(err)
		}
		r, err := sess.NewRunner(len(y))
		if err != nil {
			t.Fatal(err)
		}
		out, err := r.Run(context.Background(), x, len(y))
		if err != nil {
			t.Fatal(err)
		}
		z := make([]float64, 4)
		hid := make([]float64, net.ScratchSize())
		var worst float64
		for i := range y {
			net.Logits(z, x[i*4:(i+1)*4], hid)
			for c := range z {
				worst = max(worst, math.Abs(z[c]-float64(out[i*4+c])))
			}
		}
		r.Close()
		sess.Close()
		if worst > 1e-4 {
			t.Errorf("%s: ORT logits differ from the Go network by %g", arch, worst)
		}
	}
}

// TestFitTargetsDeterministic checks FitTargets: one-hot targets train the
// same weights as Fit's labels (bit for bit, as the one-hot rows are what
// Fit builds), soft targets train different ones, and a CNN trained with
// GOMAXPROCS 1 equals one trained with 4 (gorgonia's tape machine is
// sequential and gonum's parallel Dgemm gives each output block to one
// goroutine, so the sums keep their order: training is bit-reproducible
// whatever the worker count). These matrices are too small for gonum to
// split; suites/extraction's TestMNISTWorkers repeats the check at 28×28.
func TestFitTargetsDeterministic(t *testing.T) {
	x, y := blobs(200, 4, 11)
	oneHot := make([]float64, len(y)*4)
	soft := make([]float64, len(y)*4)
	for i, c := range y {
		oneHot[i*4+int(c)] = 1
		for j := 0; j < 4; j++ {
			soft[i*4+j] = 0.1
		}
		soft[i*4+int(c)] = 0.7
	}
	cfg := Config{Arch: CNN, Hidden: 8, Filters: 4, Epochs: 5, Batch: 16, LearningRate: 0.01, Seed: 9}
	a, err := Fit(x, []int{1, 2, 2}, y, 4, cfg)
	if err != nil {
		t.Fatal(err)
	}
	prev := goruntime.GOMAXPROCS(1)
	b, err := FitTargets(context.Background(), x, []int{1, 2, 2}, oneHot, 4, cfg)
	goruntime.GOMAXPROCS(prev)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.W1, b.W1) || !slices.Equal(a.Conv, b.Conv) || !slices.Equal(a.B2, b.B2) {
		t.Fatalf("one-hot FitTargets at GOMAXPROCS 1 differs from Fit at GOMAXPROCS %d", prev)
	}
	c, err := FitTargets(context.Background(), x, []int{1, 2, 2}, soft, 4, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a.W1, c.W1) {
		t.Fatal("soft targets trained the same weights as labels")
	}
	if _, err := FitTargets(context.Background(), x, []int{1, 2, 2}, soft[:7], 4, cfg); err == nil {
		t.Fatal("FitTargets took 7 target values for 4 classes")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := FitTargets(ctx, x, []int{1, 2, 2}, soft, 4, cfg); err != context.Canceled {
		t.Fatalf("FitTargets on a cancelled context: %v", err)
	}
	if _, err := Fit(x, []int{1, 2, 2}, append(slices.Clone(y[:len(y)-1]), 4), 4, cfg); err == nil {
		t.Fatal("Fit took label 4 of 4 classes")
	}
}
