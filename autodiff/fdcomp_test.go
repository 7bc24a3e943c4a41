package autodiff_test

import (
	"math"
	"math/rand/v2"
	"testing"
)

// mlp2 is x → Gemm → Tanh → Gemm (k classes), the logits for head checks.
func mlp2(in, hidden, k int64) builder {
	return func(b *B, x string, e int32, r *rand.Rand) string {
		h := b.Op("Tanh", []string{b.Op("Gemm", []string{x, cst(b, e, r, hidden, in), cst(b, e, r, hidden)}, ai("transB", 1))})
		w := b.ConstFloat("w", e, []int64{k, hidden}, randVals(r, int(k*hidden), -2, 2))
		return b.Op("Gemm", []string{h, w, cst(b, e, r, k)}, ai("transB", 1))
	}
}

func compositionCases() []fdCase {
	return []fdCase{
		// loss heads on float64 logits; label 1 of 5 classes
		{name: "head_ce", shape: []int64{6}, loss: "ce", labels: []int64{1}, build: mlp2(6, 7, 5)},
		{name: "head_targeted_ce", shape: []int64{6}, loss: "targeted_ce", labels: []int64{3}, build: mlp2(6, 7, 5)},
		{name: "head_cw", shape: []int64{6}, loss: "cw", labels: []int64{1}, build: mlp2(6, 7, 5)},
		// DLR: label 1 is the third-ranked class at this x, where DLR ≡ 1
		// (z_y = z_π3) and the check would test nothing; labels 2 and 0 are not.
		{name: "head_dlr", shape: []int64{6}, loss: "dlr", labels: []int64{2}, build: mlp2(6, 7, 5)},
		{name: "head_dlr_label0", shape: []int64{6}, loss: "dlr", labels: []int64{0}, build: mlp2(6, 7, 5)},
		{name: "head_logit3", shape: []int64{6}, loss: "logit:3", build: mlp2(6, 7, 5)},
		{name: "head_ce_softmax_output", shape: []int64{6}, loss: "ce", labels: []int64{4}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Softmax", []string{mlp2(6, 7, 5)(b, x, e, r)}, ai("axis", 1))
		}},
		{name: "head_ce_probabilities_no_softmax", shape: []int64{6}, loss: "ce", kind: "probabilities", labels: []int64{2}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			ez := b.Op("Exp", []string{mlp2(6, 7, 5)(b, x, e, r)})
			return b.Op("Div", []string{ez, b.ReduceSum(ez, []int64{1}, true)})
		}},
		{name: "head_cw_on_softmax_output", shape: []int64{6}, loss: "cw", labels: []int64{0}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Softmax", []string{mlp2(6, 7, 5)(b, x, e, r)})
		}},
		// the heads at the ends of the opset range (attribute forms at 11)
		{name: "head_ce_opset11", opset: 11, shape: []int64{6}, loss: "ce", labels: []int64{1}, build: mlp2(6, 7, 5)},
		{name: "head_dlr_opset11", opset: 11, shape: []int64{6}, loss: "dlr", labels: []int64{2}, build: mlp2(6, 7, 5)},
		{name: "head_cw_opset21", opset: 21, shape: []int64{6}, loss: "cw", labels: []int64{1}, build: mlp2(6, 7, 5)},
		{name: "head_logit_opset11_softmax", opset: 11, shape: []int64{6}, loss: "logit:4", build: func(b *B, x string, e int32, r *rand.Rand) string {
			return b.Op("Softmax", []string{mlp2(6, 7, 5)(b, x, e, r)})
		}},
		{name: "cnn_opset11_ce", opset: 11, shape: []int64{1, 8, 8}, f32: true, distinct: true, step: 1e-3, loss: "ce", labels: []int64{2}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			c1 := b.Op("Relu", []string{b.Op("Conv", []string{x, cst(b, e, r, 4, 1, 3, 3), cst(b, e, r, 4)}, ais("pads", 1, 1, 1, 1))})
			p := b.Op("MaxPool", []string{c1}, ais("kernel_shape", 2, 2), ais("strides", 2, 2))
			f := b.Op("Flatten", []string{p})
			return b.Op("Gemm", []string{f, cst(b, e, r, 3, 64), cst(b, e, r, 3)}, ai("transB", 1))
		}},

		// compositions
		{name: "mlp_gelu_layernorm_softmax", shape: []int64{6}, f32: true, loss: "ce", labels: []int64{2}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			h := b.Op("Gemm", []string{x, cst(b, e, r, 6, 8)})
			// GELU(h) = 0.5 h (1 + erf(h/√2))
			er := b.Op("Erf", []string{b.Op("Mul", []string{h, scal(b, e, 1/math.Sqrt2)})})
			g := b.Op("Mul", []string{b.Op("Mul", []string{h, scal(b, e, 0.5)}), b.Op("Add", []string{er, scal(b, e, 1)})})
			ln := b.Op("LayerNormalization", []string{g, cst(b, e, r, 8), cst(b, e, r, 8)})
			return b.Op("Softmax", []string{b.Op("Gemm", []string{ln, cst(b, e, r, 8, 4)})}, ai("axis", -1))
		}},
		{name: "residual_block", shape: []int64{4, 5}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			ln := b.Op("LayerNormalization", []string{x, cst(b, e, r, 5)})
			h := b.Op("Relu", []string{b.Op("MatMul", []string{ln, cst(b, e, r, 5, 6)})})
			y := b.Op("Add", []string{x, b.Op("MatMul", []string{h, cst(b, e, r, 6, 5)})})
			return b.Reduce("ReduceMean", b.Op("Sigmoid", []string{y}), []int64{1}, false)
		}},
		{name: "cnn_bn_pool_gap", shape: []int64{1, 9, 8}, f32: true, distinct: true, loss: "ce", labels: []int64{1}, build: func(b *B, x string, e int32, r *rand.Rand) string {
			c1 := b.Op("Conv", []string{x, cst(b, e, r, 3, 1, 3, 3), cst(b, e, r, 3)}, ais("pads", 1, 1, 1, 1))
			bn := b.Op("BatchNormalization", []string{c1, cst(b, e, r, 3), cst(b, e, r, 3), cst(b, e, r, 3), b.ConstFloat("v", e, []int64{3}, []float64{1, 2, 3})})
			p := b.Op("MaxPool", []string{b.Op("Relu", []string{bn})}, ais("kernel_shape", 2, 2), ais("strides", 2, 2))
			c2 := b.Op("Relu", []string{b.Op("Conv", []string{p, cst(b, e, r, 4, 3, 3, 3)}, ais("strides", 2, 1))})
			f := b.Op("Flatten", []string{b.Op("GlobalAveragePool", []string{c2})})
			return b.Op("Gemm", []string{f, cst(b, e, r, 3, 4), cst(b, e, r, 3)}, ai("transB", 1))
		}},
		{name: "cnn_avgpool_clip_pad_concat", shape: []int64{2, 6, 6}, f32: true, distinct: true, build: func(b *B, x string, e int32, r *rand.Rand) string {
			pd := b.Op("Pad", []string{x, b.ConstI64(0, 0, 1, 0, 0, 0, 0, 2)})
			c := b.Op("Conv", []string{pd, cst(b, e, r, 2, 1, 2, 2)}, ai("group", 2))
			a := b.Op("AveragePool", []string{c}, ais("kernel_shape", 2, 2), ais("strides", 2, 2))
			cl := b.Op("Clip", []string{a, scal(b, e, -1), scal(b, e, 1)})
			return b.Op("Concat", []string{cl, b.Op("Tanh", []string{cl})}, ai("axis", 1))
		}},
	}
}

func TestFiniteDifferencesCompositions(t *testing.T) {
	needORT(t)
	for _, fc := range compositionCases() {
		t.Run(fc.name, func(t *testing.T) { runFD(t, fc) })
	}
}
