package evasion

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// fabProjTol bounds |Δ| per coordinate between the projections and
// AutoAttack's: both run in float64 (testdata/peer_fab_projections.py), so
// only summation order differs.
const fabProjTol = 1e-9

// TestFABProjections compares projectLinf and projectL2Box with
// AutoAttack's projection_linf and projection_l2 (fab_projections.py, run
// by testdata/peer_fab_projections.py) on 24 points and hyperplanes of
// dimension 7, 16 and 50 with ties and zero weights: every coordinate of
// every step, 48 projections.
func TestFABProjections(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "peer_fab_projections.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		T, W     []float64
		B        float64
		Linf, L2 []float64
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	compared := 0
	for c, k := range cases {
		d := len(k.T)
		w := &work{d: d, batch: 1}
		m := w.fabMem()
		got := make([]float64, d)
		for _, p := range []struct {
			name string
			linf bool
			want []float64
		}{{"linf", true, k.Linf}, {"l2", false, k.L2}} {
			fabProject(got, k.T, k.W, k.B, p.linf, m)
			worst := 0.0
			for i := range got {
				worst = max(worst, math.Abs(got[i]-p.want[i]))
			}
			if worst > fabProjTol {
				t.Errorf("case %d (d %d) %s: max |Δ| %g\n got  %v\n want %v", c, d, p.name, worst, got, p.want)
			}
			compared++
		}
	}
	if compared != 48 {
		t.Errorf("compared %d projections, want 48", compared)
	}
}

// TestFABProjectAllocs: FAB's per-step projections allocate nothing.
func TestFABProjectAllocs(t *testing.T) {
	const d = 64
	w := &work{d: d, batch: 1}
	m := w.fabMem()
	pt, wt, got := make([]float64, d), make([]float64, d), make([]float64, d)
	for i := range pt {
		pt[i], wt[i] = float64(i%7)/7, float64(i%5)-2
	}
	for _, linf := range []bool{true, false} {
		if a := testing.AllocsPerRun(20, func() { fabProject(got, pt, wt, 3, linf, m) }); a != 0 {
			t.Errorf("linf %v: %v allocations per projection", linf, a)
		}
	}
}
