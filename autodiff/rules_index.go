package autodiff

import (
	"fmt"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// scatterElementsBack returns the gradient of x for g, the gradient of
// GatherElements(x, idx, axis ax): each element of g added at the position
// it was read from. From opset 16 that is ScatterElements with
// reduction=add into zeros; before, where ScatterElements cannot add, the
// sum over the indices' axis of OneHot(idx) (a new axis after ax) times g,
// padded at the end of the other axes to x's sizes (GatherElements allows
// indices smaller than the data there).
func (c *ctx) scatterElementsBack(g, x string, xs []int64, idx string, ax int) string {
	if c.b.Opset >= 16 {
		return c.op("ScatterElements", []string{c.zerosLike(x), idx, g}, onnx.AttrInt("axis", int64(ax)), onnx.AttrString("reduction", "add"))
	}
	var depth string
	if xs[ax] >= 0 {
		depth = c.b.ConstI64(xs[ax])
	} else {
		depth = c.op("Gather", []string{c.b.Shape(x), c.b.ConstI64(int64(ax))})
	}
	oh := c.oneHotF(idx, depth, int64(ax+1), x) // idx's shape with D inserted after ax
	gx := c.b.ReduceSum(c.op("Mul", []string{oh, c.b.Unsqueeze(g, int64(ax+1))}), []int64{int64(ax)}, false)
	is := c.shape(idx)
	same := len(is) == len(xs)
	for i := range xs {
		// two unknown sizes are taken as equal on the batch axis, as in sumTo
		if same && i != ax && (is[i] != xs[i] || (xs[i] < 0 && i > 0)) {
			same = false
		}
	}
	if same {
		return gx
	}
	r := int64(len(xs))
	pads := c.op("Concat", []string{c.b.ConstI64(make([]int64, r)...), c.op("Sub", []string{c.b.Shape(x), c.b.Shape(gx)})}, onnx.AttrInt("axis", 0))
	return c.op("Pad", []string{gx, pads})
}

// ruleGatherElements scatters the gradient back to the data input
// (scatterElementsBack); the indices get none.
func ruleGatherElements(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x, idx := in(n, 0), in(n, 1)
	xs := c.shape(x)
	if xs == nil {
		return nil, fmt.Errorf("rank of %q unknown", x)
	}
	ax, err := normAxis(onnx.AttrIntOr(n, "axis", 0), len(xs))
	if err != nil {
		return nil, err
	}
	return []string{c.scatterElementsBack(gy[0], x, xs, idx, ax), ""}, nil
}

// ruleTopK routes the gradient of the values to the positions the indices
// output selected (scatterElementsBack); the indices output carries none.
func ruleTopK(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x, idx := in(n, 0), out(n, 1)
	if gy[0] == "" {
		return []string{""}, nil
	}
	if idx == "" {
		return nil, fmt.Errorf("the indices output is needed and has no name")
	}
	xs := c.shape(x)
	if xs == nil {
		return nil, fmt.Errorf("rank of %q unknown", x)
	}
	ax, err := normAxis(onnx.AttrIntOr(n, "axis", -1), len(xs))
	if err != nil {
		return nil, err
	}
	return []string{c.scatterElementsBack(gy[0], x, xs, idx, ax), ""}, nil
}

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
