package evasion

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/quantize"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// TestStraightThroughRecorded: FGSM on an INT8 QDQ model (the repository's
// Adult demo model, examples/adult, quantised by package quantize with
// every activation's range set to [−8, 8] instead of calibrated: only the
// graph's form matters here) runs on exact gradients and
// records details.gradient.straight_through [DequantizeLinear,
// QuantizeLinear], with no warning of estimated gradients; on the float
// model details.gradient has no straight_through.
func TestStraightThroughRecorded(t *testing.T) {
	dir := testutil.Example(t, "adult")
	m, err := onnx.Load(filepath.Join(dir, "adult_mlp.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[string]quantize.Range{}
	for _, a := range quantize.Activations(m) {
		ranges[a] = quantize.Range{Min: -8, Max: 8}
	}
	q, _, err := quantize.Static(m, ranges)
	if err != nil {
		t.Fatal(err)
	}
	qpath := filepath.Join(t.TempDir(), "adult_int8.onnx")
	if err := q.Save(qpath); err != nil {
		t.Fatal(err)
	}
	ds := suitetest.Load(t, data.Spec{CSV: "adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, dir)
	raw := map[string]any{"attacks": []any{map[string]any{"name": "fgsm", "norm": "linf", "eps": []any{0.03}}}}
	for _, c := range []struct {
		model string
		want  []string
	}{{qpath, []string{"DequantizeLinear", "QuantizeLinear"}}, {filepath.Join(dir, "adult_mlp.onnx"), nil}} {
		tg := suitetest.Open(t, c.model, ds)
		tg.Range, tg.BatchSize, tg.Pool, tg.Seed = [2]float64{0, 1}, 256, runtime.Pool{Workers: 2}, 1
		res := suitetest.Run(t, Suite{}, tg, raw)
		g := res.Details["gradient"].(map[string]any)
		st, _ := g["straight_through"].([]string)
		if g["mode"] != ModeExact || !slices.Equal(st, c.want) {
			t.Errorf("%s: details.gradient %v; want mode exact, straight_through %v", filepath.Base(c.model), g, c.want)
		}
		for _, w := range res.Warnings {
			t.Errorf("%s: warning %s", filepath.Base(c.model), w)
		}
	}
}
