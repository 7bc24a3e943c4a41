package differential

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
)

// int8RefTol bounds |ORT logit − reference logit| for the INT8 variant of
// the shared MNIST CNN. The reference (testdata/int8_reference.py)
// evaluates the QDQ graph in float64 as the ONNX specification defines
// it; ONNX Runtime runs QLinearConv and QGemm, which requantise in
// integer arithmetic with a float32 multiplier. One activation landing a
// uint8 level away would move a logit by that level's scale times a fc2
// weight, 1e-3 or more here; 1e-4 therefore says no level differs, and
// leaves room for float32 rounding of logits of magnitude ~20 (measured
// 2026-12-07: 1.6e-6 with ORT's optimisations, 4.5e-6 without).
const int8RefTol = 1e-4

// TestInt8MatchesReference: the INT8 variant Gauntlet writes for the
// shared MNIST CNN loads and runs in ONNX Runtime on its integer kernels
// (QLinearConv, QGemm in the graph it runs), its accuracy on the 2000
// shared test images is within 1 point of the float32 model's, and its
// logits on the first 200 images match those of an independent evaluation
// of the same QDQ file (testdata/mnist_int8_reference.json, written by
// testdata/int8_reference.py; the file's SHA-256 is checked, so a change
// to the quantiser fails here until the reference is regenerated) and
// those of ONNX Runtime with graph optimisations disabled (the QDQ nodes
// run as written, no integer kernels).
func TestInt8MatchesReference(t *testing.T) {
	tg := mnist(t)
	raw := map[string]any{"variants": []any{map[string]any{"name": "int8", "quantize": "int8_static"}}}
	res := suitetest.Run(t, Suite{}, tg, raw)
	suitetest.Defined(t, res)
	if d := res.Metrics["int8.accuracy_delta"]; math.Abs(d) > 0.01 {
		t.Errorf("int8.accuracy_delta %v: more than 1 point from float32", d)
	}
	det := res.Details["variants"].([]map[string]any)[0]
	ops := det["ort_ops"].(map[string]int)
	if ops["QLinearConv"] != 2 || ops["QGemm"] != 2 {
		t.Errorf("ORT runs %v; want the 2 convolutions as QLinearConv and the 2 Gemms as QGemm", ops)
	}
	path := filepath.Join(tg.OutDir, Folder, "int8.onnx")
	if out := os.Getenv("GAUNTLET_INT8_OUT"); out != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var ref struct {
		SHA256  string      `json:"model_sha256"`
		Samples int         `json:"samples"`
		Logits  [][]float64 `json:"logits"`
	}
	b, err := os.ReadFile("testdata/mnist_int8_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if det["sha256"] != ref.SHA256 {
		t.Fatalf("the INT8 model's SHA-256 is %v, the reference was computed on %s: regenerate it (testdata/int8_reference.py)", det["sha256"], ref.SHA256)
	}
	for _, level := range []string{runtime.OptimizeAll, runtime.OptimizeDisabled} {
		o := suitetest.CPU()
		o.Optimization = level
		s, err := runtime.Open(tg.Env, path, o)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.NewRunner(ref.Samples)
		if err != nil {
			t.Fatal(err)
		}
		out, err := r.Run(context.Background(), tg.Data.X[:ref.Samples*tg.Data.SampleSize()], ref.Samples)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		compared, agree := 0, 0
		for i, row := range ref.Logits {
			got := out[i*10 : (i+1)*10]
			for c, want := range row {
				worst = math.Max(worst, math.Abs(float64(got[c])-want))
				compared++
			}
			if stats.Argmax(got) == stats.Argmax(row) {
				agree++
			}
		}
		r.Close()
		s.Close()
		t.Logf("optimisation %s: max |Δlogit| %.3g over %d logits, %d/%d decisions agree", level, worst, compared, agree, ref.Samples)
		if compared != 200*10 {
			t.Errorf("compared %d logits; want 2000", compared)
		}
		if worst > int8RefTol {
			t.Errorf("optimisation %s: max |Δlogit| %v > %v", level, worst, int8RefTol)
		}
	}
}
