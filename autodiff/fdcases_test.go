package autodiff_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

type B = onnx.Builder

// op1 returns a builder applying one operator to x with extra constant
// inputs made by more.
func op1(op string, attrs ...*onnxpb.AttributeProto) builder {
	return func(b *B, x string, elem int32, r *rand.Rand) string {
		return b.Op(op, []string{x}, attrs...)
	}
}

func scal(b *B, elem int32, v float64) string { return b.ConstFloat("s", elem, nil, []float64{v}) }

var (
	ai  = onnx.AttrInt
	ais = onnx.AttrInts
	af  = onnx.AttrFloat
	as  = onnx.AttrString
)

func fdCases() []fdCase {
	img := []int64{2, 7, 8} // C, H, W: odd and even sizes
	return append([]fdCase{
		// --- elementwise and broadcasting
		{name: "Add_broadcast", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Add", []string{x, cst(b, e, r, 4)})
		}},
		{name: "Add_self_broadcast_col", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			col := b.ReduceSum(x, []int64{2}, true) // [N,3,1], depends on x
			return b.Op("Add", []string{x, col})
		}},
		{name: "Sub_both", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Sub", []string{cst(b, e, r, 3, 1), b.Op("Mul", []string{x, x})})
		}},
		{name: "Mul_broadcast", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Mul", []string{cst(b, e, r, 3, 1), x})
		}},
		{name: "Div_both", shape: []int64{5}, pos: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Div", []string{b.Op("Exp", []string{x}), x})
		}},
		{name: "Neg", shape: []int64{5}, build: op1("Neg")},
		{name: "Sum_variadic", shape: []int64{4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Sum", []string{x, b.Op("Tanh", []string{x}), cst(b, e, r, 4)})
		}},
		{name: "Pow_3", shape: []int64{5}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Pow", []string{x, scal(b, e, 3)})
		}},
		{name: "Pow_half", shape: []int64{5}, pos: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Pow", []string{x, scal(b, e, 0.5)})
		}},
		{name: "Pow_2", shape: []int64{5}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Pow", []string{x, scal(b, e, 2)})
		}},
		{name: "Relu", shape: []int64{12}, build: op1("Relu")},
		{name: "LeakyRelu", shape: []int64{12}, f32: true, build: op1("LeakyRelu", af("alpha", 0.2))},
		{name: "Sigmoid", shape: []int64{6}, build: op1("Sigmoid")},
		{name: "Tanh", shape: []int64{6}, build: op1("Tanh")},
		{name: "Exp", shape: []int64{6}, build: op1("Exp")},
		{name: "Log", shape: []int64{6}, pos: true, build: op1("Log")},
		{name: "Sqrt", shape: []int64{6}, pos: true, build: op1("Sqrt")},
		{name: "Erf", shape: []int64{6}, f32: true, build: op1("Erf")},
		{name: "Softmax_13_axis1", shape: []int64{4, 3}, build: op1("Softmax", ai("axis", 1))},
		{name: "Softmax_13_default", shape: []int64{4, 3}, build: op1("Softmax")},
		{name: "Softmax_11_coerced", opset: 11, shape: []int64{4, 3}, build: op1("Softmax", ai("axis", 1))},
		{name: "LogSoftmax_13", shape: []int64{5}, build: op1("LogSoftmax", ai("axis", -1))},
		{name: "LogSoftmax_11", opset: 11, shape: []int64{2, 3}, build: op1("LogSoftmax")},
		{name: "Identity", shape: []int64{3}, build: op1("Identity")},
		{name: "Dropout_inference", shape: []int64{3}, build: op1("Dropout")},
		{name: "Cast_f64_f32_f64", shape: []int64{4}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Cast(b.Op("Tanh", []string{b.Cast(x, onnx.Float64)}), e)
		}},
		{name: "Clip_11", opset: 11, f32: true, shape: []int64{16}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Clip", []string{x, scal(b, e, -0.5), scal(b, e, 0.5)})
		}},
		{name: "Clip_min_only", shape: []int64{16}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Clip", []string{x, scal(b, e, -0.2)})
		}},

		// --- beyond the list
		{name: "Abs", shape: []int64{8}, build: op1("Abs")},
		{name: "Reciprocal", shape: []int64{5}, pos: true, build: op1("Reciprocal")},
		{name: "Softplus", f32: true, shape: []int64{6}, build: op1("Softplus")},
		{name: "Elu", f32: true, shape: []int64{8}, build: op1("Elu", af("alpha", 0.7))},
		{name: "Selu", f32: true, shape: []int64{8}, build: op1("Selu")},
		{name: "HardSigmoid", f32: true, shape: []int64{8}, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("HardSigmoid", []string{b.Op("Mul", []string{x, scal(b, e, 1.5)})}, af("alpha", 0.4))
		}},
		{name: "HardSwish", f32: true, shape: []int64{8}, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("HardSwish", []string{b.Op("Mul", []string{x, scal(b, e, 1.5)})})
		}},
		{name: "Gelu_20", f32: true, opset: 20, shape: []int64{6}, build: op1("Gelu")},
		{name: "PRelu_both", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			slope := b.Op("Tanh", []string{b.ReduceSum(x, []int64{2}, true)}) // [N,3,1], depends on x
			return b.Op("PRelu", []string{x, slope})
		}},
		{name: "Expand", shape: []int64{3, 1}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Mul", []string{b.Op("Expand", []string{x, b.ConstI64(1, 3, 4)}), cst(b, e, r, 3, 4)})
		}},
		{name: "Mean_variadic", f32: true, shape: []int64{4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Mean", []string{x, b.Op("Exp", []string{x}), cst(b, e, r, 4)})
		}},

		// --- dynamic sizes: broadcasting undone at run time (opset 13+)
		{name: "Add_dynamic_dims", dynamic: true, shape: []int64{3, 4}, outShape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			col := b.ReduceSum(x, []int64{2}, true) // [N,?,1]
			return b.Op("Mul", []string{b.Op("Add", []string{x, cst(b, e, r, 4)}), col})
		}},
		{name: "Concat_dynamic_dims", dynamic: true, shape: []int64{2, 3}, outShape: []int64{4, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Concat", []string{x, b.Op("Exp", []string{x})}, ai("axis", 1))
		}},

		// --- linear algebra
		{name: "Gemm_transB_bias", shape: []int64{5}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Gemm", []string{x, cst(b, e, r, 3, 5), cst(b, e, r, 3)}, ai("transB", 1), af("alpha", 0.7), af("beta", 1.3))
		}},
		{name: "Gemm_plain", shape: []int64{5}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Gemm", []string{x, cst(b, e, r, 5, 3)})
		}},
		{name: "Gemm_x_as_B", shape: []int64{4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			// y = (W xᵀ)ᵀ with transA on W: B depends on x, A does not
			xt := b.Op("Transpose", []string{x}, ais("perm", 1, 0))
			y := b.Op("Gemm", []string{cst(b, e, r, 4, 3), xt}, ai("transA", 1))
			return b.Op("Transpose", []string{y}, ais("perm", 1, 0))
		}},
		{name: "Gemm_transA_on_x", shape: []int64{4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			xt := b.Op("Transpose", []string{b.Op("Tanh", []string{x})}, ais("perm", 1, 0))
			return b.Op("Gemm", []string{xt, cst(b, e, r, 4, 3)}, ai("transA", 1))
		}},
		{name: "ReduceSum_13_noop_empty", opset: 13, shape: []int64{3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("ReduceSum", []string{b.Op("Exp", []string{x}), b.ConstI64()}, ai("noop_with_empty_axes", 1))
		}},
		{name: "MatMul_3d_2d", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("MatMul", []string{x, cst(b, e, r, 4, 2)})
		}},
		{name: "MatMul_both", shape: []int64{3, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("MatMul", []string{x, b.Op("Tanh", []string{x})})
		}},
		{name: "MatMul_broadcast_batch", shape: []int64{2, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			// [3,2,4]ᵀ-style: W [3,4,2] batched against x [N,1,2,3]
			x4 := b.Unsqueeze(x, 1)
			return b.Op("MatMul", []string{x4, cst(b, e, r, 3, 3, 2)})
		}},

		// --- convolution and pooling (ORT has float32 kernels only)
		{name: "Conv_basic_bias", shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Conv", []string{x, cst(b, e, r, 3, 2, 3, 3), cst(b, e, r, 3)})
		}},
		{name: "Conv_stride2_pads", shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Conv", []string{x, cst(b, e, r, 3, 2, 3, 2)}, ais("strides", 2, 2), ais("pads", 1, 0, 0, 1))
		}},
		{name: "Conv_dilation_groups", shape: []int64{4, 7, 8}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Conv", []string{x, cst(b, e, r, 6, 2, 2, 3)}, ais("dilations", 2, 1), ai("group", 2), ais("strides", 1, 2))
		}},
		{name: "Conv_same_upper_stride2", shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Conv", []string{x, cst(b, e, r, 2, 2, 3, 3)}, as("auto_pad", "SAME_UPPER"), ais("strides", 2, 2))
		}},
		{name: "Conv_same_lower", shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Conv", []string{x, cst(b, e, r, 2, 2, 2, 2)}, as("auto_pad", "SAME_LOWER"))
		}},
		{name: "Conv_1d", shape: []int64{2, 9}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Conv", []string{x, cst(b, e, r, 3, 2, 3)}, ais("strides", 2))
		}},
		{name: "MaxPool_2x2", distinct: true, shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("MaxPool", []string{x}, ais("kernel_shape", 2, 2), ais("strides", 2, 2))
		}},
		{name: "MaxPool_pads", distinct: true, shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("MaxPool", []string{x}, ais("kernel_shape", 2, 3), ais("strides", 2, 3), ais("pads", 1, 1, 0, 0))
		}},
		{name: "MaxPool_ceil_16", opset: 16, distinct: true, shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("MaxPool", []string{x}, ais("kernel_shape", 2, 3), ais("strides", 2, 3), ai("ceil_mode", 1))
		}},
		{name: "MaxPool_overlap_16", distinct: true, opset: 16, shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("MaxPool", []string{x}, ais("kernel_shape", 3, 3), ais("strides", 2, 2))
		}},
		{name: "AveragePool_2x2", shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("AveragePool", []string{x}, ais("kernel_shape", 2, 2), ais("strides", 2, 2))
		}},
		{name: "AveragePool_pads_exclude", shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("AveragePool", []string{x}, ais("kernel_shape", 3, 3), ais("strides", 2, 2), ais("pads", 1, 1, 1, 1))
		}},
		{name: "AveragePool_pads_include", shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("AveragePool", []string{x}, ais("kernel_shape", 3, 3), ais("strides", 2, 2), ais("pads", 1, 1, 1, 1), ai("count_include_pad", 1))
		}},
		{name: "GlobalAveragePool", shape: img, f32: true, build: op1("GlobalAveragePool")},
		{name: "BatchNormalization", shape: img, build: func(b *B, x string, e int32, r *rand.Rand) string {
			v := b.ConstFloat("var", e, []int64{2}, []float64{0.5, 2})
			return b.Op("BatchNormalization", []string{x, cst(b, e, r, 2), cst(b, e, r, 2), cst(b, e, r, 2), v}, af("epsilon", 1e-3))
		}},
		{name: "LayerNormalization_last", shape: []int64{3, 5}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("LayerNormalization", []string{x, cst(b, e, r, 5), cst(b, e, r, 5)})
		}},
		{name: "LayerNormalization_axis1", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("LayerNormalization", []string{x, cst(b, e, r, 3, 4)}, ai("axis", 1), af("epsilon", 1e-2))
		}},

		// --- shape operators
		{name: "Flatten", shape: []int64{2, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Tanh", []string{b.Op("Flatten", []string{x})})
		}},
		{name: "Reshape_shape_subgraph", shape: []int64{2, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			// target [N, 6] computed from Shape/Gather/Unsqueeze/Concat: no gradient
			n := b.Op("Gather", []string{b.Shape(x), b.ScalarI64(0)})
			tgt := b.Op("Concat", []string{b.Unsqueeze(n, 0), b.ConstI64(6)}, ai("axis", 0))
			y := b.Op("Reshape", []string{x, tgt})
			return b.ReduceSum(b.Op("Mul", []string{y, b.Op("Exp", []string{y})}), []int64{1}, true)
		}},
		{name: "Transpose", shape: []int64{2, 3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Transpose", []string{b.Op("Mul", []string{x, cst(b, e, r, 2, 3, 4)})}, ais("perm", 0, 3, 1, 2))
		}},
		{name: "Concat_const", shape: []int64{2, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Concat", []string{b.Op("Mul", []string{x, cst(b, e, r, 2, 3)}), x}, ai("axis", 1))
		}},
		{name: "Concat_both", shape: []int64{2, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Concat", []string{x, b.Op("Exp", []string{x}), x}, ai("axis", 2))
		}},
		{name: "Split_13_unused", shape: []int64{5, 2}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			p := b.Split(x, 1, []int64{2, 1, 2})
			return b.Op("Mul", []string{p[0], p[2]})
		}},
		{name: "Split_11_attr", opset: 11, shape: []int64{4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			p := b.Split(x, 1, []int64{1, 3})
			return b.Op("Concat", []string{p[1], b.Op("Exp", []string{p[0]})}, ai("axis", 1))
		}},
		{name: "Slice", shape: []int64{5, 6}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Slice(x, []int64{1, -4}, []int64{100, -1}, []int64{1, -1})
		}},
		{name: "Squeeze_Unsqueeze_13", shape: []int64{1, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Unsqueeze(b.Op("Exp", []string{b.Squeeze(x, 1)}), 2)
		}},
		{name: "Squeeze_Unsqueeze_11", opset: 11, shape: []int64{1, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Unsqueeze(b.Op("Exp", []string{b.Squeeze(x, 1)}), 2)
		}},
		{name: "Pad_constant", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Pad", []string{b.Op("Sigmoid", []string{x}), b.ConstI64(0, 1, 0, 0, 2, 1), scal(b, e, 0.3)})
		}},
		{name: "Pad_18_axes", opset: 18, shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Pad", []string{x, b.ConstI64(2, 1), scal(b, e, 0), b.ConstI64(-1)})
		}},
		{name: "ReduceSum_13_keep0", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.ReduceSum(b.Op("Mul", []string{x, x}), []int64{-1}, false)
		}},
		{name: "ReduceSum_11_attr", opset: 11, shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.ReduceSum(b.Op("Mul", []string{x, x}), []int64{1}, true)
		}},
		{name: "ReduceMean_13_attr", opset: 13, shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Reduce("ReduceMean", b.Op("Exp", []string{x}), []int64{1, 2}, false)
		}},
		{name: "ReduceMean_18_input", opset: 18, shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Reduce("ReduceMean", b.Op("Exp", []string{x}), []int64{1}, true)
		}},
		{name: "ReduceMean_21", opset: 21, shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Reduce("ReduceMean", b.Op("Exp", []string{x}), []int64{-1}, false)
		}},
	}, append(append(append(append(moreCases(), extraCases()...), resizeCases()...), poolCases()...), dropoutCases()...)...)
}

