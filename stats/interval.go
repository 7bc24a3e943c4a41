package stats

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// ClopperPearson returns the exact two-sided binomial confidence interval
// for k successes in n trials at the given confidence level (0.95 for a 95 %
// interval): the α/2 quantile of Beta(k, n−k+1) and the 1−α/2 quantile of
// Beta(k+1, n−k), with the bounds 0 at k = 0 and 1 at k = n (Clopper &
// Pearson 1934). ok is false when n is 0.
func ClopperPearson(k, n int, level float64) (lo, hi float64, ok bool) {
	if n <= 0 || k < 0 || k > n {
		return 0, 0, false
	}
	alpha := 1 - level
	lo, hi = 0, 1
	if k > 0 {
		lo = distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1)}.Quantile(alpha / 2)
	}
	if k < n {
		hi = distuv.Beta{Alpha: float64(k + 1), Beta: float64(n - k)}.Quantile(1 - alpha/2)
	}
	return lo, hi, true
}

// PercentileCI sorts the defined (non-NaN) values of reps to the front of
// reps, in place, and returns the bootstrap percentile interval at level
// (0.95 for 95 %): the (1−level)/2 and (1+level)/2 quantiles of those values
// (Quantile), and how many values were defined. The bounds are NaN when none
// is.
func PercentileCI(reps []float64, level float64) (lo, hi float64, valid int) {
	for _, v := range reps {
		if !math.IsNaN(v) {
			reps[valid] = v
			valid++
		}
	}
	if valid == 0 {
		return math.NaN(), math.NaN(), 0
	}
	s := reps[:valid]
	slices.Sort(s)
	return Quantile(s, (1-level)/2), Quantile(s, (1+level)/2), valid
}

// BCaCI sorts the defined (non-NaN) values of reps to the front of reps, in
// place, and returns the bias-corrected and accelerated (BCa) bootstrap
// interval at level (0.95 for 95 %) for the estimate est of the statistic
// whose bootstrap replicates are reps, with acceleration accel
// (Acceleration); also the bias correction z0 and how many values were
// defined (Efron, "Better bootstrap confidence intervals", JASA 82 (1987);
// Efron & Tibshirani, An Introduction to the Bootstrap (1993), §14.3):
//
//	z0 = Φ⁻¹(p0),  p0 = (#{θ* < est} + ½·#{θ* = est}) / B
//	αj = Φ(z0 + (z0 + zj) / (1 − accel·(z0 + zj))),  z1 = Φ⁻¹((1−level)/2), z2 = Φ⁻¹((1+level)/2)
//	interval = [Quantile(θ*, α1), Quantile(θ*, α2)]
//
// Ties with the estimate count one half, the mid-rank share of SciPy's
// scipy.stats.bootstrap (method 'BCa'); statistics of small counts tie with
// their estimate often. Where 1 − accel·(z0 + zj) ≤ 0 the level αj is taken
// at its limit (0 or 1). With z0 = 0 and accel = 0 it is the percentile
// interval (PercentileCI). The bounds are NaN when no value is defined, est
// is NaN, or z0 is infinite (every defined value lies above est, or every
// one below: no bias correction exists; PercentileCI still gives an
// interval, one that excludes est).
func BCaCI(reps []float64, est, accel, level float64) (lo, hi, z0 float64, valid int) {
	for _, v := range reps {
		if !math.IsNaN(v) {
			reps[valid] = v
			valid++
		}
	}
	if valid == 0 || math.IsNaN(est) {
		return math.NaN(), math.NaN(), math.NaN(), valid
	}
	s := reps[:valid]
	slices.Sort(s)
	below, _ := slices.BinarySearch(s, est) // first index with s[i] >= est
	atOrBelow := below
	for atOrBelow < valid && s[atOrBelow] == est {
		atOrBelow++
	}
	p0 := float64(below+atOrBelow) / float64(2*valid)
	z0 = distuv.UnitNormal.Quantile(p0)
	if math.IsInf(z0, 0) {
		return math.NaN(), math.NaN(), z0, valid
	}
	a1 := bcaLevel(z0, accel, distuv.UnitNormal.Quantile((1-level)/2))
	a2 := bcaLevel(z0, accel, distuv.UnitNormal.Quantile((1+level)/2))
	return Quantile(s, a1), Quantile(s, a2), z0, valid
}

