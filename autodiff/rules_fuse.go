package autodiff

import (
	"math"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// This file holds the rules that differentiate several forward nodes at
// once, where one backward operator does the work of several
// (bench_test.go measures them): a Conv followed by BatchNormalization,
// whose scale is folded into the weights of the Conv's input gradient. A
// fused rule hands its gradient to the first node's input with c.inject
// and returns none for its own input, so the backward pass skips the
// nodes it covered.

// inject adds g to the gradient of tensor t (a tensor read by a node
// before the one whose rule is running).
func (c *ctx) inject(t, g string) {
	c.extra = append(c.extra, [2]string{t, g})
}

// constTensor returns the values and dims of initializer name when it is
// a constant (an initializer that is not also a graph input a caller can
// override), ok false otherwise.
func (c *ctx) constTensor(name string) (v []float64, dims []int64, ok bool) {
	for _, in := range c.g.GetInput() {
		if in.GetName() == name {
			return nil, nil, false
		}
	}
	t := c.m.Initializer(name)
	if t == nil {
		return nil, nil, false
	}
	v, err := onnx.TensorValues(t)
	if err != nil {
		return nil, nil, false
	}
	return v, t.GetDims(), true
}

// soleProducer returns the node producing t when t is read by exactly one
// node and is not a graph output (nil otherwise).
func (c *ctx) soleProducer(t string) *onnxpb.NodeProto {
	if c.uses[t] != 1 {
		return nil
	}
	p, _ := c.m.Producer(t)
	return p
}

// bnScale returns the per-channel factor scale/√(var+ε) of an inference
// BatchNormalization node whose scale and variance are constants, in
// float64, or ok false.
func (c *ctx) bnScale(n *onnxpb.NodeProto) ([]float64, bool) {
	if onnx.AttrIntOr(n, "training_mode", 0) != 0 || len(n.GetOutput()) > 1 && out(n, 1) != "" {
		return nil, false
	}
	sc, _, ok1 := c.constTensor(in(n, 1))
	v, _, ok2 := c.constTensor(in(n, 4))
	if !ok1 || !ok2 || len(sc) != len(v) {
		return nil, false
	}
	eps := float64(onnx.AttrFloatOr(n, "epsilon", 1e-5))
	f := make([]float64, len(sc))
	for i := range sc {
		f[i] = sc[i] / math.Sqrt(v[i]+eps)
	}
	return f, true
}

// fusableConv returns the constant weights and their dims of a Conv node
// whose input gradient a fused rule may compute (one group, constant
// weights, input needing a gradient), or ok false.
func (c *ctx) fusableConv(n *onnxpb.NodeProto) (w []float64, ws []int64, ok bool) {
	if n == nil || n.GetOpType() != "Conv" || onnx.AttrIntOr(n, "group", 1) != 1 || !c.dep[in(n, 0)] ||
		(c.elem(in(n, 1)) != onnx.Float32 && c.elem(in(n, 1)) != onnx.Float64) {
		return nil, nil, false
	}
	w, ws, ok = c.constTensor(in(n, 1))
	if !ok || len(ws) < 3 || len(c.shape(in(n, 0))) != len(ws) {
		return nil, nil, false
	}
	return w, ws, true
}

// ruleBatchNormFused is BatchNormalization's rule when its input comes
// from a Conv read by nothing else: the Conv's input gradient is computed
// with the weights scaled by scale/√(var+ε) per output channel (folded
// here into a new constant), which saves the elementwise product of the
// gradient with the scale. ok false: the plain rules apply.
func ruleBatchNormFused(c *ctx, n *onnxpb.NodeProto, g string) bool {
	conv := c.soleProducer(in(n, 0))
	w, ws, ok := c.fusableConv(conv)
	if !ok {
		return false
	}
	f, ok := c.bnScale(n)
	if !ok || int64(len(f)) != ws[0] {
		return false
	}
	per := len(w) / int(ws[0])
	scaled := make([]float64, len(w))
	for i := range w {
		scaled[i] = w[i] * f[i/per]
	}
	wn := c.b.ConstFloat("conv_bn_weight", c.elem(in(conv, 1)), ws, scaled)
	gx, err := c.convInputGrad(conv, g, wn, ws)
	if err != nil {
		return false
	}
	c.inject(in(conv, 0), gx)
	return true
}

// disableBNFusion turns ruleBatchNormFused off (benchmarks compare).
var disableBNFusion bool
