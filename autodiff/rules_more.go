package autodiff

import (
	"fmt"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Rules for indexing and selection (Gather, Where, Max, Min, ReduceMax,
// ReduceMin, GlobalMaxPool), ConvTranspose, Tile, InstanceNormalization
// and further elementwise operators. Every node they write is valid in
// ai.onnx opsets 11 to 21: OneHot, MatMul, Equal, Where, ArgMax and
// Reshape have not changed form in that range, and reductions go through
// the Builder, which writes the axes form of the model's opset.

// oneHotF returns OneHot(idx, depth) with the new axis at axis, in the
// element type of like. ORT's CPU OneHot has float32 outputs only (and
// int64 indices with an int64 depth), so other types are cast; the 0/1
// values are exact in every float type.
func (c *ctx) oneHotF(idx, depth string, axis int64, like string) string {
	if c.elem(idx) != onnx.Int64 {
		idx = c.b.Cast(idx, onnx.Int64)
	}
	values := c.b.Initializer(onnx.TensorF32("onehot_values", []int64{2}, []float32{0, 1}))
	o := c.op("OneHot", []string{idx, depth, values}, onnx.AttrInt("axis", axis))
	if e := c.elem(like); e != onnx.Float32 && e != 0 {
		o = c.b.Cast(o, e)
	}
	return o
}

// dimProd returns the product of the sizes of axes [from, to) of the
// static shape xs, or -1 when one of them is unknown.
func dimProd(xs []int64, from, to int) int64 {
	p := int64(1)
	for _, d := range xs[from:to] {
		if d < 0 {
			return -1
		}
		p *= d
	}
	return p
}

// dimProdT returns the product of the sizes of axes [from, to) of x as a
// 1-D int64 tensor of one element: a constant where the static shape xs
// tells, computed at run time otherwise.
func (c *ctx) dimProdT(x string, xs []int64, from, to int) string {
	if p := dimProd(xs, from, to); p >= 0 {
		return c.b.ConstI64(p)
	}
	sl := c.op("Slice", []string{c.b.Shape(x), c.b.ConstI64(int64(from)), c.b.ConstI64(int64(to)), c.b.ConstI64(0)})
	return c.b.Reduce("ReduceProd", sl, nil, true)
}

// ruleGather scatters the gradient of Gather(data, indices, axis) back to
// the data: with the data viewed as [P, D, Q] around the gathered axis (D
// its size) and the gradient as [P, K, Q] (K the number of indices),
// gx = OneHot(indices)ᵀ · g, the one-hot matrix [D, K] times each [K, Q]
// slice. An index read several times gets the sum of its gradients;
// negative indices count from the end (OneHot's rule, as Gather's). The
// one-hot matrix depends on the indices only, so ORT folds it when they
// are constant. Indices are integers and get no gradient.
func ruleGather(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x, idx := in(n, 0), in(n, 1)
	xs := c.shape(x)
	if xs == nil {
		return nil, fmt.Errorf("rank of %q unknown", x)
	}
	r := len(xs)
	ax := onnx.AttrIntOr(n, "axis", 0)
	if ax < 0 {
		ax += int64(r)
	}
	if ax < 0 || ax >= int64(r) {
		return nil, fmt.Errorf("axis %d out of range for rank %d", onnx.AttrIntOr(n, "axis", 0), r)
	}
	var depth string
	if xs[ax] >= 0 {
		depth = c.b.ConstI64(xs[ax])
	} else {
		depth = c.op("Gather", []string{c.b.Shape(x), c.b.ConstI64(ax)})
	}
	flat := c.b.Reshape(idx, -1)
	oh := c.oneHotF(flat, depth, 0, x) // [D, K]
	k := int64(-1)
	if is := c.shape(idx); is != nil && (onnx.ValueType{Shape: is}).Known() {
		k = 1
		for _, d := range is {
			k *= d
		}
	}
	gx := c.scatterMatMul(gy[0], oh, x, xs, int(ax), int(ax)+1, k) // [P, D, Q]
	return []string{c.op("Reshape", []string{gx, c.b.Shape(x)}), ""}, nil
}

// scatterMatMul returns oh · g3, where oh is a one-hot matrix [D, K] and
// g3 is g viewed as [P, K, Q]: P is the product of the sizes of axes
// [0, from) of src, Q that of axes [to, r) (ss is src's static shape, r
// its rank) and K the number of indices (k; -1 unknown). The result is
// [P, D, Q]: each index's gradient added to the row it read.
func (c *ctx) scatterMatMul(g, oh, src string, ss []int64, from, to int, k int64) string {
	r := len(ss)
	p, q := dimProd(ss, 0, from), dimProd(ss, to, r)
	var g3 string
	switch {
	case p >= 0 && q >= 0 && k >= 0:
		g3 = c.b.Reshape(g, p, k, q)
	case p >= 0 && q >= 0:
		g3 = c.b.Reshape(g, p, -1, q)
	case q >= 0 && k >= 0:
		g3 = c.b.Reshape(g, -1, k, q)
	case p >= 0 && k >= 0:
		g3 = c.b.Reshape(g, p, k, -1)
	default:
		pt, qt := c.dimProdT(src, ss, 0, from), c.dimProdT(src, ss, to, r)
		sh := c.op("Concat", []string{pt, c.b.ConstI64(-1), qt}, onnx.AttrInt("axis", 0))
		g3 = c.op("Reshape", []string{g, sh})
	}
	return c.op("MatMul", []string{oh, g3})
}

// ruleWhere passes the gradient to X where the condition holds and to Y
// elsewhere; the condition is boolean and gets none.
func ruleWhere(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	cond, a, b, y := in(n, 0), in(n, 1), in(n, 2), out(n, 0)
	os := c.shape(y)
	zero := c.scalar(0, y)
	res := make([]string, 3)
	var err error
	if need[1] {
		if res[1], err = c.sumTo(c.op("Where", []string{cond, gy[0], zero}), a, os); err != nil {
			return nil, err
		}
	}
	if need[2] {
		if res[2], err = c.sumTo(c.op("Where", []string{cond, zero, gy[0]}), b, os); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// ruleMaxMin is the rule of the variadic, broadcasting Max and Min. Each
// element's gradient goes to the inputs that hold the extreme; on an exact
// tie it is split evenly among them, as PyTorch's torch.maximum and
// torch.minimum do (Max(x, x) passes g/2 to each operand, g in all).
func ruleMaxMin(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	ins, y := n.GetInput(), out(n, 0)
	if len(ins) == 1 {
		return []string{gy[0]}, nil
	}
	os := c.shape(y)
	masks := make([]string, len(ins))
	for i, t := range ins {
		masks[i] = c.b.Cast(c.op("Equal", []string{t, y}), c.elem(y))
	}
	g := c.op("Div", []string{gy[0], c.op("Sum", masks)})
	res := make([]string, len(ins))
	for i, t := range ins {
		if !need[i] {
			continue
		}
		r, err := c.sumTo(c.op("Mul", []string{g, masks[i]}), t, os)
		if err != nil {
			return nil, err
		}
		res[i] = r
	}
	return res, nil
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

// ruleGlobalMaxPool routes each channel's gradient to the first maximal
// element in row-major order (ArgMax), as PyTorch's adaptive_max_pool2d
// (which exports as GlobalMaxPool) and this package's MaxPool do.
func ruleGlobalMaxPool(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	xs := c.shape(x)
	if len(xs) < 3 {
		return nil, fmt.Errorf("input %q: rank unknown or below 3", x)
	}
	xf := c.b.Reshape(x, 0, 0, -1) // [N, C, S]
	am := c.op("ArgMax", []string{xf}, onnx.AttrInt("axis", 2), onnx.AttrInt("keepdims", 0))
	depth := c.dimProdT(x, xs, 2, len(xs))
	oh := c.oneHotF(am, depth, -1, x) // [N, C, S]
	g := c.op("Mul", []string{oh, c.b.Reshape(gy[0], 0, 0, 1)})
	return []string{c.op("Reshape", []string{g, c.b.Shape(x)})}, nil
}

// ruleConvTranspose: ConvTranspose is the adjoint of the Conv with the
// same weights, strides, dilations, pads and group, so the gradient of its
// data input is that Conv of g; output_padding only adds output positions
// that the Conv reads as any other (it must be below the stride, where the
// Conv's output has the data's size). auto_pad SAME_* and output_shape,
// whose pads ORT and the ONNX specification resolve differently, are not
// supported.
func ruleConvTranspose(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	w := in(n, 1)
	if need[1] {
		return nil, fmt.Errorf("weights that depend on the input are not supported")
	}
	if ap := onnx.AttrStringOr(n, "auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
		return nil, fmt.Errorf("auto_pad=%s is not supported (only explicit pads)", ap)
	}
	if onnx.Attr(n, "output_shape") != nil {
		return nil, fmt.Errorf("output_shape is not supported (only explicit pads and output_padding)")
	}
	ws := c.shape(w)
	if len(ws) < 3 {
		return nil, fmt.Errorf("weights %q: rank unknown", w)
	}
	r := len(ws) - 2
	k, s, d := onnx.WindowAttrs(n, ws[2:], r)
	if len(k) != r || !(onnx.ValueType{Shape: k}).Known() {
		return nil, fmt.Errorf("kernel shape unknown")
	}
	pads := onnx.AttrIntsOr(n, "pads", nil)
	if onnx.AttrStringOr(n, "auto_pad", "NOTSET") == "VALID" || len(pads) != 2*r {
		pads = make([]int64, 2*r)
	}
	if op := onnx.AttrIntsOr(n, "output_padding", nil); op != nil {
		for i, v := range op {
			if i < r && v >= s[i] {
				return nil, fmt.Errorf("output_padding %d not below stride %d on axis %d is not supported", v, s[i], i)
			}
		}
	}
	res := make([]string, 3)
	if need[0] {
		res[0] = c.op("Conv", []string{gy[0], w}, onnx.AttrInts("kernel_shape", k...), onnx.AttrInts("strides", s...),
			onnx.AttrInts("dilations", d...), onnx.AttrInts("pads", pads...), onnx.AttrInt("group", onnx.AttrIntOr(n, "group", 1)))
	}
	if len(need) > 2 && need[2] {
		ax := []int64{0}
		for i := 2; i < r+2; i++ {
			ax = append(ax, int64(i))
		}
		res[2] = c.b.ReduceSum(gy[0], ax, false)
	}
	return res, nil
}

func ruleSin(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	return []string{c.op("Mul", []string{gy[0], c.op("Cos", []string{in(n, 0)})})}, nil
}

func ruleCos(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	return []string{c.op("Neg", []string{c.op("Mul", []string{gy[0], c.op("Sin", []string{in(n, 0)})})})}, nil
}

func ruleSoftsign(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	// d/dx x/(1 + |x|) = 1/(1 + |x|)²
	a := c.op("Add", []string{c.op("Abs", []string{x}), c.scalar(1, x)})
	return []string{c.op("Div", []string{gy[0], c.op("Mul", []string{a, a})})}, nil
}

// ruleThresholdedRelu passes the gradient where x > alpha, where the
// output is x (the output is 0 elsewhere, including at x = alpha).
func ruleThresholdedRelu(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	alpha := float64(onnx.AttrFloatOr(n, "alpha", 1))
	mask := c.op("Greater", []string{x, c.scalar(alpha, x)})
	return []string{c.op("Where", []string{mask, gy[0], c.scalar(0, x)})}, nil
}

func ruleCelu(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x, y := in(n, 0), out(n, 0)
	alpha := float64(onnx.AttrFloatOr(n, "alpha", 1))
	// x ≤ 0: y = α(e^(x/α) − 1), dy/dx = e^(x/α) = y/α + 1
	neg := c.op("Mul", []string{gy[0], c.op("Add", []string{c.op("Mul", []string{y, c.scalar(1/alpha, x)}), c.scalar(1, x)})})
	return []string{c.posWhere(x, gy[0], neg)}, nil
}

func ruleMish(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	// y = x·tanh(softplus(x)): dy/dx = t + x·σ(x)·(1 − t²), t = tanh(softplus(x))
	t := c.op("Tanh", []string{c.op("Softplus", []string{x})})
	sech2 := c.op("Sub", []string{c.scalar(1, x), c.op("Mul", []string{t, t})})
	d := c.op("Add", []string{t, c.op("Mul", []string{c.op("Mul", []string{x, c.op("Sigmoid", []string{x})}), sech2})})
	return []string{c.op("Mul", []string{gy[0], d})}, nil
}

// ruleTile sums the gradient over the repeats: the output's axis i of size
// r_i·d_i is viewed as [r_i, d_i] (the copy index outermost) and the copy
// axes are summed out.
func ruleTile(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x, rep := in(n, 0), in(n, 1)
	if len(need) > 1 && need[1] {
		return nil, fmt.Errorf("repeats that depend on the input are not supported")
	}
	xs := c.shape(x)
	rv, known := c.inf.Ints[rep]
	r := -1
	switch rs := c.shape(rep); {
	case xs != nil:
		r = len(xs)
	case known:
		r = len(rv)
	case len(rs) == 1 && rs[0] >= 0:
		r = int(rs[0])
	default:
		return nil, fmt.Errorf("rank of %q unknown", x)
	}
	if known && len(rv) != r {
		return nil, fmt.Errorf("%d repeats for rank %d", len(rv), r)
	}
	if r == 0 {
		return []string{gy[0], ""}, nil
	}
	var axes []int64
	for i := 0; i < r; i++ {
		if !known || rv[i] != 1 {
			axes = append(axes, int64(2*i))
		}
	}
	if len(axes) == 0 {
		return []string{gy[0], ""}, nil
	}
	var sh string
	if known && xs != nil && (onnx.ValueType{Shape: xs}).Known() {
		v := make([]int64, 0, 2*r)
		for i := 0; i < r; i++ {
			v = append(v, rv[i], xs[i])
		}
		sh = c.b.ConstI64(v...)
	} else {
		rp := c.op("Reshape", []string{rep, c.b.ConstI64(-1, 1)})
		xp := c.op("Reshape", []string{c.b.Shape(x), c.b.ConstI64(-1, 1)})
		sh = c.b.Reshape(c.op("Concat", []string{rp, xp}, onnx.AttrInt("axis", 1)), -1)
	}
	g := c.b.ReduceSum(c.op("Reshape", []string{gy[0], sh}), axes, false)
	if len(axes) < r {
		g = c.op("Reshape", []string{g, c.b.Shape(x)})
	}
	return []string{g, ""}, nil
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
