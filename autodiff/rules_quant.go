package autodiff

import (
	"fmt"
	"slices"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// straightThrough lists the operators whose rule is a straight-through
// estimate rather than their derivative (StraightThroughOps).
var straightThrough = map[string]bool{"DequantizeLinear": true, "QuantizeLinear": true}

// StraightThroughOps lists, sorted, the operator types of m on a path from
// a float input to an output whose gradient Build takes straight through
// (QuantizeLinear and DequantizeLinear of an INT8 QDQ model): the gradient
// graph of such a model is the BPDA approximation of ruleQuantizeLinear,
// not the derivative of the piecewise-constant function the model
// computes. Reports say so (the evasion suite's
// details.gradient.straight_through). Nil when there are none.
func StraightThroughOps(m *onnx.Model) []string {
	if m == nil || m.Proto == nil {
		return nil
	}
	c := newCtx(m.Clone())
	for _, v := range c.m.Inputs() {
		if onnx.IsFloat(onnx.TypeOf(v).Elem) {
			c.markDependent(v.GetName())
		}
	}
	var out []string
	for _, n := range c.g.GetNode() {
		if op := n.GetOpType(); straightThrough[op] && c.carries(n) && !slices.Contains(out, op) {
			out = append(out, op)
		}
	}
	slices.Sort(out)
	return out
}

// ONNX's UINT4 and INT4 element types (opset 21), which the generated
// onnxpb predates.
const (
	tensorUint4 onnxpb.TensorProto_DataType = 21
	tensorInt4  onnxpb.TensorProto_DataType = 22
)

// quantRange returns the integer range [lo, hi] of a quantised element
// type.
func quantRange(elem int32) (lo, hi float64, err error) {
	switch onnxpb.TensorProto_DataType(elem) {
	case onnxpb.TensorProto_UINT8:
		return 0, 255, nil
	case onnxpb.TensorProto_INT8:
		return -128, 127, nil
	case onnxpb.TensorProto_UINT16:
		return 0, 65535, nil
	case onnxpb.TensorProto_INT16:
		return -32768, 32767, nil
	case tensorUint4:
		return 0, 15, nil
	case tensorInt4:
		return -8, 7, nil
	}
	return 0, 0, fmt.Errorf("quantised type %s (element type %d) is not supported: the straight-through gradient needs an integer range", onnxpb.TensorProto_DataType(elem), elem)
}

// quantParams checks a QuantizeLinear or DequantizeLinear node for the
// straight-through rules (no blocked quantisation, scale and zero point
// not computed from the input) and returns its scale, reshaped to
// broadcast against x along axis when it is per-axis, and the node's
// zero point reshaped the same way ("" when absent).
func (c *ctx) quantParams(n *onnxpb.NodeProto, need []bool) (scale, zp string, err error) {
	if onnx.AttrIntOr(n, "block_size", 0) != 0 {
		return "", "", fmt.Errorf("blocked quantisation (block_size) is not supported")
	}
	for i := 1; i < len(need); i++ {
		if need[i] {
			return "", "", fmt.Errorf("a scale or zero point computed from the input is not supported (the straight-through rules give them no gradient)")
		}
	}
	x := in(n, 0)
	scale, zp = in(n, 1), in(n, 2)
	ss := c.shape(scale)
	if ss == nil {
		return "", "", fmt.Errorf("scale %q: rank unknown", scale)
	}
	if len(ss) == 0 || (len(ss) == 1 && ss[0] == 1) {
		return scale, zp, nil // per tensor: broadcasts as it is
	}
	if len(ss) != 1 {
		return "", "", fmt.Errorf("scale %q of rank %d: want a scalar or a 1-D per-axis scale", scale, len(ss))
	}
	xs := c.shape(x)
	if xs == nil {
		return "", "", fmt.Errorf("per-axis scale on %q: its rank is unknown", x)
	}
	r := int64(len(xs))
	ax := onnx.AttrIntOr(n, "axis", 1)
	if ax < 0 {
		ax += r
	}
	if ax < 0 || ax >= r {
		return "", "", fmt.Errorf("axis %d outside the rank %d of %q", onnx.AttrIntOr(n, "axis", 1), r, x)
	}
	if tail := r - 1 - ax; tail > 0 {
		// [C] → [C, 1, …, 1]: numpy broadcasting aligns it with axis ax
		shape := make([]int64, tail+1)
		shape[0] = -1
		for i := 1; i < len(shape); i++ {
			shape[i] = 1
		}
		scale = c.op("Reshape", []string{scale, c.b.ConstI64(shape...)})
		if zp != "" {
			zp = c.op("Reshape", []string{zp, c.b.ConstI64(shape...)})
		}
	}
	return scale, zp, nil
}

// ruleDequantizeLinear: y = (x − zero_point)·scale, so ∂y/∂x = scale,
// broadcast along axis when it is per-axis. The input x is the integer
// output of a QuantizeLinear whose gradient is carried in float (the
// straight-through estimate, ruleQuantizeLinear); the scale and zero point
// get no gradient (they are initializers).
func ruleDequantizeLinear(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	scale, _, err := c.quantParams(n, need)
	if err != nil {
		return nil, err
	}
	return []string{c.op("Mul", []string{gy[0], scale})}, nil
}

// ruleQuantizeLinear is the straight-through estimator (Bengio, Léonard
// and Courville 2013, "Estimating or propagating gradients through
// stochastic neurons for conditional computation") of y =
// saturate(round(x/scale) + zero_point): rounding is taken as the
// identity, so ∂y/∂x = 1/scale where the unrounded value x/scale +
// zero_point lies inside the integer range of y's type ([0, 255] for
// uint8, [−128, 127] for int8) and 0 where saturation clips it. The
// gradient is carried in x's float type, although y is an integer tensor.
// Composed with the following DequantizeLinear (·scale) a QDQ pair passes
// the gradient unchanged inside the range: the Backward Pass
// Differentiable Approximation (BPDA) of Athalye, Carlini and Wagner 2018,
// "Obfuscated gradients give a false sense of security", for a quantised
// model. The true derivative of round is 0 almost everywhere, so a finite
// difference check is meaningless here (tests compare with the float
// model's gradient at the dequantised activations instead). PyTorch's
// fake_quantize masks on the rounded value; masking on the unrounded one
// differs only within half a step of the range's ends. The scale and zero
// point get no gradient.
func ruleQuantizeLinear(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	scale, zp, err := c.quantParams(n, need)
	if err != nil {
		return nil, err
	}
	x, y := in(n, 0), out(n, 0)
	lo, hi, err := quantRange(c.elem(y))
	if err != nil {
		return nil, err
	}
	v := c.op("Div", []string{x, scale})
	if zp != "" {
		v = c.op("Add", []string{v, c.b.Cast(zp, c.elem(x))})
	}
	// lo ≤ v ≤ hi, as not (v < lo) and not (v > hi): opset 11 has no
	// GreaterOrEqual
	inside := c.op("And", []string{
		c.op("Not", []string{c.op("Less", []string{v, c.scalar(lo, x)})}),
		c.op("Not", []string{c.op("Greater", []string{v, c.scalar(hi, x)})}),
	})
	g := c.op("Div", []string{gy[0], scale})
	return []string{c.op("Where", []string{inside, g, c.scalar(0, x)})}, nil
}
