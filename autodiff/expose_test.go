package autodiff_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// exposeTol bounds |logit − (W₂h + b₂)| when the Go recomputation of
// mnist_cnn's last Gemm (128 products in float64) is compared with ORT's
// float32 result: logits are O(10), float32 resolution there is ~1e-6.
const exposeTol = 1e-4

// TestExposeTensorORT exposes mnist_cnn's penultimate activation (the 128
// ReLU outputs) as an extra output, runs the model in ORT and checks that
// the logits equal fc2.weight · h + fc2.bias computed in Go from the
// model's own initializers.
func TestExposeTensorORT(t *testing.T) {
	needORT(t)
	dir := visionDir(t)
	m, err := onnx.Load(filepath.Join(dir, "mnist_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	const h = "/relu3/Relu_output_0"
	if err := m.ExposeTensor(h); err != nil {
		t.Fatal(err)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ortexec.NewSession(b, []string{"input"}, []string{"logits", h}, ortexec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var x []float32
	if err := readNPY(filepath.Join(dir, "mnist_test_x.npy"), &x); err != nil {
		t.Fatal(err)
	}
	const n = 16
	out, err := s.Run([]ortexec.Tensor{{Shape: []int64{n, 1, 28, 28}, F32: x[:n*784]}})
	if err != nil {
		t.Fatal(err)
	}
	logits, act := out[0].F32, out[1].F32
	if len(out[1].Shape) != 2 || out[1].Shape[0] != n || out[1].Shape[1] != 128 {
		t.Fatalf("exposed shape %v, want [%d 128]", out[1].Shape, n)
	}
	w, err := onnx.TensorValues(m.Initializer("fc2.weight"))
	if err != nil {
		t.Fatal(err)
	}
	bias, err := onnx.TensorValues(m.Initializer("fc2.bias"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		for k := 0; k < 10; k++ {
			z := bias[k]
			for j := 0; j < 128; j++ {
				z += w[k*128+j] * float64(act[i*128+j])
			}
			if d := math.Abs(z - float64(logits[i*10+k])); d > exposeTol {
				t.Fatalf("sample %d logit %d: ORT %v, Go from exposed activation %v", i, k, logits[i*10+k], z)
			}
		}
	}
}
