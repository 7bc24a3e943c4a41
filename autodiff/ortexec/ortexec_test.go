package ortexec_test

import (
	"errors"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"

	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

func TestFindLibraryEnv(t *testing.T) {
	t.Setenv(ortexec.EnvLibrary, "/nonexistent/libonnxruntime.so")
	if _, err := ortexec.FindLibrary(); !errors.Is(err, ortexec.ErrNoLibrary) {
		t.Fatalf("error %v, want ErrNoLibrary", err)
	}
}

// TestRunTypes runs y = x·2 (float64), z = Cast(i) (int64 → float32) and
// checks the values and the input-count error.
func TestRunTypes(t *testing.T) {
	if err := ortexec.Init(testutil.ORTLibrary(t)); err != nil {
		t.Fatal(err)
	}
	m := onnx.NewModel("types", 17)
	b := onnx.NewBuilder(m, "")
	b.AddInput("x", onnx.Float64, []int64{-1})
	b.AddInput("i", onnx.Int64, []int64{-1})
	b.NodeOut("Mul", []string{"x", b.Scalar(2, onnx.Float64)}, []string{"y"})
	b.NodeOut("Cast", []string{"i"}, []string{"z"}, onnx.AttrInt("to", int64(onnx.Float32)))
	b.AddOutput("y", onnx.Float64, []int64{-1})
	b.AddOutput("z", onnx.Float32, []int64{-1})
	bs, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ortexec.NewSession(bs, []string{"x", "i"}, []string{"y", "z"}, ortexec.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run([]ortexec.Tensor{{Shape: []int64{3}, F64: []float64{1, -2.5, 1e300}}, {Shape: []int64{2}, I64: []int64{7, -3}}})
	if err != nil {
		t.Fatal(err)
	}
	if y := out[0].F64; len(y) != 3 || y[0] != 2 || y[1] != -5 || y[2] != 2e300 {
		t.Errorf("y = %v", y)
	}
	if z := out[1].F32; len(z) != 2 || z[0] != 7 || z[1] != -3 {
		t.Errorf("z = %v", z)
	}
	if _, err := s.Run(nil); err == nil {
		t.Error("no error for a missing input")
	}
}
