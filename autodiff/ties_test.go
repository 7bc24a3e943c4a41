package autodiff_test

import (
	"math"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// tieTol bounds the error of the tie gradients: they are 0, 1 and the
// fractions 1/2, 1/3, 2/3 of a float32 sum, exact up to one rounding.
const tieTol = 1e-6

// TestTieConventions checks the gradient of the selection rules on exact
// ties, where finite differences cannot: Max/Min and ReduceMax/ReduceMin
// split it evenly among the tied inputs or positions (PyTorch's
// torch.maximum and amax), GlobalMaxPool gives it all to the first maximal
// element in row-major order (PyTorch's adaptive_max_pool2d, and MaxPool
// here). Each want is that convention applied by hand to x, with the loss
// the sum of the output.
func TestTieConventions(t *testing.T) {
	needORT(t)
	for _, tc := range []struct {
		name  string
		shape []int64 // one sample
		x     []float32
		build func(b *B, x string) string
		want  []float64
	}{
		{"Max_const_tie", []int64{4}, []float32{0.5, 1, 0, 0.5}, func(b *B, x string) string {
			return b.Op("Max", []string{x, b.ConstFloat("c", onnx.Float32, []int64{4}, []float64{0.5, 0.5, 0.5, 0.5})})
		}, []float64{0.5, 1, 0, 0.5}},
		// Max(x, x, −x): x = 1: two x's tie, 1/2 each; x = −1: −x wins, −1;
		// x = 0: all three tie, 2/3 − 1/3; x = 2: 1
		{"Max_three_way", []int64{4}, []float32{1, -1, 0, 2}, func(b *B, x string) string {
			return b.Op("Max", []string{x, x, b.Op("Neg", []string{x})})
		}, []float64{1, -1, 1.0 / 3, 1}},
		{"Min_broadcast_tie", []int64{2, 2}, []float32{0, 1, -1, 0}, func(b *B, x string) string {
			return b.Op("Min", []string{x, b.ConstFloat("c", onnx.Float32, []int64{2}, []float64{0, 0})})
		}, []float64{0.5, 0, 1, 0.5}},
		{"ReduceMax_three_tied", []int64{4}, []float32{2, 2, 2, 1}, func(b *B, x string) string {
			return b.Reduce("ReduceMax", x, []int64{1}, false)
		}, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3, 0}},
		{"ReduceMin_two_tied", []int64{4}, []float32{1, 0, 0, 3}, func(b *B, x string) string {
			return b.Reduce("ReduceMin", x, []int64{1}, true)
		}, []float64{0, 0.5, 0.5, 0}},
		{"GlobalMaxPool_first", []int64{1, 2, 2}, []float32{1, 3, 3, 0}, func(b *B, x string) string {
			return b.Op("GlobalMaxPool", []string{x})
		}, []float64{0, 1, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := onnx.NewModel(tc.name, 17)
			b := onnx.NewBuilder(m, "t/")
			b.AddInput("x", onnx.Float32, append([]int64{-1}, tc.shape...), "N")
			y := tc.build(b, "x")
			b.AddOutput(y, onnx.Float32, nil)
			s, _ := gradModel(t, m, autodiff.Spec{Loss: autodiff.LossReduce, Tensor: y}, ortexec.Options{IntraOpThreads: 1})
			out, err := s.Run([]ortexec.Tensor{{Shape: append([]int64{1}, tc.shape...), F32: tc.x}})
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if g := float64(out[1].F32[i]); math.Abs(g-w) > tieTol {
					t.Errorf("x = %v: gradient[%d] = %g, want %g", tc.x, i, g, w)
				}
			}
		})
	}
}

// TestConvTransposeUnsupportedForms checks that the ConvTranspose forms
// without a rule (auto_pad SAME_*, output_shape, output_padding not below
// the stride) fail the build with exit code 2 and a message naming them.
func TestConvTransposeUnsupportedForms(t *testing.T) {
	for _, tc := range []struct {
		attrs []*onnxpb.AttributeProto
		want  string
	}{
		{[]*onnxpb.AttributeProto{as("auto_pad", "SAME_UPPER"), ais("strides", 2, 2)}, "auto_pad=SAME_UPPER"},
		{[]*onnxpb.AttributeProto{ais("output_shape", 8, 8), ais("strides", 2, 2)}, "output_shape"},
		{[]*onnxpb.AttributeProto{ais("strides", 2, 2), ais("dilations", 3, 3), ais("output_padding", 2, 0)}, "output_padding 2"},
	} {
		m := onnx.NewModel("ct", 17)
		b := onnx.NewBuilder(m, "t/")
		b.AddInput("x", onnx.Float32, []int64{-1, 2, 4, 4}, "N")
		y := b.Op("ConvTranspose", []string{"x", b.ConstFloat("w", onnx.Float32, []int64{2, 3, 3, 3}, make([]float64, 54))}, tc.attrs...)
		b.AddOutput(y, onnx.Float32, nil)
		_, err := autodiff.Build(m, autodiff.Spec{Loss: autodiff.LossReduce, Tensor: y})
		if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v (code %d), want code 2 mentioning %q", err, errs.Code(err, 0), tc.want)
		}
	}
}