func TestFiniteDifferences(t *testing.T) {
	needORT(t)
	for _, fc := range fdCases() {
		t.Run(fc.name, func(t *testing.T) { runFD(t, fc) })
	}
}

// declare records t's per-sample shape (batch axis first, dynamic) as
// value_info, as exporters do, for operators whose output shape
// onnx.Infer does not work out (Sin, Cos, ThresholdedRelu, Celu, Tile,
// ConvTranspose): the loss weight and the rules after them need it.
func declare(b *B, t string, elem int32, dims ...int64) string {
	b.G.ValueInfo = append(b.G.ValueInfo, onnx.ValueInfo(t, elem, append([]int64{-1}, dims...), "N"))
	return t
}

// idx adds an int64 constant of the given dims (indices).
func idx(b *B, dims []int64, v ...int64) string {
	return b.Initializer(onnx.TensorI64("idx", dims, v))
}

// atOpsets returns fc at each opset, named with an _oNN suffix.
func atOpsets(fc fdCase, opsets ...int64) []fdCase {
	out := make([]fdCase, len(opsets))
	for i, o := range opsets {
		out[i] = fc
		out[i].opset = o
		out[i].name = fmt.Sprintf("%s_o%d", fc.name, o)
	}
	return out
}

// caseList collects finite-difference cases.
type caseList []fdCase