// bcaLevel is the BCa-adjusted quantile level Φ(z0 + w/(1 − a·w)), w = z0 + z,
// at its limit (1 for w > 0, else 0) where 1 − a·w ≤ 0.
func bcaLevel(z0, a, z float64) float64 {
	w := z0 + z
	d := 1 - a*w
	if d <= 0 {
		if w > 0 {
			return 1
		}
		return 0
	}
	return distuv.UnitNormal.CDF(z0 + w/d)
}

// JackknifeValue is one leave-one-out value of a statistic for
// Acceleration: Value is the statistic recomputed with one row of stratum
// Stratum (0, 1, …) left out, and Count rows of that stratum give that same
// value (rows with equal data, such as the rows of one cell of a count
// table). A NaN Value (the statistic undefined without that row) is left
// out of the sums, but its rows count in the stratum's size.
type JackknifeValue struct {
	Stratum int
	Value   float64
	Count   int64
}

// Acceleration returns the BCa acceleration of a statistic from its
// jackknife values, for a sample of strata resampled separately with their
// sizes fixed (a stratified bootstrap; one stratum is the ordinary
// bootstrap). With n_s the rows of stratum s, m_s the mean of its defined
// leave-one-out values and d_j = m_s − Value_j, each counted Count_j times,
//
//	a = Σ_s c_s³·Σ_j d_j³ / (6·(Σ_s c_s²·Σ_j d_j²)^(3/2)),  c_s = (n_s − 1)/n_s.
//
// This is the skewness form a = (1/6)·Σ_s n_s⁻³ Σ_j l_j³ / (Σ_s n_s⁻² Σ_j l_j²)^(3/2)
// of the acceleration in the empirical influence values l_j of the rows
// (Davison & Hinkley, Bootstrap Methods and their Application (1997): the
// adjusted percentile method of ch. 5, with the several-sample variance
// Σ_s n_s⁻² Σ_j l_j² of ch. 3), with the jackknife estimate
// l_j = (n_s − 1)·d_j of each row's influence (their ch. 2), centred within
// its stratum because a stratified resample keeps every stratum's size.
// With one stratum the factors c cancel and it is Efron's
// a = Σ d³ / (6·(Σ d²)^(3/2)) (Efron & Tibshirani 1993, §14.3). It is 0
// when the defined values do not vary.
func Acceleration(jack []JackknifeValue) float64 {
	ns := 0
	for _, j := range jack {
		ns = max(ns, j.Stratum+1)
	}
	n := make([]int64, ns)   // rows per stratum
	d := make([]float64, ns) // rows with a defined value
	m := make([]float64, ns) // sum, then mean, of the defined values
	for _, j := range jack {
		n[j.Stratum] += j.Count
		if !math.IsNaN(j.Value) {
			d[j.Stratum] += float64(j.Count)
			m[j.Stratum] += float64(j.Count) * j.Value
		}
	}
	for s := range m {
		if d[s] > 0 {
			m[s] /= d[s]
		}
	}
	var num, den float64
	for _, j := range jack {
		s := j.Stratum
		if math.IsNaN(j.Value) || n[s] < 2 {
			continue
		}
		c := float64(n[s]-1) / float64(n[s])
		dj := m[s] - j.Value
		w := float64(j.Count)
		num += w * c * c * c * dj * dj * dj
		den += w * c * c * dj * dj
	}
	if !(den > 0) {
		return 0
	}
	return num / (6 * math.Pow(den, 1.5))
}
