package stats

import (
	"math"
	"testing"
)

func TestArgmax(t *testing.T) {
	// Hand-picked rows: the first maximum wins on ties (numpy.argmax's rule).
	nan := float32(math.NaN())
	for _, tc := range []struct {
		row  []float32
		want int
	}{
		{[]float32{1, 3, 3, 2}, 1},
		{[]float32{5}, 0},
		{nil, 0},
		{[]float32{-2, -1, -1, -3}, 1},
		{[]float32{2, nan, 3}, 2}, // a later NaN never wins
		{[]float32{nan, 1, 2}, 0}, // nothing compares above a leading NaN
	} {
		if got := Argmax(tc.row); got != tc.want {
			t.Errorf("Argmax(%v) = %d, want %d", tc.row, got, tc.want)
		}
	}
	if got := Argmax([]float64{0.1, 0.7, 0.2, 0.7}); got != 1 {
		t.Errorf("float64 Argmax = %d, want 1", got)
	}
}
