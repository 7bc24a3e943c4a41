package differential

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// int8RefTol bounds |ORT logit − reference logit| for the INT8 variants
// of TestInt8MatchesReference run on ONNX Runtime's integer kernels. The
// reference (testdata/int8_reference.py) evaluates the QDQ graph in
// float64 as the ONNX specification defines it; QLinearConv and QGemm
// accumulate in int32, exactly, and requantise with a float32
// multiplier. One activation landing a uint8 level away would move a
// logit by that level's scale times a weight, 1e-3 or more on both
// models; 1e-4 therefore says no level differs, and leaves room for
// float32 rounding of logits of magnitude ~20 (measured 2026-12-07 on ORT
// 1.30.0: MNIST 1.3e-6, Adult 1.2e-6).
const int8RefTol = 1e-4

// int8UnfusedTol bounds the same difference with ONNX Runtime's
// optimisations disabled: the Q/DQ nodes then run one by one and the
// convolutions and Gemms between them in float32, whose rounding can put
// a value within float32 epsilon of a half level on the other side, so an
// activation may land one uint8 level away. The bound allows a few such
// levels (measured 2026-12-07: MNIST 0.050 — one level of one activation
// of the first 200 images —, Adult 4.1e-6); every decision must still
// agree.
const int8UnfusedTol = 0.2

// int8Case is one model whose INT8 variant is checked against an
// independent evaluation of the same file.
type int8Case struct {
	name    string
	open    func(t *testing.T) *suite.Target
	ref     string         // testdata file written by int8_reference.py
	ops     map[string]int // integer kernels ORT must run
	samples int            // samples in the reference
}

// TestInt8MatchesReference: the INT8 variant Gauntlet writes loads and
// runs in ONNX Runtime on its integer kernels (QLinearConv, QGemm in the
// graph it runs), its accuracy is within 1 point of the float32 model's,
// and its logits on the first samples match those of an independent
// evaluation of the same QDQ file (testdata/*_int8_reference.json,
// written by testdata/int8_reference.py; the file's SHA-256 is checked,
// so a change to the quantiser fails here until the reference is
// regenerated), and within a looser bound those of ONNX Runtime with
// graph optimisations disabled (the QDQ nodes run as written in float32,
// no integer kernels). Two
// fixtures of different kinds: the shared MNIST CNN on its 2000 test
// images, and the repository's Adult MLP (a tabular Gemm/Relu network) on
// its 1000 evaluation rows.
func TestInt8MatchesReference(t *testing.T) {
	for _, c := range []int8Case{
		{"mnist", mnist, "mnist_int8_reference.json", map[string]int{"QLinearConv": 2, "QGemm": 2}, 200},
		{"adult", adult, "adult_int8_reference.json", map[string]int{"QGemm": 3}, 200},
	} {
		t.Run(c.name, func(t *testing.T) { checkInt8(t, c) })
	}
}

func checkInt8(t *testing.T, c int8Case) {
	tg := c.open(t)
	raw := map[string]any{"variants": []any{map[string]any{"name": "int8", "quantize": "int8_static"}}}
	res := suitetest.Run(t, Suite{}, tg, raw)
	suitetest.Defined(t, res)
	t.Logf("accuracy %.4f, int8 %.4f, agreement %.4f, max |Δp| %.4g", res.Metrics["accuracy"], res.Metrics["int8.accuracy"], res.Metrics["int8.agreement"], res.Metrics["int8.max_abs_prob_delta"])
	if d := res.Metrics["int8.accuracy_delta"]; math.Abs(d) > 0.01 {
		t.Errorf("int8.accuracy_delta %v: more than 1 point from float32", d)
	}
	det := res.Details["variants"].([]map[string]any)[0]
	ops := det["ort_ops"].(map[string]int)
	for op, n := range c.ops {
		if ops[op] != n {
			t.Errorf("ORT runs %v; want %d %s", ops, n, op)
		}
	}
	path := filepath.Join(tg.OutDir, Folder, "int8.onnx")
	k, size := tg.Classes, tg.Data.SampleSize()
	x := tg.Data.X[:c.samples*size]
	if out := os.Getenv("GAUNTLET_INT8_OUT"); out != "" {
		// the model and its first samples (float32, little-endian, N×d)
		// for int8_reference.py
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, c.name+"_int8.onnx"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		raw := make([]byte, 4*len(x))
		for i, v := range x {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		if err := os.WriteFile(filepath.Join(out, c.name+"_x.f32"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var ref struct {
		SHA256  string      `json:"model_sha256"`
		Samples int         `json:"samples"`
		Logits  [][]float64 `json:"logits"`
	}
	b, err := os.ReadFile(filepath.Join("testdata", c.ref))
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
		out, err := r.Run(context.Background(), x, ref.Samples)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		compared, agree := 0, 0
		for i, row := range ref.Logits {
			got := out[i*k : (i+1)*k]
			for j, want := range row {
				worst = math.Max(worst, math.Abs(float64(got[j])-want))
				compared++
			}
			if stats.Argmax(got) == stats.Argmax(row) {
				agree++
			}
		}
		r.Close()
		s.Close()
		t.Logf("optimisation %s: max |Δlogit| %.3g over %d logits, %d/%d decisions agree", level, worst, compared, agree, ref.Samples)
		if compared != c.samples*k {
			t.Errorf("compared %d logits; want %d", compared, c.samples*k)
		}
		tol := int8RefTol
		if level == runtime.OptimizeDisabled {
			tol = int8UnfusedTol
		}
		if worst > tol {
			t.Errorf("optimisation %s: max |Δlogit| %v > %v", level, worst, tol)
		}
		if agree != ref.Samples {
			t.Errorf("optimisation %s: %d of %d decisions agree with the reference", level, agree, ref.Samples)
		}
	}
}
