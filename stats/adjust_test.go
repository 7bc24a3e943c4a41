package stats

import (
	"math"
	"testing"
)

// TestAdjustP checks both corrections on p = [0.01, 0.04, 0.03, 0.005],
// worked by hand from the definitions (R's p.adjust gives the same):
// BH: sorted 0.005, 0.01, 0.03, 0.04 → m/j·p = 0.02, 0.02, 0.04, 0.04,
// running minimum from the top unchanged; Holm: (m−j+1)·p = 0.02, 0.03,
// 0.06, 0.04, running maximum 0.02, 0.03, 0.06, 0.06.
func TestAdjustP(t *testing.T) {
	p := []float64{0.01, 0.04, 0.03, 0.005}
	cases := []struct {
		method string
		want   []float64
	}{
		{BenjaminiHochberg, []float64{0.02, 0.04, 0.04, 0.02}},
		{Holm, []float64{0.03, 0.06, 0.06, 0.02}},
	}
	const tol = 1e-15
	for _, c := range cases {
		got := AdjustP(make([]float64, len(p)), p, c.method)
		for i := range p {
			if math.Abs(got[i]-c.want[i]) > tol {
				t.Errorf("%s: adj[%d] = %v, want %v", c.method, i, got[i], c.want[i])
			}
		}
	}
	// Capped at 1: Holm 3·0.5 and BH (3/3)·0.9 stay ≤ 1.
	got := AdjustP(make([]float64, 3), []float64{0.5, 0.9, 0.6}, Holm)
	if got[0] != 1 || got[1] != 1 || got[2] != 1 {
		t.Errorf("Holm cap: %v, want all 1", got)
	}
}
