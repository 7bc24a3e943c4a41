package poisoning

import (
	"context"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gauntlet-ml/gauntlet/suite"
)

// classActivations returns n×d activations of one class: a Gaussian
// cloud with a 5% shifted sub-cluster (a stand-in for poisoned samples),
// seeded.
func classActivations(n, d int) *mat.Dense {
	rng := rand.New(rand.NewPCG(1, 2))
	a := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		shift := 0.0
		if i%20 == 0 {
			shift = 3
		}
		for j := 0; j < d; j++ {
			a.Set(i, j, rng.NormFloat64()+shift)
		}
	}
	return a
}

// BenchmarkActivationClustering is one class of the MNIST subset's size
// (885 samples of the 128-d penultimate layer): PCA to 10, 2-means with 10
// restarts, silhouette.
func BenchmarkActivationClustering(b *testing.B) {
	a := classActivations(885, 128)
	lab := make([]int, 885)
	for b.Loop() {
		red, _ := PCA(a, 10)
		KMeans2(lab, red, 10, rand.New(rand.NewPCG(3, 4)))
		Silhouette(red, lab)
	}
}

// BenchmarkFastICA reduces the same class to 10 independent components
// (reduce: ica), from a fixed start.
func BenchmarkFastICA(b *testing.B) {
	a := classActivations(885, 128)
	b.ReportAllocs()
	for b.Loop() {
		FastICA(a, 10, rand.New(rand.NewPCG(3, 4)))
	}
}

// BenchmarkSpectral scores the same class.
func BenchmarkSpectral(b *testing.B) {
	a := classActivations(885, 128)
	s := make([]float64, 885)
	for b.Loop() {
		SpectralScores(s, a, ScoreCentred)
	}
}

// BenchmarkSTRIP scores 64 digits eval inputs with 20 overlays each
// (1280 forward passes of the digits CNN).
func BenchmarkSTRIP(b *testing.B) {
	tg := digitsTarget(b)
	for b.Loop() {
		if _, err := stripEntropies(context.Background(), tg, tg.Data, 64, tg.Data.X[64*tg.Data.SampleSize():], 20, 0.5, STRIPScoreMean, 7, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNeuralCleanse reverse-engineers one class of the digits CNN:
// 64 inputs, 20 steps (each a forward and backward pass of the gradient
// graph over the batch).
func BenchmarkNeuralCleanse(b *testing.B) {
	tg := digitsTarget(b)
	cfg := CleanseConfig{Samples: 64, Steps: 20, LearningRate: 0.1, InitCost: 1e-3, Success: 0.99, Threshold: 2, Classes: []int{0}}
	for b.Loop() {
		if _, err := runCleanse(context.Background(), tg, cfg, suite.NewResult()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestApplyAllocs: applying a trigger allocates nothing (it runs once per
// sample).
func TestApplyAllocs(t *testing.T) {
	c, err := (&Trigger{Type: TriggerPatch, X: 25, Y: 25, Width: 3, Height: 3}).Compile("t", []int{1, 28, 28}, 0, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 784)
	dst := make([]float32, 784)
	if n := testing.AllocsPerRun(100, func() { c.Apply(dst, x) }); n != 0 {
		t.Errorf("Apply allocates %g times", n)
	}
}
