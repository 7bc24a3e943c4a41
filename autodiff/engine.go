package autodiff

import (
	"fmt"
	"math"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// ctx is the state of one gradient-graph build.
type ctx struct {
	m   *onnx.Model
	g   *onnxpb.GraphProto
	b   *onnx.Builder
	inf *onnx.Inference
	dep map[string]bool // tensors that depend differentiably on the input
	// masked marks Relu outputs whose gradient a later rule already
	// multiplied by the Relu mask (MaxPool after Relu masks at the pooled
	// size, four times fewer elements), so the Relu rule passes it on.
	masked map[string]bool
	// uses counts the nodes reading each tensor (graph outputs count too).
	uses map[string]int
	// extra holds the (tensor, gradient) pairs a fused rule (rules_fuse.go)
	// adds to the gradient of a tensor read by an earlier node.
	extra [][2]string
}

func newCtx(m *onnx.Model) *ctx {
	c := &ctx{m: m, g: m.Proto.GetGraph(), b: onnx.NewBuilder(m, "gauntlet_grad/"), inf: m.Infer(),
		dep: map[string]bool{}, masked: map[string]bool{}, uses: map[string]int{}}
	for _, n := range c.g.GetNode() {
		for _, t := range n.GetInput() {
			c.uses[t]++
		}
	}
	for _, o := range c.g.GetOutput() {
		c.uses[o.GetName()]++
	}
	return c
}

// noGrad lists operators whose outputs carry no gradient to their inputs:
// shape-only, comparison, index and piecewise-constant operators.
var noGrad = map[string]bool{
	"Shape": true, "Size": true, "Constant": true, "ConstantOfShape": true, "NonZero": true,
	"ArgMax": true, "ArgMin": true, "Equal": true, "Greater": true, "Less": true,
	"GreaterOrEqual": true, "LessOrEqual": true, "Not": true, "And": true, "Or": true, "Xor": true,
	"IsNaN": true, "IsInf": true, "Range": true, "EyeLike": true, "Floor": true, "Ceil": true,
	"Round": true, "Sign": true, "RandomNormal": true, "RandomUniform": true,
	"RandomNormalLike": true, "RandomUniformLike": true, "Multinomial": true, "Bernoulli": true,
}

// markDependent marks every float tensor that depends on x through
// differentiable edges, and the integer output of a QuantizeLinear that
// does (its gradient is the straight-through estimate, in float).
func (c *ctx) markDependent(x string) {
	c.dep[x] = true
	for _, n := range c.g.GetNode() {
		if noGrad[n.GetOpType()] {
			continue
		}
		hit := false
		for _, in := range n.GetInput() {
			if c.dep[in] {
				hit = true
			}
		}
		if !hit {
			continue
		}
		for i, o := range n.GetOutput() {
			// QuantizeLinear's integer output carries the straight-through
			// gradient (rules_quant.go)
			if o != "" && (onnx.IsFloat(c.elem(o)) || (i == 0 && n.GetOpType() == "QuantizeLinear")) {
				c.dep[o] = true
			}
		}
	}
}

// carries reports whether node n passes a gradient from an output to a
// dependent input.
func (c *ctx) carries(n *onnxpb.NodeProto) bool {
	if noGrad[n.GetOpType()] {
		return false
	}
	out := false
	for _, o := range n.GetOutput() {
		if c.dep[o] {
			out = true
		}
	}
	if !out {
		return false
	}
	for _, in := range n.GetInput() {
		if c.dep[in] {
			return true
		}
	}
	return false
}

// backward propagates the seed gradients (tensor → its gradient) back to x
// and returns x's gradient.
func (c *ctx) backward(seeds map[string]string, x string) (string, error) {
	grads := map[string][]string{}
	for t, g := range seeds {
		grads[t] = append(grads[t], g)
	}
	nodes := c.g.GetNode()
	// Only the forward nodes existing now are differentiated; nodes the
	// head appended are not in the dependency map's path unless seeded.
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		if !c.carries(n) {
			continue
		}
		gy := make([]string, len(n.GetOutput()))
		any := false
		for j, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			gy[j] = c.sumGrads(grads[o])
			if gy[j] != "" {
				any = true
			}
		}
		if !any {
			continue
		}
		need := make([]bool, len(n.GetInput()))
		for j, in := range n.GetInput() {
			need[j] = in != "" && c.dep[in]
		}
		r, ok := rules[n.GetOpType()]
		if !ok {
			return "", unsupportedError([]UnsupportedOp{{Op: n.GetOpType(), Domain: n.GetDomain(), Node: nodeName(i, n)}})
		}
		gx, err := r(c, n, gy, need)
		if err != nil {
			return "", errs.WithCode(errs.Invalid, fmt.Errorf("gradient of %s node %q: %w", n.GetOpType(), nodeName(i, n), err))
		}
		for j, in := range n.GetInput() {
			if j < len(gx) && gx[j] != "" && need[j] {
				grads[in] = append(grads[in], gx[j])
			}
		}
		for _, e := range c.extra {
			grads[e[0]] = append(grads[e[0]], e[1])
		}
		c.extra = c.extra[:0]
	}
	if g := c.sumGrads(grads[x]); g != "" {
		return g, nil
	}
	// The loss does not depend on x: the gradient is zero.
	return c.zerosLike(x), nil
}

