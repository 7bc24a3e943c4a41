package stats

import (
	"math"
	"testing"
)

// Expected values come from the interval's defining equations, not from
// another implementation: closed forms where they exist (k=0 gives
// hi = 1 − (α/2)^(1/n); k=n gives lo = (α/2)^(1/n)), symmetry, and the
// binomial tail identities P(X ≤ k | hi) = P(X ≥ k | lo) = α/2.
const cpTol = 1e-9 // the Beta quantile is solved numerically by gonum

func TestClopperPearsonClosedForms(t *testing.T) {
	n := 20
	_, hi, _ := ClopperPearson(0, n, 0.95)
	if want := 1 - math.Pow(0.025, 1/float64(n)); math.Abs(hi-want) > cpTol {
		t.Errorf("k=0 hi = %.12f, want %.12f", hi, want)
	}
	lo, hi, _ := ClopperPearson(n, n, 0.95)
	if want := math.Pow(0.025, 1/float64(n)); math.Abs(lo-want) > cpTol || hi != 1 {
		t.Errorf("k=n lo = %.12f hi = %v, want %.12f 1", lo, hi, want)
	}
	// Symmetry: the interval for n−k is the mirror of the one for k.
	lo1, hi1, _ := ClopperPearson(7, 30, 0.9)
	lo2, hi2, _ := ClopperPearson(23, 30, 0.9)
	if math.Abs(lo1-(1-hi2)) > cpTol || math.Abs(hi1-(1-lo2)) > cpTol {
		t.Errorf("not symmetric: [%v %v] vs [%v %v]", lo1, hi1, lo2, hi2)
	}
	// Coverage identity: at p = hi, P(X ≤ k) = α/2 (the defining equation).
	lo, hi, _ = ClopperPearson(5, 50, 0.95)
	if cdf := binomCDF(5, 50, hi); math.Abs(cdf-0.025) > 1e-9 {
		t.Errorf("P(X≤5 | p=hi) = %v, want 0.025", cdf)
	}
	if sf := 1 - binomCDF(4, 50, lo); math.Abs(sf-0.025) > 1e-9 {
		t.Errorf("P(X≥5 | p=lo) = %v, want 0.025", sf)
	}
	if _, _, ok := ClopperPearson(0, 0, 0.95); ok {
		t.Error("n=0 gave an interval")
	}
}

// binomCDF is P(X ≤ k) for X ~ Binomial(n, p), summed in log space.
func binomCDF(k, n int, p float64) float64 {
	var s float64
	for i := 0; i <= k; i++ {
		lg := lgamma(n+1) - lgamma(i+1) - lgamma(n-i+1)
		s += math.Exp(lg + float64(i)*math.Log(p) + float64(n-i)*math.Log1p(-p))
	}
	return s
}

func lgamma(x int) float64 { v, _ := math.Lgamma(float64(x)); return v }

func TestPercentileCI(t *testing.T) {
	// NaNs are dropped; the rest sorted is [1,2,3,4], whose numpy
	// percentiles 2.5 and 97.5 are 1.075 and 3.925 (see TestQuantile).
	lo, hi, n := PercentileCI([]float64{4, math.NaN(), 1, 3, 2}, 0.95)
	if n != 4 || math.Abs(lo-1.075) > handTol || math.Abs(hi-3.925) > handTol {
		t.Errorf("PercentileCI = %v, %v, %d", lo, hi, n)
	}
	lo, hi, n = PercentileCI([]float64{math.NaN()}, 0.95)
	if n != 0 || !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("all NaN: %v, %v, %d", lo, hi, n)
	}
}
