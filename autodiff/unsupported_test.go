package autodiff_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// TestUnsupported builds a model with three ops that have no rule on the
// input-to-output path (Asin, Acos and a com.microsoft op), a rule-less
// op off that path (on a constant) and a shape-only subgraph, and checks
// that exactly the three are listed, by op and node name.
func TestUnsupported(t *testing.T) {
	m := onnx.NewModel("u", 17)
	b := onnx.NewBuilder(m, "u/")
	b.AddInput("x", onnx.Float32, []int64{-1, 4}, "N")
	a := b.Op("Asin", []string{"x"})
	h := b.Op("Acos", []string{a})
	ms := b.NodeOut("FusedGemm", []string{h, b.ConstFloat("w", onnx.Float32, []int64{4, 4}, make([]float64, 16))}, []string{"fg"})
	ms.Domain = proto.String("com.microsoft")
	off := b.Op("Abs", []string{b.ConstFloat("c", onnx.Float32, []int64{4}, make([]float64, 4))}) // no x: no gradient needed
	y := b.Op("Add", []string{"fg", off})
	shp := b.Shape(y) // shape-only: carries no gradient
	b.NodeOut("Reshape", []string{y, shp}, []string{"out"})
	b.AddOutput("out", onnx.Float32, []int64{-1, 4}, "N")
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	got := autodiff.Unsupported(m)
	want := []autodiff.UnsupportedOp{{Op: "Asin", Node: "u/Asin_2"}, {Op: "Acos", Node: "u/Acos_4"}, {Op: "FusedGemm", Domain: "com.microsoft", Node: "u/FusedGemm_7"}}
	if len(got) != len(want) {
		t.Fatalf("Unsupported = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Unsupported[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if ok, _ := autodiff.WhiteBox(m); ok {
		t.Error("WhiteBox = true")
	}
	if info := autodiff.Inspect(m); info.WhiteBox || len(info.Unsupported) != 3 {
		t.Errorf("Inspect = %+v", info)
	}
	_, err := autodiff.Build(m, autodiff.Spec{Loss: "reduce", Tensor: "out"})
	if err == nil {
		t.Fatal("Build succeeded")
	}
	if errs.Code(err, 0) != errs.Invalid || autodiff.AsUnsupported(err) == nil {
		t.Fatalf("error %v: code %d, want an UnsupportedError with code 2", err, errs.Code(err, 0))
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w.Node) {
			t.Errorf("error %q does not name node %s", err, w.Node)
		}
	}
}

func TestWhiteBoxFixtures(t *testing.T) {
	dir := visionDir(t)
	for _, name := range []string{"mnist_cnn", "mnist_mlp", "mnist_backdoor_cnn", "mnist_overfit_mlp"} {
		m, err := onnx.Load(filepath.Join(dir, name+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		if ok, u := autodiff.WhiteBox(m); !ok {
			t.Errorf("%s: not white-box: %+v", name, u)
		}
	}
}

// TestSpecErrors checks bad specs give exit code 2 with the offending name.
func TestSpecErrors(t *testing.T) {
	// Spec errors need only a model: the repository's digits CNN (input
	// "input", output "logits", initializer "features.0.weight").
	m, err := onnx.Load(testutil.Example(t, "digits_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spec autodiff.Spec
		want string
	}{
		{autodiff.Spec{Input: "nope"}, `"nope"`},
		{autodiff.Spec{Output: "nope"}, `"nope"`},
		{autodiff.Spec{Loss: "logit:x"}, "logit:x"},
		{autodiff.Spec{Loss: "reduce"}, "name the tensor"},
		{autodiff.Spec{Loss: "reduce", Tensor: "features.0.weight"}, "does not depend"},
		{autodiff.Spec{OutputKind: "scores"}, "scores"},
		{autodiff.Spec{LossName: "logits"}, `"logits" is already used`},
	} {
		_, err := autodiff.Build(m, tc.spec)
		if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("spec %+v: error %v, want code 2 mentioning %s", tc.spec, err, tc.want)
		}
	}
}
