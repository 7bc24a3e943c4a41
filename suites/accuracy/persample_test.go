package accuracy

import (
	"context"
	"testing"

	"github.com/gauntlet-ml/gauntlet/reports"
)

// TestPerSample checks the per-sample outcomes for baseline comparisons:
// their count of correct samples equals accuracy·n (the same predictions),
// and they are the same for any worker count and batch size.
func TestPerSample(t *testing.T) {
	var first reports.Bits
	for _, wb := range [][2]int{{1, 7}, {2, 64}, {3, 333}} {
		tg := digitsTarget(t, "digits_cnn.onnx", wb[0], wb[1])
		cfg, _ := Suite{}.Decode(map[string]any{})
		res, err := Suite{}.Run(context.Background(), tg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ps, ok, err := reports.DecodePerSample(res.Details)
		if !ok || err != nil {
			t.Fatalf("per_sample: ok %v, %v", ok, err)
		}
		if ps.N != tg.Data.N || ps.IDs != nil {
			t.Errorf("n %d ids %v, want n %d and row indices", ps.N, ps.IDs, tg.Data.N)
		}
		bits := ps.Bits("correct")
		var k int
		for i := 0; i < ps.N; i++ {
			if bits.Get(i) {
				k++
			}
		}
		if got := float64(k) / float64(ps.N); got != res.Metrics["accuracy"] {
			t.Errorf("workers %d batch %d: %d correct of %d = %v, accuracy %v", wb[0], wb[1], k, ps.N, got, res.Metrics["accuracy"])
		}
		if first == nil {
			first = bits
		} else if string(first) != string(bits) {
			t.Errorf("workers %d batch %d: outcomes differ from the first run", wb[0], wb[1])
		}
	}
}

func TestPerSampleIDs(t *testing.T) {
	d := perSample([]bool{true, false, true}, []string{"a", "b", "c"})
	ps, ok, err := reports.DecodePerSample(map[string]any{reports.PerSampleKey: d})
	if !ok || err != nil || ps.ID(1) != "b" || !ps.Bits("correct").Get(2) || ps.Bits("correct").Get(1) {
		t.Errorf("per-sample with ids: %+v, %v", ps, err)
	}
}
