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