// add appends fc, repeated at each of opsets (atOpsets) when any are given.
func (cs *caseList) add(fc fdCase, opsets ...int64) {
	if len(opsets) == 0 {
		*cs = append(*cs, fc)
		return
	}
	*cs = append(*cs, atOpsets(fc, opsets...)...)
}

// moreCases checks the rules added with indexing and selection,
// ConvTranspose, Tile, InstanceNormalization and more elementwise ops,
// alone at the ends of the opset range (and where the signature changed)
// and in small compositions shaped like the models they come from. Cases
// with a max or a threshold use the distinct grid, so that no ±h step
// crosses a tie or a kink.
func moreCases() []fdCase {
	img := []int64{2, 7, 8}
	var cs caseList
	add := cs.add

	// --- Gather on the data input
	add(fdCase{name: "Gather_repeated_negative", shape: []int64{4, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// indices 3, −1 (= 3), 0, 0, 2: repeated indices sum their gradients
		return b.Op("Gather", []string{b.Op("Tanh", []string{x}), idx(b, []int64{5}, 3, -1, 0, 0, 2)}, ai("axis", 1))
	}}, 11, 13, 21)
	add(fdCase{name: "Gather_scalar_cls_token", shape: []int64{5, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// ViT's x[:, 0]: a scalar index drops the axis
		return b.Op("Gather", []string{b.Op("Exp", []string{x}), b.ScalarI64(0)}, ai("axis", 1))
	}}, 11, 17, 21)
	add(fdCase{name: "Gather_2d_indices_last_axis", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Gather", []string{x, idx(b, []int64{2, 3}, 1, -1, 1, 0, 3, 2)}, ai("axis", -1))
	}})
	add(fdCase{name: "Gather_int32_indices_middle", shape: []int64{2, 4, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		i32 := b.Cast(idx(b, []int64{3}, 2, 0, 2), onnx.Int32)
		return b.Op("Gather", []string{b.Op("Mul", []string{x, x}), i32}, ai("axis", 2))
	}})
	add(fdCase{name: "Gather_computed_indices", shape: []int64{5, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// indices Range(0, size of axis 1, 2) = [0, 2, 4], computed from
		// the shape (no static shape: the rule reshapes at run time)
		n1 := b.Op("Gather", []string{b.Shape(x), b.ScalarI64(1)})
		ix := b.Op("Range", []string{b.ScalarI64(0), n1, b.ScalarI64(2)})
		g := b.Op("Gather", []string{b.Op("Sigmoid", []string{x}), ix}, ai("axis", 1))
		return b.Reshape(g, -1, 9)
	}})
	add(fdCase{name: "Gather_dynamic_dims", dynamic: true, shape: []int64{4, 3}, outShape: []int64{2, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Gather", []string{b.Op("Exp", []string{x}), idx(b, []int64{2}, -2, 1)}, ai("axis", 1))
	}})

	// --- Where
	add(fdCase{name: "Where_both_broadcast", shape: []int64{3, 4}, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// Y = row sums [N,3,1] depends on x and is broadcast
		cond := b.Op("Greater", []string{x, scal(b, e, 0)})
		return b.Op("Where", []string{cond, b.Op("Exp", []string{x}), b.ReduceSum(x, []int64{2}, true)})
	}}, 11, 17, 21)
	add(fdCase{name: "Where_const_cond_y", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		cond := b.Initializer(onnx.TensorBool("cond", []int64{4}, []bool{true, false, false, true}))
		return b.Op("Where", []string{cond, cst(b, e, r, 3, 4), b.Op("Tanh", []string{x})})
	}})

	// --- Max, Min
	add(fdCase{name: "Max_variadic_broadcast", shape: []int64{3, 4}, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		half := b.Op("Mul", []string{x, scal(b, e, -0.5)})
		// row means [N,3,1], moved off the grid: a mean of four grid
		// points can equal a fifth, a tie that a ±h step crosses
		mean := b.Op("Add", []string{b.Reduce("ReduceMean", x, []int64{2}, true), scal(b, e, 0.1)})
		return b.Op("Max", []string{x, half, mean, cst(b, e, r, 4)})
	}}, 11, 13, 21)
	add(fdCase{name: "Min_two", shape: []int64{12}, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Min", []string{b.Op("Exp", []string{x}), scal(b, e, 1.3)})
	}}, 11, 21)
	add(fdCase{name: "Min_single", shape: []int64{4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Min", []string{b.Op("Exp", []string{x})})
	}})

	// --- ReduceMax, ReduceMin, GlobalMaxPool
	add(fdCase{name: "ReduceMax_keep0_last", shape: []int64{3, 4}, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Reduce("ReduceMax", x, []int64{-1}, false)
	}}, 11, 13, 18, 21)
	add(fdCase{name: "ReduceMax_keep1_two_axes", shape: []int64{3, 4}, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Reduce("ReduceMax", b.Op("Exp", []string{x}), []int64{1, 2}, true)
	}}, 11, 18)
	add(fdCase{name: "ReduceMin_keep0_middle", shape: []int64{3, 4, 2}, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Reduce("ReduceMin", x, []int64{1}, false)
	}}, 11, 18, 21)
	add(fdCase{name: "ReduceMax_18_noop_empty", opset: 18, shape: []int64{3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("ReduceMax", []string{b.Op("Exp", []string{x}), b.ConstI64()}, ai("noop_with_empty_axes", 1))
	}})
	add(fdCase{name: "GlobalMaxPool", shape: img, f32: true, distinct: true, build: op1("GlobalMaxPool")}, 11, 21)
	add(fdCase{name: "GlobalMaxPool_1d", shape: []int64{3, 5}, f32: true, distinct: true, build: op1("GlobalMaxPool")})

	// --- ConvTranspose (ORT has float32 kernels only)
	add(fdCase{name: "ConvTranspose_bias", shape: []int64{2, 4, 5}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		y := b.Op("ConvTranspose", []string{x, cst(b, e, r, 2, 3, 3, 3), cst(b, e, r, 3)})
		return declare(b, y, e, 3, 6, 7)
	}}, 11, 21)
	add(fdCase{name: "ConvTranspose_stride2_pads_outpad", shape: []int64{2, 4, 5}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// H: 2·3 + 1 + 3 − 1 − 0 = 9; W: 2·4 + 0 + 3 − 0 − 1 = 10
		y := b.Op("ConvTranspose", []string{x, cst(b, e, r, 2, 3, 3, 3)}, ais("strides", 2, 2), ais("pads", 1, 0, 0, 1), ais("output_padding", 1, 0))
		return declare(b, y, e, 3, 9, 10)
	}})
	add(fdCase{name: "ConvTranspose_dilation_group", shape: []int64{4, 4, 5}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// group 2, C_out = 2·2; H: 3 + 1·2 + 1 = 6; W: 2·4 + 2 + 1 = 11
		y := b.Op("ConvTranspose", []string{x, cst(b, e, r, 4, 2, 2, 3)}, ai("group", 2), ais("dilations", 2, 1), ais("strides", 1, 2))
		return declare(b, y, e, 4, 6, 11)
	}})
	add(fdCase{name: "ConvTranspose_1d_valid", shape: []int64{2, 6}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		y := b.Op("ConvTranspose", []string{x, cst(b, e, r, 2, 3, 2)}, ais("strides", 3), as("auto_pad", "VALID"))
		return declare(b, y, e, 3, 17)
	}})

	// --- elementwise
	add(fdCase{name: "Sin", shape: []int64{6}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return declare(b, b.Op("Sin", []string{b.Op("Mul", []string{x, scal(b, e, 3)})}), e, 6)
	}}, 11, 21)
	add(fdCase{name: "Cos", shape: []int64{6}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return declare(b, b.Op("Cos", []string{b.Op("Mul", []string{x, scal(b, e, 3)})}), e, 6)
	}}, 11, 21)
	add(fdCase{name: "Softsign", shape: []int64{6}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Softsign", []string{b.Op("Mul", []string{x, scal(b, e, 2)})})
	}})
	add(fdCase{name: "ThresholdedRelu", shape: []int64{12}, f32: true, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return declare(b, b.Op("ThresholdedRelu", []string{x}, af("alpha", 0.5)), e, 12)
	}})
	add(fdCase{name: "Celu", shape: []int64{8}, f32: true, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return declare(b, b.Op("Celu", []string{x}, af("alpha", 1.5)), e, 8)
	}}, 12, 21)
	add(fdCase{name: "Mish", shape: []int64{8}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Mish", []string{b.Op("Mul", []string{x, scal(b, e, 3)})})
	}}, 18, 21)

	// --- Tile, InstanceNormalization
	add(fdCase{name: "Tile", shape: []int64{2, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		y := b.Op("Tile", []string{b.Op("Exp", []string{x}), b.ConstI64(1, 2, 3)})
		return declare(b, y, e, 4, 9)
	}}, 11, 21)
	add(fdCase{name: "Tile_dynamic_dims", dynamic: true, shape: []int64{2, 3}, outShape: []int64{2, 6}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return declare(b, b.Op("Tile", []string{b.Op("Tanh", []string{x}), b.ConstI64(1, 1, 2)}), e, -1, -1)
	}})
	add(fdCase{name: "InstanceNormalization", shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("InstanceNormalization", []string{x, cst(b, e, r, 2), cst(b, e, r, 2)}, af("epsilon", 1e-3))
	}}, 11, 21)

	// --- compositions
	add(fdCase{name: "vit_attention_cls", shape: []int64{4, 6}, loss: "ce", labels: []int64{1}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// one attention head over 4 tokens with a key mask (Where), the
		// class token read back with x[:, 0] (scalar Gather) and a head
		h := b.Op("LayerNormalization", []string{x, cst(b, e, r, 6), cst(b, e, r, 6)})
		q := b.Op("MatMul", []string{h, cst(b, e, r, 6, 6)})
		k := b.Op("MatMul", []string{h, cst(b, e, r, 6, 6)})
		v := b.Op("MatMul", []string{h, cst(b, e, r, 6, 6)})
		s := b.Op("MatMul", []string{q, b.Op("Transpose", []string{k}, ais("perm", 0, 2, 1))})
		keep := b.Initializer(onnx.TensorBool("keep", []int64{4}, []bool{true, true, false, true}))
		s = b.Op("Where", []string{keep, s, scal(b, e, -1e9)})
		a := b.Op("Softmax", []string{s}, ai("axis", -1))
		o := b.Op("Add", []string{x, b.Op("MatMul", []string{a, v})})
		cls := b.Op("Gather", []string{o, b.ScalarI64(0)}, ai("axis", 1))
		return b.Op("Gemm", []string{cls, cst(b, e, r, 3, 6), cst(b, e, r, 3)}, ai("transB", 1))
	}}, 13, 18)
	add(fdCase{name: "cnn_clip_globalmaxpool", shape: []int64{1, 8, 8}, f32: true, distinct: true, step: 1e-3, loss: "ce", labels: []int64{2}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// inputs scaled to (−0.6, 0.6), so that the channel maxima fall
		// inside the Relu6 band rather than at its flat top
		xs := b.Op("Mul", []string{x, scal(b, e, 0.2)})
		c1 := b.Op("Conv", []string{xs, cst(b, e, r, 4, 1, 3, 3), cst(b, e, r, 4)}, ais("pads", 1, 1, 1, 1))
		c1 = b.Op("Clip", []string{c1, scal(b, e, 0), scal(b, e, 6)})
		p := b.Op("Flatten", []string{b.Op("GlobalMaxPool", []string{c1})})
		return b.Op("Gemm", []string{p, cst(b, e, r, 3, 4), cst(b, e, r, 3)}, ai("transB", 1))
	}}, 11, 17)
	add(fdCase{name: "tabular_gather_max_where", shape: []int64{6}, distinct: true, loss: "ce", labels: []int64{0}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// columns 0, 2, 2, 5 picked, clamped by Max/Min, a masked branch
		// and a row max, as feature pipelines exported with a model do
		sel := b.Op("Gather", []string{x, idx(b, []int64{4}, 0, 2, 2, -1)}, ai("axis", 1))
		cl := b.Op("Min", []string{b.Op("Max", []string{sel, scal(b, e, -1)}), scal(b, e, 2)})
		w := b.Op("Where", []string{b.Op("Greater", []string{sel, scal(b, e, 0)}), b.Op("Mul", []string{cl, cl}), cl})
		h := b.Op("Tanh", []string{b.Op("Gemm", []string{w, cst(b, e, r, 4, 5)})})
		mx := b.Reduce("ReduceMax", h, []int64{1}, true)
		return b.Op("Gemm", []string{b.Op("Sub", []string{h, mx}), cst(b, e, r, 5, 3)})
	}}, 11, 21)
	add(fdCase{name: "decoder_convtranspose_instnorm_mish", shape: []int64{2, 5, 4}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		c1 := b.Op("Conv", []string{x, cst(b, e, r, 3, 2, 3, 3)}, ais("strides", 2, 2), ais("pads", 1, 1, 1, 1))
		up := declare(b, b.Op("ConvTranspose", []string{c1, cst(b, e, r, 3, 2, 3, 3)}, ais("strides", 2, 2), ais("pads", 1, 1, 1, 1), ais("output_padding", 0, 1)), e, 2, 5, 4)
		in := b.Op("InstanceNormalization", []string{b.Op("Add", []string{x, up}), cst(b, e, r, 2), cst(b, e, r, 2)})
		t := declare(b, b.Op("Tile", []string{b.Op("Mish", []string{in}), b.ConstI64(1, 1, 1, 2)}), e, 2, 5, 8)
		return b.Reduce("ReduceMean", declare(b, b.Op("Sin", []string{t}), e, 2, 5, 8), []int64{1}, false)
	}}, 18)
	return cs
}
