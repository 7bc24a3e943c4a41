package autodiff_test

import (
	"math"
	"math/rand/v2"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// extraCases checks the reductions, indexing and layout rules and the strided Slice and
// 1-D MatMul forms, alone at the ends of the opset range (and where a
// signature changed: reductions' axes become an input at 18,
// ScatterElements adds at 16) and in small compositions shaped like the
// models they come from.
func extraCases() []fdCase {
	var cs caseList
	add := cs.add
	slice := func(b *B, x string, st, en, ax, steps []int64) string {
		return b.Op("Slice", []string{x, b.ConstI64(st...), b.ConstI64(en...), b.ConstI64(ax...), b.ConstI64(steps...)})
	}

	// --- Slice with steps other than 1
	add(fdCase{name: "Slice_step2", shape: []int64{5, 7}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// x[:, :, 1::2] → columns 1, 3, 5
		return slice(b, b.Op("Tanh", []string{x}), []int64{1}, []int64{math.MaxInt64}, []int64{2}, []int64{2})
	}}, 11, 13, 21)
	add(fdCase{name: "Slice_negative_steps_mixed", shape: []int64{5, 7}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// rows 4, 2, 0 (x[:, ::-2]), columns 1..4 (step 1, padded back)
		// and columns 6, 3 (x[..., 6:0:-3]) on a second slice
		y := slice(b, x, []int64{-1, 1}, []int64{math.MinInt64, 5}, []int64{1, 2}, []int64{-2, 1})
		return slice(b, b.Op("Exp", []string{y}), []int64{3}, []int64{0}, []int64{-1}, []int64{-3})
	}}, 11, 21)
	add(fdCase{name: "Slice_flip", shape: []int64{6}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// x[:, ::-1], a whole axis reversed
		return slice(b, b.Op("Mul", []string{x, x}), []int64{-1}, []int64{math.MinInt64}, []int64{1}, []int64{-1})
	}})
	add(fdCase{name: "Slice_clamped_step3", shape: []int64{8}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// start −100 clamps to 0, end 100 to 8: indices 0, 3, 6
		return slice(b, b.Op("Sin", []string{x}), []int64{-100}, []int64{100}, []int64{1}, []int64{3})
	}})
	add(fdCase{name: "Slice_dynamic_dims_strided", dynamic: true, shape: []int64{5, 7}, outShape: []int64{2, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// rows 3, 1 (x[:, -2::-2]) and columns 1, 3, 5 (x[..., 1:-1:2]),
		// clamped at run time; the step-1 batch slice is dynamic too
		y := slice(b, b.Op("Tanh", []string{x}), []int64{-2, 1, 0}, []int64{math.MinInt64, -1, math.MaxInt64}, []int64{1, 2, 0}, []int64{-2, 2, 1})
		return declare(b, y, e, 2, 3)
	}}, 11, 21)

	// --- MatMul with 1-D operands
	add(fdCase{name: "MatMul_1d_right_const", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("MatMul", []string{x, cst(b, e, r, 4)}) // [N,3,4]·[4] → [N,3]
	}}, 11, 21)
	add(fdCase{name: "MatMul_1d_left_const", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("MatMul", []string{cst(b, e, r, 3), b.Op("Tanh", []string{x})}) // [3]·[N,3,4] → [N,4]
	}}, 11, 21)
	add(fdCase{name: "MatMul_1d_left_input", single: true, shape: []int64{3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// the batch of one squeezed away: a 1-D operand that depends on x
		v := b.Squeeze(x, 0)
		return b.Unsqueeze(b.Op("MatMul", []string{v, cst(b, e, r, 2, 3, 4)}), 0) // [3]·[2,3,4] → [2,4]
	}}, 11, 21)
	add(fdCase{name: "MatMul_1d_both_dot", single: true, shape: []int64{5}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		v := b.Squeeze(x, 0)
		d := b.Op("MatMul", []string{v, b.Op("Tanh", []string{v})}) // a scalar
		return b.Reshape(d, 1, 1)
	}}, 11, 21)
	add(fdCase{name: "MatMul_1d_right_input", single: true, shape: []int64{4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		v := b.Squeeze(b.Op("Exp", []string{x}), 0)
		return b.Unsqueeze(b.Op("MatMul", []string{cst(b, e, r, 3, 4), v}), 0) // [3,4]·[4] → [3]
	}})

	// --- reductions
	for _, op := range []string{"ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceProd"} {
		// ReduceL1 has a kink at 0: inputs on the distinct grid
		dist := op == "ReduceL1"
		add(fdCase{name: op + "_keep0_last", shape: []int64{3, 4}, distinct: dist, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Reduce(op, x, []int64{-1}, false)
		}}, 11, 13, 18, 21)
		add(fdCase{name: op + "_keep1_two_axes", shape: []int64{3, 4, 2}, distinct: dist, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Reduce(op, b.Op("Sin", []string{x}), []int64{1, 3}, true)
		}}, 11, 18)
		add(fdCase{name: op + "_keep0_middle", shape: []int64{3, 4, 2}, distinct: dist, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Reduce(op, x, []int64{2}, false)
		}}, 13, 18)
		add(fdCase{name: op + "_18_noop_empty", opset: 18, shape: []int64{3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op(op, []string{b.Op("Sin", []string{x}), b.ConstI64()}, ai("noop_with_empty_axes", 1))
		}})
	}
	add(fdCase{name: "LpNormalization_p2", shape: []int64{3, 4}, build: op1("LpNormalization", ai("axis", -1), ai("p", 2))}, 11, 21)
	add(fdCase{name: "LpNormalization_p1_axis1", shape: []int64{3, 4}, distinct: true, build: op1("LpNormalization", ai("axis", 1), ai("p", 1))}, 11, 21)
	add(fdCase{name: "LpNormalization_default", shape: []int64{5}, build: op1("LpNormalization")})

	// --- GatherElements, TopK
	add(fdCase{name: "GatherElements_repeated_negative", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// along axis 2, per row: repeated (1, 1) and negative (−1 = 3) indices
		ix := batchIdx(b, x, []int64{3, 3}, 1, 1, -1, 0, 3, 2, 2, 2, 0)
		return b.Op("GatherElements", []string{b.Op("Tanh", []string{x}), ix}, ai("axis", 2))
	}}, 11, 13, 16, 21)
	add(fdCase{name: "GatherElements_axis1_smaller", shape: []int64{4, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// indices [N,2,2] into [N,4,3] along axis 1: axis 2 is smaller
		// than the data's, and the gradient is padded back
		ix := batchIdx(b, x, []int64{2, 2}, 3, 0, 3, 3)
		return b.Op("GatherElements", []string{b.Op("Exp", []string{x}), ix}, ai("axis", 1))
	}}, 11, 16, 21)
	add(fdCase{name: "TopK_largest", shape: []int64{3, 5}, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Node("TopK", []string{x, b.ConstI64(2)}, 2, ai("axis", -1))[0]
	}}, 11, 16, 21)
	add(fdCase{name: "TopK_smallest_axis1", shape: []int64{5, 2}, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		tk := b.Node("TopK", []string{b.Op("Mul", []string{x, x}), b.ConstI64(3)}, 2, ai("axis", 1), ai("largest", 0), ai("sorted", 0))
		return tk[0]
	}}, 11, 21)

	// --- DepthToSpace, SpaceToDepth
	add(fdCase{name: "DepthToSpace_DCR", shape: []int64{8, 2, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("DepthToSpace", []string{b.Op("Tanh", []string{x})}, ai("blocksize", 2))
	}}, 11, 13, 21)
	add(fdCase{name: "DepthToSpace_CRD", shape: []int64{8, 2, 3}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("DepthToSpace", []string{b.Op("Tanh", []string{x})}, ai("blocksize", 2), as("mode", "CRD"))
	}}, 11, 13, 21)
	add(fdCase{name: "SpaceToDepth", shape: []int64{2, 4, 6}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("SpaceToDepth", []string{b.Op("Exp", []string{x})}, ai("blocksize", 2))
	}}, 11, 13, 21)

	// --- CumSum
	for _, v := range []struct {
		name      string
		excl, rev int64
		axisInt32 bool
		axisNeg   bool
	}{
		{name: "CumSum_plain", axisNeg: true},
		{name: "CumSum_exclusive", excl: 1, axisInt32: true},
		{name: "CumSum_reverse", rev: 1},
		{name: "CumSum_exclusive_reverse", excl: 1, rev: 1, axisNeg: true},
	} {
		add(fdCase{name: v.name, shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			ax := b.ScalarI64(2)
			if v.axisNeg {
				ax = b.ScalarI64(-1)
			}
			if v.axisInt32 {
				ax = b.Cast(ax, onnx.Int32)
			}
			return b.Op("CumSum", []string{b.Op("Tanh", []string{x}), ax}, ai("exclusive", v.excl), ai("reverse", v.rev))
		}}, 11, 14, 21)
	}

	// --- Einsum (opset 12+)
	add(fdCase{name: "Einsum_batched_matmul", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		t := b.Op("Transpose", []string{b.Op("Tanh", []string{x})}, ais("perm", 0, 2, 1))
		return b.Op("Einsum", []string{x, t}, as("equation", "bij,bjk->bik"))
	}}, 12, 21)
	add(fdCase{name: "Einsum_attention_scores", shape: []int64{2, 3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		k := b.Op("Mul", []string{b.Op("Sin", []string{x}), cst(b, e, r, 2, 3, 4)})
		return b.Op("Einsum", []string{x, k}, as("equation", "bhid,bhjd->bhij"))
	}}, 12, 21)
	add(fdCase{name: "Einsum_transpose", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Einsum", []string{b.Op("Exp", []string{x})}, as("equation", "nij->nji"))
	}}, 12, 21)
	add(fdCase{name: "Einsum_rowwise_dot", shape: []int64{5}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Einsum", []string{x, b.Op("Tanh", []string{x})}, as("equation", "bi,bi->b"))
	}}, 12, 21)
	add(fdCase{name: "Einsum_implicit_const", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// implicit output: b, i, k (the letters that occur once, sorted)
		return b.Op("Einsum", []string{x, cst(b, e, r, 4, 2)}, as("equation", "bij,jk"))
	}})
	add(fdCase{name: "Einsum_summed_alone", shape: []int64{3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// j occurs in the first operand only: its gradient is broadcast along j
		return b.Op("Einsum", []string{b.Op("Mul", []string{x, x}), b.Op("Sin", []string{x})}, as("equation", "bij,bik->bik"))
	}}, 12, 21)
	add(fdCase{name: "Einsum_ellipsis", shape: []int64{2, 3, 4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		return b.Op("Einsum", []string{x, cst(b, e, r, 4, 5)}, as("equation", "...ij,jk->...ik"))
	}})

	// --- compositions
	add(fdCase{name: "focus_strided_slices_conv", shape: []int64{2, 6, 8}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// YOLOv5's Focus: x[..., ::2, ::2], x[..., 1::2, ::2],
		// x[..., ::2, 1::2], x[..., 1::2, 1::2] stacked on the channels, then
		// a Conv; and a reversed copy (x[..., ::-1]) added
		var parts []string
		for _, o := range [][2]int64{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
			parts = append(parts, slice(b, x, []int64{o[0], o[1]}, []int64{math.MaxInt64, math.MaxInt64}, []int64{2, 3}, []int64{2, 2}))
		}
		cat := b.Op("Concat", parts, ai("axis", 1))
		flip := slice(b, cat, []int64{-1}, []int64{math.MinInt64}, []int64{3}, []int64{-1})
		return b.Op("Conv", []string{b.Op("Add", []string{cat, flip}), cst(b, e, r, 3, 8, 2, 2)})
	}}, 11, 21)
	add(fdCase{name: "pixel_shuffle_upsampler", shape: []int64{2, 3, 4}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// ESPCN-style: Conv to 4·2 channels, DepthToSpace (CRD, PyTorch's
		// PixelShuffle), Conv, SpaceToDepth back, a global pool
		c1 := b.Op("Conv", []string{x, cst(b, e, r, 8, 2, 3, 3)}, ais("pads", 1, 1, 1, 1))
		up := b.Op("DepthToSpace", []string{b.Op("Tanh", []string{c1})}, ai("blocksize", 2), as("mode", "CRD"))
		c2 := b.Op("Conv", []string{up, cst(b, e, r, 2, 2, 3, 3)}, ais("pads", 1, 1, 1, 1))
		down := b.Op("SpaceToDepth", []string{c2}, ai("blocksize", 2))
		return b.Op("Flatten", []string{b.Op("GlobalAveragePool", []string{down})})
	}}, 11, 21)
	add(fdCase{name: "einsum_attention_l2norm_cls", shape: []int64{4, 6}, loss: "ce", labels: []int64{2}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// single-head attention in einsum form, as exported from
		// torch.einsum, L2-normalised tokens (LpNormalization), a
		// 1-D MatMul read-out per token and a ReduceLogSumExp pooling
		h := b.Op("LpNormalization", []string{x}, ai("axis", -1), ai("p", 2))
		q := b.Op("Einsum", []string{h, cst(b, e, r, 6, 6)}, as("equation", "btd,de->bte"))
		k := b.Op("Einsum", []string{h, cst(b, e, r, 6, 6)}, as("equation", "btd,de->bte"))
		s := b.Op("Einsum", []string{q, k}, as("equation", "bie,bje->bij"))
		a := b.Op("Softmax", []string{s}, ai("axis", -1))
		o := b.Op("Einsum", []string{a, h}, as("equation", "bij,bjd->bid"))
		tok := b.Op("MatMul", []string{o, cst(b, e, r, 6)})       // [N, 4]
		pool := b.Reduce("ReduceLogSumExp", o, []int64{1}, false) // [N, 6]
		f := b.Op("Concat", []string{tok, pool}, ai("axis", 1))
		return b.Op("Gemm", []string{f, cst(b, e, r, 10, 3)})
	}}, 13, 21)
	add(fdCase{name: "tabular_topk_cumsum_gatherelements", shape: []int64{6}, distinct: true, loss: "ce", labels: []int64{1}, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// the three largest features, their running sum (CumSum), a
		// per-row pick (GatherElements), a product and L1/L2 norms
		tk := b.Node("TopK", []string{x, b.ConstI64(3)}, 2, ai("axis", 1))
		cs := b.Op("CumSum", []string{tk[0], b.ScalarI64(1)})
		pick := b.Op("GatherElements", []string{x, batchIdx(b, x, []int64{2}, 5, 0)}, ai("axis", 1))
		prod := b.Reduce("ReduceProd", b.Op("Sigmoid", []string{cs}), []int64{1}, true)
		l1 := b.Reduce("ReduceL1", x, []int64{1}, true)
		l2 := b.Reduce("ReduceL2", cs, []int64{1}, true)
		f := b.Op("Concat", []string{cs, pick, prod, l1, l2}, ai("axis", 1)) // [N, 8]
		return b.Op("Gemm", []string{f, cst(b, e, r, 8, 3)})
	}}, 11, 16, 21)
	return cs
}