func (c *ctx) sumGrads(gs []string) string {
	switch len(gs) {
	case 0:
		return ""
	case 1:
		return gs[0]
	}
	return c.b.Op("Sum", gs)
}

// elem returns the element type of tensor t (0 unknown).
func (c *ctx) elem(t string) int32 { return c.inf.Types[t].Elem }

// shape returns the static shape of t (nil: unknown rank).
func (c *ctx) shape(t string) []int64 { return c.inf.Types[t].Shape }

func (c *ctx) op(op string, in []string, attrs ...*onnxpb.AttributeProto) string {
	return c.b.Op(op, in, attrs...)
}

// scalar returns a 0-D constant of t's element type.
func (c *ctx) scalar(v float64, t string) string {
	e := c.elem(t)
	if e == 0 {
		e = onnx.Float32
	}
	return c.b.Scalar(v, e)
}

// zerosLike returns a tensor of zeros with t's shape and element type.
func (c *ctx) zerosLike(t string) string {
	e := c.elem(t)
	if e == 0 {
		e = onnx.Float32
	}
	var z *onnxpb.TensorProto
	if e == onnx.Float64 {
		z = onnx.TensorF64("zero", []int64{1}, []float64{0})
	} else if e == onnx.Float32 {
		z = onnx.TensorF32("zero", []int64{1}, []float32{0})
	} else {
		f := c.b.Op("ConstantOfShape", []string{c.b.Shape(t)}, onnx.AttrTensor("value", onnx.TensorF32("zero", []int64{1}, []float32{0})))
		return c.b.Cast(f, e)
	}
	return c.b.Op("ConstantOfShape", []string{c.b.Shape(t)}, onnx.AttrTensor("value", z))
}

// sumTo undoes numpy broadcasting: it sums g (the gradient of a broadcast
// result with static shape outShape) down to the shape of target.
func (c *ctx) sumTo(g, target string, outShape []int64) (string, error) {
	ts := c.shape(target)
	if ts == nil || outShape == nil {
		return "", fmt.Errorf("undo broadcasting to %q: rank unknown (no static shape)", target)
	}
	if len(ts) > len(outShape) {
		return "", fmt.Errorf("undo broadcasting to %q: rank %d above the result's %d", target, len(ts), len(outShape))
	}
	lead := len(outShape) - len(ts)
	var keep []int64
	for i, d := range ts {
		o := outShape[lead+i]
		switch {
		case d == o && (d >= 0 || lead+i == 0 || c.b.Opset < 13):
			// same size; two unknown sizes are taken as equal on the batch
			// axis (and before opset 13, which has no run-time fallback)
		case d == o:
			// two unknown sizes elsewhere: decide at run time
			return c.sumToDynamic(g, target, len(outShape)), nil
		case d == 1:
			keep = append(keep, int64(lead+i))
		case d < 0 && o == 1:
		default:
			if c.b.Opset >= 13 {
				return c.sumToDynamic(g, target, len(outShape)), nil
			}
			return "", fmt.Errorf("undo broadcasting to %q: cannot tell statically whether axis %d (size %d vs %d) was broadcast (opset 13+ decides at run time)", target, i, d, o)
		}
	}
	if len(keep) > 0 {
		g = c.b.ReduceSum(g, keep, true)
	}
	if lead > 0 {
		ax := make([]int64, lead)
		for i := range ax {
			ax[i] = int64(i)
		}
		g = c.b.ReduceSum(g, ax, false)
	}
	return g, nil
}

// sumToDynamic undoes broadcasting with run-time shapes (opset 13+, where
// ReduceSum takes its axes as an input): it sums g over the axes where
// target, padded with leading 1s to rank r, has size 1 and g does not,
// then reshapes to target's shape.
func (c *ctx) sumToDynamic(g, target string, r int) string {
	b := c.b
	ts := b.Shape(target)
	lead := r - len(c.shape(target))
	if lead > 0 {
		ones := make([]int64, lead)
		for i := range ones {
			ones[i] = 1
		}
		ts = c.op("Concat", []string{b.ConstI64(ones...), ts}, onnx.AttrInt("axis", 0))
	}
	one := b.ConstI64(1)
	bcast := c.op("And", []string{c.op("Equal", []string{ts, one}), c.op("Not", []string{c.op("Equal", []string{b.Shape(g), one})})})
	axes := b.Reshape(c.op("NonZero", []string{bcast}), -1)
	red := c.op("ReduceSum", []string{g, axes}, onnx.AttrInt("keepdims", 1), onnx.AttrInt("noop_with_empty_axes", 1))
	return c.op("Reshape", []string{red, b.Shape(target)})
}

// negInf returns the most negative finite value of t's element type.
func (c *ctx) lowest(t string) string {
	if c.elem(t) == onnx.Float64 {
		return c.scalar(-math.MaxFloat64, t)
	}
	return c.scalar(-math.MaxFloat32, t)
}
