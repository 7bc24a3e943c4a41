package reports

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkCompareMillion compares two reports of 10^6 samples each with
// per-sample outcomes paired by row: decoding both bit sets, the 2×2 table
// and McNemar's test.
func BenchmarkCompareMillion(b *testing.B) {
	const n = 1_000_000
	rng := rand.New(rand.NewPCG(1, 2))
	mk := func(p float64) *Report {
		r := fixtureReport()
		bits := NewBits(n)
		for i := 0; i < n; i++ {
			bits.Set(i, rng.Float64() < p)
		}
		r.Suites[0].Details = map[string]any{PerSampleKey: PerSampleDetails(n, nil, map[string]Bits{"correct": bits})}
		return r
	}
	old, cur := mk(0.95), mk(0.94)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c := Compare(old, cur, "old.json", nil, nil)
		if len(c.Suites[0].Outcomes) != 1 {
			b.Fatal("no outcome compared")
		}
	}
}
