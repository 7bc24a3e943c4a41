package stats

import (
	"math"
	"slices"
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

// bcaTol bounds the gap to stats/testdata/bca_reference.py (Python's
// statistics.NormalDist against gonum's normal CDF and quantile, a few ulps
// each, carried through a quantile interpolation).
const bcaTol = 1e-12

// bcaReps are the 20 replicates of bca_reference.py.
var bcaReps = []float64{0.31, 0.45, 0.22, 0.38, 0.30, 0.52, 0.41, 0.36, 0.29, 0.47,
	0.33, 0.30, 0.58, 0.44, 0.27, 0.39, 0.35, 0.61, 0.42, 0.34}

func TestBCaCI(t *testing.T) {
	// Expected values: stats/testdata/bca_reference.py (standard library
	// only), which applies Efron's formulas (BCaCI's doc comment) directly.
	// By hand: 3 replicates lie below 0.30 and 2 equal it, so
	// p0 = (3 + 2/2)/20 = 0.2 and z0 = Φ⁻¹(0.2) = −0.8416212335729142.
	reps := slices.Clone(bcaReps)
	lo, hi, z0, n := BCaCI(reps, 0.30, 0.05, 0.90)
	near(t, "z0", z0, -0.8416212335729142, bcaTol)
	near(t, "lo", lo, 0.2210756486007439, bcaTol)
	near(t, "hi", hi, 0.3692753733437244, bcaTol)
	if n != 20 {
		t.Errorf("valid = %d, want 20", n)
	}
	reps = slices.Clone(bcaReps)
	lo, hi, z0, _ = BCaCI(reps, 0.40, -0.08, 0.95)
	near(t, "z0 (est .40)", z0, 0.2533471031357998, bcaTol)
	near(t, "lo (est .40)", lo, 0.2603121854921614, bcaTol)
	near(t, "hi (est .40)", hi, 0.600633078422214, bcaTol)

	// z0 = 0 (the estimate is the median: 10 of 20 below, none equal) and
	// a = 0 give the percentile interval exactly (the levels are Φ(z) =
	// (1∓level)/2, up to the round trip through Φ⁻¹ and Φ).
	reps = slices.Clone(bcaReps)
	med := 0.375 // between the 10th and 11th sorted replicates, 0.36 and 0.38
	blo, bhi, bz0, _ := BCaCI(reps, med, 0, 0.95)
	plo, phi, _ := PercentileCI(slices.Clone(bcaReps), 0.95)
	near(t, "z0 at the median", bz0, 0, 0)
	near(t, "lo = percentile", blo, plo, 1e-15)
	near(t, "hi = percentile", bhi, phi, 1e-15)

	// NaNs are dropped; an estimate below every replicate has no bias
	// correction (z0 = −∞): NaN bounds.
	reps = []float64{math.NaN(), 0.5, 0.6, 0.7}
	lo, hi, z0, n = BCaCI(reps, 0.1, 0, 0.95)
	if n != 3 || !math.IsNaN(lo) || !math.IsNaN(hi) || !math.IsInf(z0, -1) {
		t.Errorf("estimate below every replicate: %v %v z0 %v valid %d", lo, hi, z0, n)
	}
	// An estimate tied with the two smallest replicates is not below all
	// of them: p0 = (0 + 2/2)/4, z0 = Φ⁻¹(1/4) (NormalDist().inv_cdf(0.25)),
	// and the lower bound, at level Φ(2·z0 − 1.96) ≈ 0.0005, falls between
	// the two tied values: the estimate.
	lo, _, z0, _ = BCaCI([]float64{0.6, 0.5, 0.7, 0.5}, 0.5, 0, 0.95)
	near(t, "z0 tied at the minimum", z0, -0.6744897501960817, 1e-12)
	if lo != 0.5 {
		t.Errorf("tied at the minimum: lo = %v, want 0.5", lo)
	}
	lo, hi, _, n = BCaCI([]float64{math.NaN()}, 0.5, 0, 0.95)
	if n != 0 || !math.IsNaN(lo) || !math.IsNaN(hi) {
		t.Errorf("all NaN: %v %v %d", lo, hi, n)
	}
}

func TestAcceleration(t *testing.T) {
	// One stratum: the plug-in variance of the rows 1 2 2 3 7 7 7 10,
	// grouped by equal rows. bca_reference.py deletes each of the 8 rows
	// in turn (no grouping) and applies Efron's formula: 0.08510792923251351.
	rows := []float64{1, 2, 2, 3, 7, 7, 7, 10}
	vari := func(xs []float64) float64 {
		var m, s float64
		for _, x := range xs {
			m += x
		}
		m /= float64(len(xs))
		for _, x := range xs {
			s += (x - m) * (x - m)
		}
		return s / float64(len(xs))
	}
	var jack []JackknifeValue
	for _, v := range []struct {
		x float64
		n int64
	}{{1, 1}, {2, 2}, {3, 1}, {7, 3}, {10, 1}} {
		i := slices.Index(rows, v.x)
		loo := append(slices.Clone(rows[:i]), rows[i+1:]...)
		jack = append(jack, JackknifeValue{Value: vari(loo), Count: v.n})
	}
	near(t, "one stratum", Acceleration(jack), 0.08510792923251351, 1e-14)

	// Two strata: p̂1 − p̂2 with 2 ones of 5 rows and 7 ones of 8 rows.
	// For a difference of means the jackknife influence values are exact,
	// so a is the skewness of p̂1 − p̂2 over 6, by hand
	// κ3 = p1q1(1−2p1)/n1² − p2q2(1−2p2)/n2², κ2 = p1q1/n1 + p2q2/n2,
	// a = κ3/(6 κ2^1.5) = 0.03484206203212528 (bca_reference.py, which
	// also gets it by deleting each row).
	p1, n1, p2, n2 := 2.0/5, 5.0, 7.0/8, 8.0
	k3 := p1*(1-p1)*(1-2*p1)/(n1*n1) - p2*(1-p2)*(1-2*p2)/(n2*n2)
	k2 := p1*(1-p1)/n1 + p2*(1-p2)/n2
	want := k3 / (6 * math.Pow(k2, 1.5))
	near(t, "closed form", want, 0.03484206203212528, 1e-15)
	two := []JackknifeValue{
		{0, (2.0-1)/4 - p2, 2}, // a one of stratum 0 left out
		{0, 2.0/4 - p2, 3},     // a zero
		{1, p1 - 6.0/7, 7},
		{1, p1 - 7.0/7, 1},
	}
	near(t, "two strata", Acceleration(two), want, 1e-14)

	// Undefined values are left out of the sums; no spread gives 0.
	withNaN := append(slices.Clone(two), JackknifeValue{Stratum: 2, Value: math.NaN(), Count: 1})
	near(t, "NaN stratum", Acceleration(withNaN), want, 1e-14)
	near(t, "no spread", Acceleration([]JackknifeValue{{0, 0.5, 4}, {1, 0.5, 2}}), 0, 0)
	near(t, "empty", Acceleration(nil), 0, 0)
}
