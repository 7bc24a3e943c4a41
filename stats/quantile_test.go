package stats

import (
	"math"
	"slices"
	"testing"
)

// handTol bounds float round-off on hand-computed values of small numbers.
const handTol = 1e-12

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) != math.IsNaN(want) {
		t.Errorf("%s = %.17g, want %.17g (±%g)", what, got, want, tol)
	}
}

func TestQuantile(t *testing.T) {
	// numpy.percentile([1,2,3,4], [2.5, 97.5]) (linear, type 7): h = 3q →
	// 1 + 0.075, 3 + 0.925; q = 0.25 → h = 0.75, 1.75; q = 0.5 → 2.5.
	s := []float64{1, 2, 3, 4}
	near(t, "q.025", Quantile(s, 0.025), 1.075, handTol)
	near(t, "q.975", Quantile(s, 0.975), 3.925, handTol)
	near(t, "q.25", Quantile(s, 0.25), 1.75, handTol)
	near(t, "q.5", Quantile(s, 0.5), 2.5, handTol)
	near(t, "q0", Quantile(s, 0), 1, 0)
	near(t, "q1", Quantile(s, 1), 4, 0)
	near(t, "one value", Quantile([]float64{7}, 0.3), 7, 0)
	// Unsorted data goes through slices.Sorted, leaving the input alone (the
	// way poisoning calls it): np.quantile([4,1,3,2], 0.25) = 1.75.
	xs := []float64{4, 1, 3, 2}
	near(t, "sorted copy q.25", Quantile(slices.Sorted(slices.Values(xs)), 0.25), 1.75, handTol)
	if xs[0] != 4 {
		t.Error("input changed")
	}
}

func TestMedian(t *testing.T) {
	// Odd count: the middle value; even: the mean of the two middle values,
	// (2 + 3.5)/2 = 2.75, as numpy.median([-1, 2, 2, 3.5, 7, 10]).
	near(t, "odd", Median([]float64{1, 3, 5}), 3, 0)
	near(t, "even", Median([]float64{-1, 2, 2, 3.5, 7, 10}), 2.75, 0)
	near(t, "one", Median([]float64{-4}), -4, 0)
	near(t, "none", Median(nil), 0, 0)
}
