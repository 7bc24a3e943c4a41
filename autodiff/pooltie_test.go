package autodiff_test

import (
	"fmt"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// TestMaxPoolOverlapTies checks overlapping MaxPool windows on exact ties,
// where finite differences cannot: the gradient goes where ONNX Runtime's
// forward Indices put each window's maximum (the first maximal element in
// row-major order), and windows sharing their maximum add up. It runs the
// offset routing (opset 11, and forced at 16) and the ScatterElements
// path (opset 16). The wants are worked by hand for a 4×4 plane under a
// 3×3 window, stride 2, pad 1 (ResNet's stem pool), loss = Σ outputs:
// the four windows cover rows/cols {0,1}, {0,1}×{1,2,3}, {1,2,3}×{0,1},
// {1,2,3}×{1,2,3}.
func TestMaxPoolOverlapTies(t *testing.T) {
	needORT(t)
	ones := make([]float32, 16)
	for i := range ones {
		ones[i] = 1
	}
	peak := make([]float32, 16)
	peak[5] = 1 // (1, 1) lies in all four windows
	for _, tc := range []struct {
		name string
		x    []float32
		want []float64
	}{
		// all tied: each window's first element, (0,0), (0,1), (1,0), (1,1)
		{"all_tied", ones, []float64{1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		// one maximum shared by the four windows: they add up there
		{"shared_max", peak, []float64{0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	} {
		for _, v := range []struct {
			opset int64
			force bool
		}{{11, false}, {16, false}, {16, true}} {
			t.Run(fmt.Sprintf("%s_opset%d_offsets=%v", tc.name, v.opset, v.force || v.opset < 16), func(t *testing.T) {
				*autodiff.ForceOffsetRouting = v.force
				defer func() { *autodiff.ForceOffsetRouting = false }()
				m := onnx.NewModel("pool", v.opset)
				b := onnx.NewBuilder(m, "t/")
				b.AddInput("x", onnx.Float32, []int64{-1, 1, 4, 4}, "N")
				y := b.Op("MaxPool", []string{"x"}, ais("kernel_shape", 3, 3), ais("strides", 2, 2), ais("pads", 1, 1, 1, 1))
				b.AddOutput(y, onnx.Float32, nil)
				s, _ := gradModel(t, m, autodiff.Spec{Loss: autodiff.LossReduce, Tensor: y}, ortexec.Options{IntraOpThreads: 1})
				out, err := s.Run([]ortexec.Tensor{{Shape: []int64{1, 1, 4, 4}, F32: tc.x}})
				if err != nil {
					t.Fatal(err)
				}
				for i, w := range tc.want {
					if g := float64(out[1].F32[i]); g != w {
						t.Errorf("gradient[%d] = %g, want %g (all: %v)", i, g, w, out[1].F32)
					}
				}
			})
		}
	}
}
