package autodiff_test

import (
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// batchTol bounds the relative L2 difference between a sample's gradient
// computed alone and inside a batch of 16. The samples do not interact, so
// only kernel choices that depend on the batch size can change rounding
// (float32, ~1e-7 per operation).
const batchTol = 1e-5

// TestBatchIndependence checks that each sample's gradient is its own
// (the issue: "independent of batch size") on mnist_cnn, for ce and cw.
func TestBatchIndependence(t *testing.T) {
	needORT(t)
	dir := visionDir(t)
	m, err := onnx.Load(filepath.Join(dir, "mnist_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var x []float32
	var y []int64
	if err := readNPY(filepath.Join(dir, "mnist_test_x.npy"), &x); err != nil {
		t.Fatal(err)
	}
	if err := readNPY(filepath.Join(dir, "mnist_test_y.npy"), &y); err != nil {
		t.Fatal(err)
	}
	const n, per = 16, 784
	for _, loss := range []string{"ce", "cw"} {
		s, _ := gradModel(t, m, autodiff.Spec{Loss: loss}, ortexec.Options{})
		all, err := s.Run([]ortexec.Tensor{{Shape: []int64{n, 1, 28, 28}, F32: x[:n*per]}, {Shape: []int64{n}, I64: y[:n]}})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			one, err := s.Run([]ortexec.Tensor{{Shape: []int64{1, 1, 28, 28}, F32: x[i*per : (i+1)*per]}, {Shape: []int64{1}, I64: y[i : i+1]}})
			if err != nil {
				t.Fatal(err)
			}
			if e := relL2(one[1].F32, all[1].F32[i*per:(i+1)*per], nil); e > batchTol {
				t.Errorf("%s sample %d: alone vs in a batch of %d: relative L2 %.3g > %.g", loss, i, n, e, batchTol)
			}
		}
	}
}
