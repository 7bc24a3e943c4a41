package autodiff

import (
	"fmt"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// channelShape returns a constant shape [-1, 1, ..., 1] of rank r, to
// broadcast a per-channel vector over an NC... tensor.
func (c *ctx) channelShape(r int) string {
	s := make([]int64, r-1)
	s[0] = -1
	for i := 1; i < len(s); i++ {
		s[i] = 1
	}
	return c.b.ConstI64(s...)
}

func ruleBatchNorm(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	if onnx.AttrIntOr(n, "training_mode", 0) != 0 || (c.b.Opset < 14 && len(n.GetOutput()) > 1 && out(n, 1) != "") {
		return nil, fmt.Errorf("training mode is not supported")
	}
	for i := 1; i < len(need); i++ {
		if need[i] {
			return nil, fmt.Errorf("parameters that depend on the input are not supported")
		}
	}
	if !disableBNFusion && ruleBatchNormFused(c, n, gy[0]) {
		return []string{""}, nil
	}
	xs := c.shape(x)
	if len(xs) < 2 {
		return nil, fmt.Errorf("rank of %q unknown", x)
	}
	eps := float64(onnx.AttrFloatOr(n, "epsilon", 1e-5))
	sc, v := in(n, 1), in(n, 4)
	f := c.op("Div", []string{sc, c.op("Sqrt", []string{c.op("Add", []string{v, c.scalar(eps, v)})})})
	if c.elem(f) != c.elem(x) && c.elem(sc) != c.elem(x) {
		f = c.b.Cast(f, c.elem(x))
	}
	f = c.op("Reshape", []string{f, c.channelShape(len(xs))})
	return []string{c.op("Mul", []string{gy[0], f})}, nil
}

func ruleLayerNorm(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	for i := 1; i < len(need); i++ {
		if need[i] {
			return nil, fmt.Errorf("a scale or bias that depends on the input is not supported")
		}
	}
	ax := onnx.AttrIntOr(n, "axis", -1)
	var axes []int64
	if ax < 0 {
		for a := ax; a < 0; a++ {
			axes = append(axes, a)
		}
	} else {
		xs := c.shape(x)
		if xs == nil {
			return nil, fmt.Errorf("rank of %q unknown", x)
		}
		for a := ax; a < int64(len(xs)); a++ {
			axes = append(axes, a)
		}
	}
	eps := float64(onnx.AttrFloatOr(n, "epsilon", 1e-5))
	mean := func(t string) string { return c.b.Reduce("ReduceMean", t, axes, true) }
	xc := c.op("Sub", []string{x, mean(x)})
	v := mean(c.op("Mul", []string{xc, xc}))
	rstd := c.op("Reciprocal", []string{c.op("Sqrt", []string{c.op("Add", []string{v, c.scalar(eps, x)})})})
	xh := c.op("Mul", []string{xc, rstd})
	gh := c.op("Mul", []string{gy[0], in(n, 1)})
	t := c.op("Sub", []string{c.op("Sub", []string{gh, mean(gh)}), c.op("Mul", []string{xh, mean(c.op("Mul", []string{gh, xh}))})})
	return []string{c.op("Mul", []string{t, rstd})}, nil
}

// ruleLpNormalization: y = x/‖x‖_p along the axis, so for p = 2
// dx = (g − y·Σ g·y)/‖x‖₂ and for p = 1 dx = (g − sign(x)·Σ g·y)/‖x‖₁ (a
// zero norm is taken as 1). Other p are refused.
func ruleLpNormalization(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x, y := in(n, 0), out(n, 0)
	p := onnx.AttrIntOr(n, "p", 2)
	ax := []int64{onnx.AttrIntOr(n, "axis", -1)}
	var norm, dir string
	switch p {
	case 2:
		norm, dir = c.b.Reduce("ReduceL2", x, ax, true), y
	case 1:
		norm, dir = c.b.Reduce("ReduceL1", x, ax, true), c.op("Sign", []string{x})
	default:
		return nil, fmt.Errorf("p=%d is not supported (only 1 and 2)", p)
	}
	safe := c.op("Where", []string{c.op("Equal", []string{norm, c.scalar(0, x)}), c.scalar(1, x), norm})
	s := c.b.ReduceSum(c.op("Mul", []string{gy[0], y}), ax, true)
	t := c.op("Sub", []string{gy[0], c.op("Mul", []string{dir, s})})
	return []string{c.op("Div", []string{t, safe})}, nil
}

// ruleInstanceNorm is LayerNormalization's rule over the spatial axes of
// each sample and channel, with the per-channel scale.
func ruleInstanceNorm(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	for i := 1; i < len(need); i++ {
		if need[i] {
			return nil, fmt.Errorf("a scale or bias that depends on the input is not supported")
		}
	}
	xs := c.shape(x)
	if len(xs) < 3 {
		return nil, fmt.Errorf("input %q: rank unknown or below 3", x)
	}
	var axes []int64
	for a := 2; a < len(xs); a++ {
		axes = append(axes, int64(a))
	}
	eps := float64(onnx.AttrFloatOr(n, "epsilon", 1e-5))
	mean := func(t string) string { return c.b.Reduce("ReduceMean", t, axes, true) }
	xc := c.op("Sub", []string{x, mean(x)})
	v := mean(c.op("Mul", []string{xc, xc}))
	rstd := c.op("Reciprocal", []string{c.op("Sqrt", []string{c.op("Add", []string{v, c.scalar(eps, x)})})})
	xh := c.op("Mul", []string{xc, rstd})
	sc := in(n, 1)
	if c.elem(sc) != c.elem(x) && c.elem(sc) != 0 {
		sc = c.b.Cast(sc, c.elem(x))
	}
	gh := c.op("Mul", []string{gy[0], c.op("Reshape", []string{sc, c.channelShape(len(xs))})})
	t := c.op("Sub", []string{c.op("Sub", []string{gh, mean(gh)}), c.op("Mul", []string{xh, mean(c.op("Mul", []string{gh, xh}))})})
	return []string{c.op("Mul", []string{t, rstd})}, nil
}