// TestSelectionAndZeroGradients checks, on exact values where finite
// differences cannot, that TopK routes the gradient to the positions its
// indices output names (on a tie, ONNX Runtime's TopK takes the lower
// index) and that ReduceProd's gradient is the product of the other
// elements, exact with zeros. Each want is that rule applied by hand, with
// the loss the sum of the output.
func TestSelectionAndZeroGradients(t *testing.T) {
	needORT(t)
	for _, tc := range []struct {
		name  string
		x     []float32
		build func(b *B, x string) string
		want  []float64
	}{
		// top 2 of [1, 3, 3, 0]: positions 1 and 2
		{"TopK_tie", []float32{1, 3, 3, 0}, func(b *B, x string) string {
			return b.Node("TopK", []string{x, b.ConstI64(2)}, 2, ai("axis", 1))[0]
		}, []float64{0, 1, 1, 0}},
		// top 1 of [2, 5, 5, 5]: position 1, the first of the tied
		{"TopK_three_tied_first", []float32{2, 5, 5, 5}, func(b *B, x string) string {
			return b.Node("TopK", []string{x, b.ConstI64(1)}, 2, ai("axis", 1))[0]
		}, []float64{0, 1, 0, 0}},
		// no zero: y/x with y = 2·(−1)·0.5·4 = −4
		{"ReduceProd_no_zero", []float32{2, -1, 0.5, 4}, func(b *B, x string) string {
			return b.Reduce("ReduceProd", x, []int64{1}, false)
		}, []float64{-2, 4, -8, -1}},
		// one zero: it gets 2·3·0.5 = 3, the others 0
		{"ReduceProd_one_zero", []float32{2, 0, 3, 0.5}, func(b *B, x string) string {
			return b.Reduce("ReduceProd", x, []int64{1}, false)
		}, []float64{0, 3, 0, 0}},
		// two zeros: every product of three others has a zero factor
		{"ReduceProd_two_zeros", []float32{0, 0, 3, 1}, func(b *B, x string) string {
			return b.Reduce("ReduceProd", x, []int64{1}, true)
		}, []float64{0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := onnx.NewModel(tc.name, 17)
			b := onnx.NewBuilder(m, "t/")
			b.AddInput("x", onnx.Float32, []int64{-1, int64(len(tc.x))}, "N")
			y := tc.build(b, "x")
			b.AddOutput(y, onnx.Float32, nil)
			s, _ := gradModel(t, m, autodiff.Spec{Loss: autodiff.LossReduce, Tensor: y}, ortexec.Options{IntraOpThreads: 1})
			out, err := s.Run([]ortexec.Tensor{{Shape: []int64{1, int64(len(tc.x))}, F32: tc.x}})
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if g := float64(out[1].F32[i]); math.Abs(g-w) > tieTol || math.IsNaN(g) {
					t.Errorf("x = %v: gradient[%d] = %g, want %g", tc.x, i, g, w)
				}
			}
		})
	}
}

// TestExtraUnsupportedForms checks that the forms of the newer rules
// without a gradient fail the build with exit code 2 and a message naming
// them: an Einsum index repeated within an operand (a diagonal), an
// LpNormalization with p other than 1 and 2, a CRD DepthToSpace whose
// channel count is unknown and a Resize in cubic mode.
func TestExtraUnsupportedForms(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape []int64
		build func(b *B, x string) string
		want  string
	}{
		{"einsum_diagonal", []int64{-1, 3, 3}, func(b *B, x string) string {
			return b.Op("Einsum", []string{x}, as("equation", "bii->bi"))
		}, `"bii->bi"`},
		{"lpnorm_p3", []int64{-1, 3}, func(b *B, x string) string {
			return b.Op("LpNormalization", []string{x}, ai("p", 3))
		}, "p=3"},
		{"depthtospace_crd_dynamic_channels", []int64{-1, -1, 2, 2}, func(b *B, x string) string {
			return b.Op("DepthToSpace", []string{x}, ai("blocksize", 2), as("mode", "CRD"))
		}, "channel count"},
		{"resize_cubic", []int64{-1, 1, 2, 2}, func(b *B, x string) string {
			sc := b.ConstFloat("scales", onnx.Float32, []int64{4}, []float64{1, 1, 2, 2})
			return b.Op("Resize", []string{x, "", sc}, as("mode", "cubic"))
		}, `mode "cubic"`},
	} {
		m := onnx.NewModel(tc.name, 17)
		b := onnx.NewBuilder(m, "t/")
		b.AddInput("x", onnx.Float32, tc.shape, "N")
		y := b.Op("Tanh", []string{tc.build(b, "x")})
		b.AddOutput(y, onnx.Float32, nil)
		_, err := autodiff.Build(m, autodiff.Spec{Loss: autodiff.LossReduce, Tensor: y})
		if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v (code %d), want code 2 mentioning %q", tc.name, err, errs.Code(err, 0), tc.want)
		}
	}
}
