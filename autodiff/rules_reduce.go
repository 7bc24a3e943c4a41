package autodiff

import (
	"fmt"
	"sort"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

func ruleReduce(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x, y := in(n, 0), out(n, 0)
	_, unsq, noop, err := c.keptAxes(n)
	if err != nil {
		return nil, err
	}
	if noop {
		return []string{gy[0]}, nil // noop_with_empty_axes=1 and no (or empty) axes: identity
	}
	g := gy[0]
	if unsq != nil {
		g = c.b.Unsqueeze(g, unsq...)
	}
	g = c.op("Expand", []string{g, c.b.Shape(x)})
	if n.GetOpType() == "ReduceMean" {
		cnt := c.b.Cast(c.op("Div", []string{c.op("Size", []string{x}), c.op("Size", []string{y})}), c.elem(x))
		g = c.op("Div", []string{g, cnt})
	}
	return []string{g}, nil
}

// keptAxes reads a reduction node's axes (nil: all) and, where keepdims=0
// drops some of them, the sorted non-negative axes to Unsqueeze back so
// that the gradient broadcasts against the input (nil otherwise: with
// keepdims, or without it over all axes, where gradient and output are
// scalars that broadcast as they are). noop reports a node that reduces
// nothing (noop_with_empty_axes=1 and no or empty axes).
func (c *ctx) keptAxes(n *onnxpb.NodeProto) (axes, unsq []int64, noop bool, err error) {
	axes, ok := c.inf.ReduceAxes(n)
	if !ok {
		if _, known := c.inf.Ints[in(n, 1)]; in(n, 1) != "" && !known {
			return nil, nil, false, fmt.Errorf("axes must be a constant")
		}
		return nil, nil, true, nil
	}
	if onnx.AttrIntOr(n, "keepdims", 1) != 0 || axes == nil {
		return axes, nil, false, nil
	}
	xs := c.shape(in(n, 0))
	unsq = make([]int64, len(axes))
	for i, a := range axes {
		if a < 0 {
			if xs == nil {
				return nil, nil, false, fmt.Errorf("negative axes on a tensor of unknown rank")
			}
			a += int64(len(xs))
		}
		unsq[i] = a
	}
	sort.Slice(unsq, func(i, j int) bool { return unsq[i] < unsq[j] })
	return axes, unsq, false, nil
}

// reduceKept returns the gradient g and the output of a reduction node
// with the reduced axes restored as size 1 (keptAxes), and the reduced
// axes (nil: all); noop as keptAxes.
func (c *ctx) reduceKept(n *onnxpb.NodeProto, g string) (gk, yk string, axes []int64, noop bool, err error) {
	axes, unsq, noop, err := c.keptAxes(n)
	if err != nil || noop {
		return g, out(n, 0), nil, noop, err
	}
	gk, yk = g, out(n, 0)
	if unsq != nil {
		gk, yk = c.b.Unsqueeze(g, unsq...), c.b.Unsqueeze(yk, unsq...)
	}
	return gk, yk, axes, false, nil
}

// ruleReduceSmooth is the rule of ReduceSumSquare (2x·g), ReduceL1
// (sign(x)·g), ReduceL2 (x/y·g, 0 where the norm y is 0, PyTorch's
// subgradient), ReduceLogSumExp (exp(x − y)·g) and ReduceProd (the product
// of the other elements times g, exact with zeros: with no zero in the
// slice it is y/x; with one, the element that is 0 gets the product of the
// others and the rest 0; with two or more, every element gets 0). With
// noop_with_empty_axes=1 and no axes, ONNX Runtime (as the ONNX reference)
// reduces nothing but still applies the elementwise part: x², |x|, |x|, x
// and x.
func ruleReduceSmooth(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	g, y, axes, noop, err := c.reduceKept(n, gy[0])
	if err != nil {
		return nil, err
	}
	mul := func(a, b string) string { return c.op("Mul", []string{a, b}) }
	if noop {
		// ONNX Runtime applies the elementwise part (x², |x|, √(x²),
		// log(exp(x)), x): the derivatives 2x, sign(x), sign(x), 1, 1
		switch n.GetOpType() {
		case "ReduceSumSquare":
			return []string{mul(g, mul(x, c.scalar(2, x)))}, nil
		case "ReduceL1", "ReduceL2":
			return []string{mul(g, c.op("Sign", []string{x}))}, nil
		}
		return []string{g}, nil
	}
	zero, one := c.scalar(0, x), c.scalar(1, x)
	var d string
	switch n.GetOpType() {
	case "ReduceSumSquare":
		d = mul(x, c.scalar(2, x))
	case "ReduceL1":
		d = c.op("Sign", []string{x})
	case "ReduceL2":
		safe := c.op("Where", []string{c.op("Equal", []string{y, zero}), one, y})
		d = c.op("Div", []string{x, safe})
	case "ReduceLogSumExp":
		d = c.op("Exp", []string{c.op("Sub", []string{x, y})})
	case "ReduceProd":
		isZero := c.op("Equal", []string{x, zero})
		zeros := c.b.ReduceSum(c.b.Cast(isZero, c.elem(x)), axes, true)
		nz := c.b.Reduce("ReduceProd", c.op("Where", []string{isZero, one, x}), axes, true)
		atZero := c.op("Where", []string{c.op("Equal", []string{zeros, one}), nz, zero})
		// nz/x is not finite where x is 0, but Where does not pick it there
		elsewhere := c.op("Where", []string{c.op("Equal", []string{zeros, zero}), c.op("Div", []string{nz, x}), zero})
		d = c.op("Where", []string{isZero, atZero, elsewhere})
	default:
		return nil, fmt.Errorf("no rule for %s", n.GetOpType())
	}
	return []string{mul(g, d)}, nil
}

// ruleCumSum: each input element feeds the outputs after it (before it
// with reverse=1), so its gradient is the cumulative sum of g in the
// other direction, with the same exclusive attribute.
func ruleCumSum(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	rev := onnx.AttrIntOr(n, "reverse", 0)
	g := c.op("CumSum", []string{gy[0], in(n, 1)}, onnx.AttrInt("exclusive", onnx.AttrIntOr(n, "exclusive", 0)),
		onnx.AttrInt("reverse", 1-min(rev, 1)))
	return []string{g, ""}, nil
}

// ruleReduceMaxMin is the rule of ReduceMax and ReduceMin (axes an
// attribute before opset 18, an input from 18). Each slice's gradient goes
// to the positions holding its extreme, split evenly among exact ties, as
// PyTorch's amax and amin do.
func ruleReduceMaxMin(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	g, yk, axes, noop, err := c.reduceKept(n, gy[0])
	if err != nil {
		return nil, err
	}
	if noop {
		return []string{gy[0]}, nil // noop_with_empty_axes=1 and no (or empty) axes: identity
	}
	mask := c.b.Cast(c.op("Equal", []string{x, yk}), c.elem(x))
	cnt := c.b.ReduceSum(mask, axes, true)
	return []string{c.op("Mul", []string{mask, c.op("Div", []string{g, cnt})}), ""}, nil
}
