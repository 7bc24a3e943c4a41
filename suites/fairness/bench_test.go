package fairness

import (
	"math/rand/v2"
	"testing"
)

// synthetic returns n rows with two sensitive columns (sex: 2 values,
// race: 5 values with unequal shares), labels and scores whose rates
// depend on the groups, from a fixed seed.
func synthetic(n int) (*Input, [][]string) {
	r := rand.New(rand.NewPCG(5, 6))
	sexes := []string{"Female", "Male"}
	races := []string{"A", "B", "C", "D", "E"}
	share := []float64{0.05, 0.1, 0.15, 0.2, 1} // cumulative
	sex, race := make([]string, n), make([]string, n)
	in := &Input{Classes: 2, Positive: 1, Y: make([]int64, n), Pred: make([]int32, n), Score: make([]float64, n)}
	for i := range n {
		s := r.IntN(2)
		u := r.Float64()
		ri := 0
		for u > share[ri] {
			ri++
		}
		sex[i], race[i] = sexes[s], races[ri]
		base := 0.15 + 0.1*float64(s) + 0.02*float64(ri)
		if r.Float64() < base {
			in.Y[i] = 1
		}
		sc := 0.5*r.Float64() + 0.4*float64(in.Y[i]) + 0.05*float64(s)
		in.Score[i] = min(sc, 1)
		if sc >= 0.5 {
			in.Pred[i] = 1
		}
	}
	return in, [][]string{sex, race}
}

// BenchmarkCompute is the metric computation of the benchmark:
// 1,000,000 rows, 2 sensitive attributes and their intersection, 200
// bootstrap rounds, inference excluded (the group codes are built once,
// as Run does before it runs the model; BenchmarkPartition times that).
func BenchmarkCompute(b *testing.B) {
	in, cols := synthetic(1_000_000)
	p, err := NewPartition([]string{"sex", "race"}, cols, true)
	if err != nil {
		b.Fatal(err)
	}
	opt := Options{NBoot: 200, Bins: DefaultBins, Seed: 1, Level: 0.95}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compute(in, p, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPartition encodes the two string columns of 1,000,000 rows
// into group codes and the intersection.
func BenchmarkPartition(b *testing.B) {
	_, cols := synthetic(1_000_000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewPartition([]string{"sex", "race"}, cols, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTally is the one pass over 1,000,000 rows alone.
func BenchmarkTally(b *testing.B) {
	in, cols := synthetic(1_000_000)
	p, _ := NewPartition([]string{"sex", "race"}, cols, true)
	tb := NewTable(p.NCells, 2, DefaultBins)
	b.ReportAllocs()
	for b.Loop() {
		if err := tb.Add(in, p.Cell); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNoPerRowAllocations: the tally allocates nothing, and Compute's
// allocations do not grow with the number of rows.
func TestNoPerRowAllocations(t *testing.T) {
	in, cols := synthetic(20_000)
	p, err := NewPartition([]string{"sex", "race"}, cols, true)
	if err != nil {
		t.Fatal(err)
	}
	tb := NewTable(p.NCells, 2, DefaultBins)
	if a := testing.AllocsPerRun(5, func() { _ = tb.Add(in, p.Cell) }); a != 0 {
		t.Errorf("Table.Add: %v allocations per run, want 0", a)
	}
	opt := Options{NBoot: 50, Bins: DefaultBins, Seed: 1, Level: 0.95}
	small := &Input{Classes: 2, Positive: 1, Y: in.Y[:2000], Pred: in.Pred[:2000], Score: in.Score[:2000]}
	ps, err := NewPartition([]string{"sex", "race"}, [][]string{cols[0][:2000], cols[1][:2000]}, true)
	if err != nil {
		t.Fatal(err)
	}
	if ps.NCells != p.NCells {
		t.Skipf("the 2,000-row prefix has %d of %d groups", ps.NCells, p.NCells)
	}
	aBig := testing.AllocsPerRun(3, func() { _, _ = Compute(in, p, opt) })
	aSmall := testing.AllocsPerRun(3, func() { _, _ = Compute(small, ps, opt) })
	// Boxing a count above 255 into details allocates where a small one
	// does not, so the counts differ by a few dozen; a per-row allocation
	// would add 18,000.
	if aBig-aSmall > 100 {
		t.Errorf("Compute allocates %v times on 20,000 rows, %v on 2,000: allocations grow with rows", aBig, aSmall)
	}
	t.Logf("Compute: %v allocations (any row count, %d groups, n_boot 50)", aBig, p.NCells)
}
