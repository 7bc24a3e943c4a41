package runtime

import (
	"context"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// convX are test samples of two features for the converter fixtures, away
// from the tree's threshold 0.5 on x0.
var convX = []float32{0, 0, 1, 0, -1, 2, 0.25, -0.75, 2, 1.5}

// convTol is how far ONNX Runtime's float32 probabilities of the converter
// fixtures may be from the float64 hand computation: a sigmoid or softmax of
// values below 10 in float32 is within a few ulps of 1 (1e-7); 1e-6 leaves
// margin and still catches a wrong weight or column.
const convTol = 1e-6

func runAll(t *testing.T, s *Session, x []float32) []float32 {
	t.Helper()
	n := len(x) / s.SampleSize()
	r, err := s.NewRunner(n)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := r.Run(context.Background(), x, n)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out...)
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func softmax(z ...float64) []float64 {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, v)
	}
	var sum float64
	out := make([]float64, len(z))
	for i, v := range z {
		out[i] = math.Exp(v - m)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func closeTo64(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	w := make([]float32, len(want))
	for i, v := range want {
		w[i] = float32(v)
	}
	closeTo(t, what, got, w, tol)
}

func TestZipMapClassifiers(t *testing.T) {
	// Expected probabilities from the weights in
	// testdata/converters/make_converters.py.
	for _, c := range []struct {
		file   string
		labels ClassLabels
		zipped string
		read   string
		probs  func(x0, x1 float64) []float64
	}{
		{"skl_linear_int.onnx", ClassLabels{Ints: []int64{3, 7}}, "seq(map(int64, tensor(float32)))",
			`probabilities (ZipMap input tensor "probabilities" of output "output_probability"), classes [3 7]`,
			func(x0, x1 float64) []float64 { p := sigmoid(x0 - 2*x1 + 0.5); return []float64{1 - p, p} }},
		{"skl_linear_str.onnx", ClassLabels{Strings: []string{"bird", "cat", "dog"}}, "seq(map(string, tensor(float32)))",
			`probabilities (ZipMap input tensor "probabilities" of output "output_probability"), classes [bird cat dog]`,
			func(x0, x1 float64) []float64 { return softmax(x0, x1, -x0-x1) }},
		{"skl_tree_int.onnx", ClassLabels{Ints: []int64{0, 1}}, "seq(map(int64, tensor(float32)))",
			`probabilities (ZipMap input tensor "probabilities" of output "output_probability"), classes [0 1]`,
			func(x0, _ float64) []float64 {
				if x0 <= 0.5 {
					return []float64{0.8, 0.2}
				}
				return []float64{0.1, 0.9}
			}},
	} {
		t.Run(c.file, func(t *testing.T) {
			s := open(t, "converters/"+c.file, Options{})
			k := c.labels.Len()
			if want := (TensorInfo{"probabilities", "float32", []int64{-1, int64(k)}, []string{"", ""}}); !reflect.DeepEqual(s.Output(), want) {
				t.Errorf("output %+v, want %+v", s.Output(), want)
			}
			if outs := s.Info().Outputs; len(outs) != 2 || outs[1].Name != "output_probability" || outs[1].Type != c.zipped {
				t.Errorf("model outputs %+v, want output_probability of type %s", outs, c.zipped)
			}
			a := s.Adaptation()
			if a.OutputRead != c.read || !reflect.DeepEqual(a.ClassLabels, c.labels) || len(a.IOConversion) != 0 || a.InputShape != nil {
				t.Errorf("adaptation %+v", a)
			}
			if s.NumClasses() != k || s.Info().Opset != 15 || s.OutputKind() != Probabilities {
				t.Errorf("classes %d opset %d kind %s (%s); want %d, 15, probabilities", s.NumClasses(), s.Info().Opset, s.OutputKind(), s.OutputKindReason(), k)
			}
			if s.Model().SHA256 == s.Info().SHA256 || !s.Model().IsOutput("probabilities") {
				t.Errorf("Model() should be the rewrite with probabilities as an output")
			}
			var want []float64
			for i := 0; i < len(convX); i += 2 {
				want = append(want, c.probs(float64(convX[i]), float64(convX[i+1]))...)
			}
			closeTo64(t, "probabilities", runAll(t, s, convX), want, convTol)
		})
	}
}

func TestZipMapRuntimeOutput(t *testing.T) {
	// runtime.output may name the ZipMap output or its input tensor.
	for _, name := range []string{"output_probability", "probabilities"} {
		s := open(t, "converters/skl_linear_int.onnx", Options{OutputName: name})
		if s.Output().Name != "probabilities" || s.NumClasses() != 2 {
			t.Errorf("runtime.output %s: output %+v, %d classes", name, s.Output(), s.NumClasses())
		}
	}
	// The labels output is refused, pointing at the probabilities.
	_, err := Open(testEnv(t), fixture("converters/skl_linear_int.onnx"), Options{OutputName: "output_label"})
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), `output "output_label" is int64 [-1]`) ||
		!strings.Contains(err.Error(), `set runtime.output to it`) || !strings.Contains(err.Error(), `"output_probability"`) {
		t.Errorf("runtime.output output_label: %v", err)
	}
}