// batchIdx returns constant int64 indices of the given per-sample dims
// expanded along x's batch axis (GatherElements does not broadcast).
func batchIdx(b *B, x string, dims []int64, v ...int64) string {
	one := idx(b, append([]int64{1}, dims...), v...)
	n := b.Slice(b.Shape(x), []int64{0}, []int64{1}, []int64{0})
	return b.Op("Expand", []string{one, b.Op("Concat", []string{n, b.ConstI64(dims...)}, ai("axis", 0))})
}

// resizeCases checks Resize in nearest mode, whose gradient sums each
// input element's copies: integer and fractional scales, sizes, the
// coordinate transformations and nearest modes exporters write (PyTorch's
// nearest: asymmetric/floor; nearest-exact: half_pixel/round_prefer_floor)
// and the opset-11 input form (roi and scales required, sizes after an
// empty scales).
func resizeCases() []fdCase {
	img := []int64{2, 3, 4}
	resize := func(scales []float64, sizes []int64, attrs ...*onnxpb.AttributeProto) builder {
		return func(b *B, x string, e int32, r *rand.Rand) string {
			roi := b.ConstFloat("roi", onnx.Float32, []int64{0}, nil)
			sc := b.ConstFloat("scales", onnx.Float32, []int64{int64(len(scales))}, scales)
			in := []string{b.Op("Tanh", []string{x}), roi, sc}
			if sizes != nil {
				in = append(in, b.ConstI64(sizes...))
			}
			return b.Op("Resize", in, append([]*onnxpb.AttributeProto{as("mode", "nearest")}, attrs...)...)
		}
	}
	var cs []fdCase
	cs = append(cs, atOpsets(fdCase{name: "Resize_nearest_x2_asymmetric_floor", shape: img, f32: true,
		build: resize([]float64{1, 1, 2, 2}, nil, as("coordinate_transformation_mode", "asymmetric"), as("nearest_mode", "floor"))}, 11, 13, 19)...)
	cs = append(cs, atOpsets(fdCase{name: "Resize_nearest_x3x2_half_pixel", shape: img, f32: true,
		build: resize([]float64{1, 1, 3, 2}, nil)}, 11, 19)...)
	cs = append(cs, fdCase{name: "Resize_nearest_fractional_align_corners", shape: img, f32: true,
		build: resize([]float64{1, 1, 1.5, 0.5}, nil, as("coordinate_transformation_mode", "align_corners"), as("nearest_mode", "round_prefer_ceil"))})
	cs = append(cs, atOpsets(fdCase{name: "Resize_nearest_sizes", shape: img, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// sizes need every axis: the batch of the check (1 + 2·24 samples)
		// is not static, so sizes are given for the two spatial axes only
		// (opset 18's axes attribute)
		roi := b.ConstFloat("roi", onnx.Float32, []int64{0}, nil)
		return b.Op("Resize", []string{b.Op("Tanh", []string{x}), roi, "", b.ConstI64(5, 7)}, as("mode", "nearest"), ais("axes", 2, 3),
			as("coordinate_transformation_mode", "pytorch_half_pixel"))
	}}, 18, 21)...)
	cs = append(cs, atOpsets(fdCase{name: "unet_upsample_concat_conv", shape: []int64{2, 4, 4}, f32: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
		// a U-Net decoder step: downsample (stride-2 Conv, Tanh: a Relu
		// here has kinks that the float32 step crosses), nearest ×2
		// upsample, concatenate with the skip, Conv
		d := b.Op("Tanh", []string{b.Op("Conv", []string{x, cst(b, e, r, 3, 2, 2, 2)}, ais("strides", 2, 2))})
		roi := b.ConstFloat("roi", onnx.Float32, []int64{0}, nil)
		up := b.Op("Resize", []string{d, roi, b.ConstFloat("scales", onnx.Float32, []int64{4}, []float64{1, 1, 2, 2})}, as("mode", "nearest"),
			as("coordinate_transformation_mode", "asymmetric"), as("nearest_mode", "floor"))
		return b.Op("Conv", []string{b.Op("Concat", []string{x, up}, ai("axis", 1)), cst(b, e, r, 2, 5, 3, 3)}, ais("pads", 1, 1, 1, 1))
	}}, 11, 21)...)
	return cs
}
