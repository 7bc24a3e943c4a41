package learn

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkFitMLPAdultSize fits the attack network on 12048 rows of 48
// features (one training fold of the Adult attribute attack).
func BenchmarkFitMLPAdultSize(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	n, d := 12048, 48
	x := make([]float64, n*d)
	y := make([]int, n)
	rows := make([]int, n)
	for i := range y {
		for j := 0; j < d; j++ {
			x[i*d+j] = rng.NormFloat64()
		}
		if x[i*d] > 0 {
			y[i] = 1
		}
		rows[i] = i
	}
	for b.Loop() {
		if _, err := FitMLP(x, d, y, 2, rows, DefaultMLP, 1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFitLogisticAdultSize is the same fold with the logistic model.
func BenchmarkFitLogisticAdultSize(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	n, d := 12048, 48
	x := make([]float64, n*d)
	y := make([]int, n)
	rows := make([]int, n)
	for i := range y {
		for j := 0; j < d; j++ {
			x[i*d+j] = rng.NormFloat64()
		}
		if x[i*d] > 0 {
			y[i] = 1
		}
		rows[i] = i
	}
	for b.Loop() {
		if _, err := Fit(x, d, y, 2, rows, DefaultL2); err != nil {
			b.Fatal(err)
		}
	}
}