func TestFloat16Model(t *testing.T) {
	s := open(t, "converters/fp16_mlp.onnx", Options{})
	if in := s.Input(); in.Type != "float32" || s.Info().Inputs[0].Type != "float16" || !reflect.DeepEqual(in.Shape, []int64{-1, 2}) {
		t.Errorf("input %+v (model's %+v), want float32 [-1 2] fed to a float16 input", in, s.Info().Inputs[0])
	}
	if out := s.Output(); out.Name != "probs" || out.Type != "float32" || s.NumClasses() != 2 {
		t.Errorf("output %+v, %d classes", out, s.NumClasses())
	}
	a := s.Adaptation()
	want := []string{
		`input "x": fed as float32, cast to float16 (a Cast node after the new float32 input)`,
		`output "probs": float16, cast to float32 (a Cast node before the output)`,
	}
	if !reflect.DeepEqual(a.IOConversion, want) || a.OutputRead != `output "probs" (float16, cast to float32)` {
		t.Errorf("adaptation %+v", a)
	}
	if s.OutputKind() != Probabilities {
		t.Errorf("kind %s (%s), want probabilities (Softmax)", s.OutputKind(), s.OutputKindReason())
	}
	// softmax(x @ [[1,-1],[-1,1]] + [0.25,-0.25]) from make_converters.py.
	// float16 has an 11-bit significand: inputs, logits and outputs are
	// each rounded to a relative 2^-11 ≈ 4.9e-4, so 4e-3 bounds the error
	// of probabilities computed from logits below 10.
	var wantP []float64
	for i := 0; i < len(convX); i += 2 {
		d := float64(convX[i]) - float64(convX[i+1])
		wantP = append(wantP, softmax(d+0.25, -d-0.25)...)
	}
	closeTo64(t, "fp16 probabilities", runAll(t, s, convX), wantP, 4e-3)
}

func TestDynamicFeatureAxis(t *testing.T) {
	env := testEnv(t)
	p := fixture("converters/dynamic_features.onnx")
	_, err := Open(env, p, Options{})
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "dim 1 of shape [-1 -1] is dynamic and no data shape was given") {
		t.Errorf("no sample shape: %v", err)
	}
	_, err = Open(env, p, Options{SampleShape: []int64{1, 3}})
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "shape [-1 -1]") || !strings.Contains(err.Error(), "sample shape [1 3]") {
		t.Errorf("rank mismatch: %v", err)
	}
	s := open(t, "converters/dynamic_features.onnx", Options{SampleShape: []int64{3}})
	if !reflect.DeepEqual(s.Input().Shape, []int64{-1, 3}) || !reflect.DeepEqual(s.SampleShape(), []int64{3}) ||
		!reflect.DeepEqual(s.Adaptation().InputShape, []int64{-1, 3}) || s.Adaptation().Changed() {
		t.Errorf("input %+v sample %v adaptation %+v", s.Input(), s.SampleShape(), s.Adaptation())
	}
	if !reflect.DeepEqual(s.Info().Inputs[0].Shape, []int64{-1, -1}) {
		t.Errorf("Info() should keep the model's declaration, got %v", s.Info().Inputs[0].Shape)
	}
	// logits = x @ [[1,0],[0,1],[1,-1]] from make_converters.py.
	x := []float32{1, 2, 3, -1, 0.5, 2}
	closeTo64(t, "logits", runAll(t, s, x), []float64{4, -1, 1, -1.5}, convTol)

	// A static input ignores the data's shape (the data is fitted later).
	s2 := open(t, "mlp_logits.onnx", Options{SampleShape: []int64{2, 2}})
	if s2.Adaptation().InputShape != nil || !reflect.DeepEqual(s2.SampleShape(), []int64{4}) {
		t.Errorf("static input: %+v", s2.Adaptation())
	}
}

// TestClassifierWithoutZipMap: skl2onnx's zipmap=False form has a float32
// [N, C] output read as it is; its class labels come from the classifier
// node. The model is skl_linear_int.onnx with the ZipMap removed and
// "probabilities" made the output.
func TestClassifierWithoutZipMap(t *testing.T) {
	m, err := onnx.Load(fixture("converters/skl_linear_int.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	g := m.Proto.GetGraph()
	g.Node = g.Node[:len(g.Node)-1] // the ZipMap
	g.Output = []*onnxpb.ValueInfoProto{g.Output[0], onnx.ValueInfo("probabilities", onnx.Float32, []int64{-1, 2})}
	p := filepath.Join(t.TempDir(), "nozipmap.onnx")
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	s, err := Open(testEnv(t), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := s.Adaptation()
	if s.Output().Name != "probabilities" || a.Changed() || !reflect.DeepEqual(a.ClassLabels, ClassLabels{Ints: []int64{3, 7}}) {
		t.Errorf("output %+v adaptation %+v", s.Output(), a)
	}
	if s.Model() != nil && s.Model().SHA256 != s.Info().SHA256 {
		t.Errorf("an unchanged model should be run as read")
	}
}
