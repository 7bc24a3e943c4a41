package stats

import "math"

// Quantile returns the q-quantile of sorted values with linear
// interpolation between order statistics (numpy's default, Hyndman & Fan
// type 7). sorted must be sorted ascending and non-empty; callers with
// unsorted data pass slices.Sorted(slices.Values(xs)).
func Quantile(sorted []float64, q float64) float64 {
	h := float64(len(sorted)-1) * q
	lo := int(math.Floor(h))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// Median returns the median of sorted values as numpy.median does: the
// middle value, or the mean (a+b)/2 of the two middle ones. It is 0 for no
// values. It differs from Quantile(sorted, 0.5) only by round-off
// (a + (b−a)/2 against (a+b)/2).
func Median(sorted []float64) float64 {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
