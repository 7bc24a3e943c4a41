package differential

import (
	"slices"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// TestConverterModel: a scikit-learn converter's classifier
// (runtime/testdata/converters/skl_linear_int.onnx: a LinearClassifier of
// the ai.onnx.ml domain with a ZipMap, classes [3, 7]) has nothing the
// quantiser can quantise and no float16 kernels: the INT8 variant is the
// model (every operator skipped, agreement 1), and the FP16 variant keeps
// the classifier in float32 (found by running) and agrees up to float16
// rounding of the inputs.
func TestConverterModel(t *testing.T) {
	// 64 points on a grid of [−2, 2]², labelled by the model's own rule
	// (P(7) = sigmoid(x0 − 2·x1 + 0.5), make_converters.py): class index
	// 1 (label 7) where x0 − 2·x1 + 0.5 > 0
	var x []float32
	var y []int64
	for i := 0; i < 8; i++ {
		for j := 0; j < 8; j++ {
			a, b := -2+4*float32(i)/7, -2+4*float32(j)/7
			x = append(x, a, b)
			if a-2*b+0.5 > 0 {
				y = append(y, 1)
			} else {
				y = append(y, 0)
			}
		}
	}
	ds := &data.Dataset{X: x, N: 64, SampleShape: []int{2}, Y: y}
	tg := suitetest.Open(t, testutil.RepoRoot(t)+"/runtime/testdata/converters/skl_linear_int.onnx", ds)
	tg.BatchSize, tg.Pool, tg.Seed, tg.Range, tg.OutDir = 16, runtime.Pool{Workers: 2}, runSeed, [2]float64{-2, 2}, t.TempDir()
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"variants": []any{
		map[string]any{"name": "int8", "quantize": "int8_static"},
		map[string]any{"name": "fp16", "convert": "fp16"},
	}})
	suitetest.Defined(t, res)
	if res.Metrics["accuracy"] != 1 {
		t.Errorf("accuracy %v; the labels are the model's rule", res.Metrics["accuracy"])
	}
	for _, k := range []string{"int8.agreement", "fp16.agreement"} {
		if res.Metrics[k] != 1 {
			t.Errorf("%s = %v; want 1", k, res.Metrics[k])
		}
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "variant int8: the model has no Conv, Gemm or MatMul") {
		t.Errorf("warnings %q; want one saying int8 quantised nothing", res.Warnings)
	}
	var kept []string
	for _, v := range res.Details["variants"].([]map[string]any) {
		if c, ok := v["conversion"].(map[string]any); ok {
			kept = c["kept_float32"].([]string)
		}
	}
	if !slices.Equal(kept, []string{"LinearClassifier", "ZipMap"}) {
		t.Errorf("FP16 kept %v in float32; want [LinearClassifier ZipMap] (ai.onnx.ml has no float16)", kept)
	}
}
