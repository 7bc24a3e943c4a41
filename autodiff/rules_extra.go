package autodiff

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Rules for strided slices, the reductions beyond ReduceSum, ReduceMean,
// ReduceMax and ReduceMin, LpNormalization, GatherElements, TopK,
// DepthToSpace, SpaceToDepth, CumSum and Einsum. Every node they write is
// valid in ai.onnx opsets 11 to 21 (Einsum's own rule from 12, where
// Einsum appears); reductions go through the Builder, which writes the
// axes form of the model's opset.

func init() {
	for op, r := range map[string]rule{
		"ReduceSumSquare": ruleReduceSmooth, "ReduceL1": ruleReduceSmooth, "ReduceL2": ruleReduceSmooth,
		"ReduceLogSumExp": ruleReduceSmooth, "ReduceProd": ruleReduceSmooth,
		"LpNormalization": ruleLpNormalization, "GatherElements": ruleGatherElements, "TopK": ruleTopK,
		"DepthToSpace": ruleDepthToSpace, "SpaceToDepth": ruleSpaceToDepth, "CumSum": ruleCumSum,
		"Einsum": ruleEinsum, "Resize": ruleResize,
	} {
		rules[op] = r
	}
}

// sliceScatter returns the gradient g (static shape gs) of a slice of x
// on axis ax (start, end and step as the node gives them, d the axis's
// static size, -1 dynamic) scattered back to the full axis: the slice is
// Gather with the indices start, start+step, … (ONNX's clamping applied),
// whose gradient is OneHot(indices)ᵀ · g as in ruleGather. With a static
// size the indices are a constant; with a dynamic one they are computed at
// run time with Range from the clamped start and end. It returns "" when
// the slice is statically empty.
func (c *ctx) sliceScatter(g string, gs []int64, x string, ax int, start, end, step, d int64) (string, error) {
	var idx, depth string
	k := int64(-1)
	if d >= 0 {
		b, e := onnx.ClampSlice(start, end, step, d)
		var v []int64
		for i := b; (step > 0 && i < e) || (step < 0 && i > e); i += step {
			v = append(v, i)
		}
		if len(v) == 0 {
			return "", nil
		}
		idx, depth, k = c.b.ConstI64(v...), c.b.ConstI64(d), int64(len(v))
	} else {
		dt := c.op("Gather", []string{c.b.Shape(x), c.b.ScalarI64(int64(ax))}) // 0-D
		// Where/Less rather than Min/Max, which have no int64 form in opset 11
		lo := func(a, b string) string { return c.op("Where", []string{c.op("Less", []string{a, b}), a, b}) }
		hi := func(a, b string) string { return c.op("Where", []string{c.op("Less", []string{a, b}), b, a}) }
		resolve := func(v int64) string {
			if v < 0 {
				return c.op("Add", []string{c.b.ScalarI64(v), dt})
			}
			return c.b.ScalarI64(v)
		}
		b, e := resolve(start), resolve(end)
		if step > 0 {
			b = lo(hi(b, c.b.ScalarI64(0)), dt)
			e = lo(hi(e, c.b.ScalarI64(0)), dt)
		} else {
			last := c.op("Sub", []string{dt, c.b.ScalarI64(1)})
			b = lo(hi(b, c.b.ScalarI64(0)), last)
			e = lo(hi(e, c.b.ScalarI64(-1)), last)
		}
		idx = c.op("Range", []string{b, e, c.b.ScalarI64(step)})
		depth = c.b.Reshape(dt, 1)
	}
	return c.axisScatter(g, gs, x, ax, idx, depth, k, d), nil
}

// axisScatter returns the gradient g (static shape gs) of Gather(t, idx,
// axis ax) scattered back to t, where t's axis has size d (-1 unknown;
// depth holds it as a 1-element tensor) and t's other axes are g's: idx
// is a 1-D list of k indices (-1 unknown).
func (c *ctx) axisScatter(g string, gs []int64, x string, ax int, idx, depth string, k, d int64) string {
	oh := c.oneHotF(idx, depth, 0, x)                // [D, K]
	g3 := c.scatterMatMul(g, oh, g, gs, ax, ax+1, k) // [P, D, Q]
	ns := append([]int64{}, gs...)
	ns[ax] = d
	var sh string
	if (onnx.ValueType{Shape: ns}).Known() {
		sh = c.b.ConstI64(ns...)
	} else {
		r := len(gs)
		gsh := c.b.Shape(g)
		var parts []string
		if ax > 0 {
			parts = append(parts, c.op("Slice", []string{gsh, c.b.ConstI64(0), c.b.ConstI64(int64(ax)), c.b.ConstI64(0)}))
		}
		parts = append(parts, depth)
		if ax+1 < r {
			parts = append(parts, c.op("Slice", []string{gsh, c.b.ConstI64(int64(ax + 1)), c.b.ConstI64(int64(r)), c.b.ConstI64(0)}))
		}
		sh = c.op("Concat", parts, onnx.AttrInt("axis", 0))
	}
	return c.op("Reshape", []string{g3, sh})
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

func normAxis(a int64, r int) (int, error) {
	if a < 0 {
		a += int64(r)
	}
	if a < 0 || a >= int64(r) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", a, r)
	}
	return int(a), nil
}

// ruleDepthToSpace applies the inverse permutation: SpaceToDepth for mode
// DCR; for CRD, whose input channels are ordered (channel, block row,
// block column) where SpaceToDepth's output has (block row, block column,
// channel), SpaceToDepth followed by that reordering of the channels
// (which needs a static channel count).
func ruleDepthToSpace(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	bs := onnx.AttrIntOr(n, "blocksize", 0)
	if bs <= 0 {
		return nil, fmt.Errorf("blocksize %d is invalid", bs)
	}
	s := c.op("SpaceToDepth", []string{gy[0]}, onnx.AttrInt("blocksize", bs))
	switch m := onnx.AttrStringOr(n, "mode", "DCR"); m {
	case "DCR":
		return []string{s}, nil
	case "CRD":
	default:
		return nil, fmt.Errorf("mode %q is invalid", m)
	}
	xs := c.shape(x)
	if len(xs) != 4 || xs[1] < 0 {
		return nil, fmt.Errorf("mode CRD needs the channel count of %q statically", x)
	}
	t := c.b.Reshape(s, 0, bs*bs, xs[1]/(bs*bs), -1) // [N, b², C/b², H·W]
	t = c.op("Transpose", []string{t}, onnx.AttrInts("perm", 0, 2, 1, 3))
	return []string{c.op("Reshape", []string{t, c.b.Shape(x)})}, nil
}

// ruleSpaceToDepth applies the inverse permutation, DepthToSpace in DCR
// mode.
func ruleSpaceToDepth(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	bs := onnx.AttrIntOr(n, "blocksize", 0)
	if bs <= 0 {
		return nil, fmt.Errorf("blocksize %d is invalid", bs)
	}
	return []string{c.op("DepthToSpace", []string{gy[0]}, onnx.AttrInt("blocksize", bs), onnx.AttrString("mode", "DCR"))}, nil
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

// ruleEinsum differentiates C = einsum(A, B, …) with respect to each
// operand as another einsum: dA = einsum(dC, B, … → A's subscripts), which
// sums over every index that A lacks. An index of A that occurs neither in
// the output nor in another operand was summed over in A alone; the
// gradient does not depend on it and is broadcast along it (Unsqueeze,
// Expand). An index repeated within one operand (a diagonal or trace) is
// refused. An ellipsis becomes letters (onnx.EinsumTerms); ellipsis axes
// that broadcast (size 1 against a larger size) are refused.
func ruleEinsum(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	eq := onnx.AttrStringOr(n, "equation", "")
	ins := n.GetInput()
	ranks := make([]int, len(ins))
	for i, t := range ins {
		ranks[i] = onnx.ValueType{Shape: c.shape(t)}.Rank()
	}
	terms, outT, err := onnx.EinsumTerms(eq, ranks)
	if err != nil {
		return nil, err
	}
	size := map[rune]int64{}
	for i, t := range append(append([]string{}, terms...), outT) {
		seen := map[rune]bool{}
		for _, l := range t {
			if seen[l] {
				return nil, fmt.Errorf("equation %q: an index repeated within one operand or the output (a diagonal or trace) is not supported", eq)
			}
			seen[l] = true
		}
		if i == len(terms) {
			continue
		}
		s := c.shape(ins[i])
		for j, l := range t {
			if s == nil || s[j] < 0 {
				continue
			}
			if d, ok := size[l]; ok && d != s[j] {
				return nil, fmt.Errorf("equation %q: index sizes %d and %d broadcast, which is not supported", eq, d, s[j])
			}
			size[l] = s[j]
		}
	}
	res := make([]string, len(ins))
	for i, t := range terms {
		if !need[i] {
			continue
		}
		others := map[rune]bool{}
		for _, l := range outT {
			others[l] = true
		}
		opIns := []string{gy[0]}
		sub := []string{outT}
		for j, u := range terms {
			if j == i {
				continue
			}
			for _, l := range u {
				others[l] = true
			}
			opIns = append(opIns, ins[j])
			sub = append(sub, u)
		}
		var keep []rune
		var drop []int64
		for j, l := range t {
			if others[l] {
				keep = append(keep, l)
			} else {
				drop = append(drop, int64(j))
			}
		}
		ge := c.op("Einsum", opIns, onnx.AttrString("equation", strings.Join(sub, ",")+"->"+string(keep)))
		if len(drop) > 0 {
			ge = c.op("Expand", []string{c.b.Unsqueeze(ge, drop...), c.b.Shape(ins[i])})
		}
		res[i] = ge
	}
	return res, nil
}

// ruleResize differentiates Resize in nearest mode: each output element
// copies one input element, so the resize is a Gather along each resized
// axis with a constant index list, and the gradient scatters back as
// Gather's (axisScatter). The index lists are computed here as ONNX
// Runtime computes them (in float32: the coordinate transformation, then
// the nearest_mode rounding, then clamping), which needs static input
// sizes on the resized axes and constant scales or sizes. Linear and cubic
// modes, tf_crop_and_resize, half_pixel_symmetric and
// keep_aspect_ratio_policy other than stretch are refused.
func ruleResize(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	if m := onnx.AttrStringOr(n, "mode", "nearest"); m != "nearest" {
		return nil, fmt.Errorf("mode %q is not supported (only nearest)", m)
	}
	if p := onnx.AttrStringOr(n, "keep_aspect_ratio_policy", "stretch"); p != "stretch" {
		return nil, fmt.Errorf("keep_aspect_ratio_policy %q is not supported (only stretch)", p)
	}
	ctm := onnx.AttrStringOr(n, "coordinate_transformation_mode", "half_pixel")
	switch ctm {
	case "half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners", "tf_half_pixel_for_nn":
	default:
		return nil, fmt.Errorf("coordinate_transformation_mode %q is not supported", ctm)
	}
	nm := onnx.AttrStringOr(n, "nearest_mode", "round_prefer_floor")
	xs, ys := c.shape(x), c.shape(out(n, 0))
	if xs == nil {
		return nil, fmt.Errorf("rank of %q unknown", x)
	}
	r := len(xs)
	axes := onnx.AttrIntsOr(n, "axes", nil)
	if axes == nil {
		for i := 0; i < r; i++ {
			axes = append(axes, int64(i))
		}
	}
	scales, sizes := make([]float32, r), make([]int64, r)
	for i := range scales {
		scales[i], sizes[i] = 1, xs[i]
	}
	if v, ok := c.inf.Ints[in(n, 3)]; ok && len(v) > 0 {
		if len(v) != len(axes) {
			return nil, fmt.Errorf("%d sizes for %d axes", len(v), len(axes))
		}
		for i, a := range axes {
			ax, err := normAxis(a, r)
			if err != nil {
				return nil, err
			}
			if xs[ax] < 0 {
				return nil, fmt.Errorf("resizing dynamic axis %d of %q is not supported", ax, x)
			}
			sizes[ax], scales[ax] = v[i], float32(v[i])/float32(xs[ax])
		}
	} else if ct := c.inf.Consts[in(n, 2)]; ct != nil {
		v, err := onnx.TensorValues(ct)
		if err != nil || len(v) != len(axes) {
			return nil, fmt.Errorf("scales must be a constant with one value per axis")
		}
		for i, a := range axes {
			ax, err := normAxis(a, r)
			if err != nil {
				return nil, err
			}
			scales[ax] = float32(v[i])
			if scales[ax] == 1 {
				continue
			}
			if xs[ax] < 0 {
				return nil, fmt.Errorf("resizing dynamic axis %d of %q is not supported", ax, x)
			}
			sizes[ax] = int64(float32(xs[ax]) * scales[ax])
		}
	} else {
		return nil, fmt.Errorf("scales or sizes must be constants")
	}
	g := gy[0]
	gs := append([]int64{}, ys...)
	if len(gs) != r {
		gs = append([]int64{}, sizes...)
	}
	for ax := 0; ax < r; ax++ {
		d, o := xs[ax], sizes[ax]
		if d < 0 || (o == d && scales[ax] == 1) {
			continue
		}
		idx := make([]int64, o)
		ident := o == d
		for i := range idx {
			idx[i] = nearestIndex(int64(i), scales[ax], o, d, ctm, nm)
			ident = ident && idx[i] == int64(i)
		}
		if ident {
			continue
		}
		g = c.axisScatter(g, gs, x, ax, c.b.ConstI64(idx...), c.b.ConstI64(d), o, d)
		gs[ax] = d
	}
	res := make([]string, len(n.GetInput()))
	res[0] = g
	return res, nil
}

// nearestIndex returns the input index that output index i of an axis
// resized from d to o elements (scale s) reads in Resize's nearest mode,
// computed in float32 as ONNX Runtime does.
func nearestIndex(i int64, s float32, o, d int64, ctm, mode string) int64 {
	xr := float32(i)
	var xo float32
	switch ctm {
	case "half_pixel":
		xo = (xr+0.5)/s - 0.5
	case "pytorch_half_pixel":
		if o > 1 {
			xo = (xr+0.5)/s - 0.5
		}
	case "align_corners":
		if o > 1 {
			xo = xr * float32(d-1) / float32(o-1)
		}
	case "tf_half_pixel_for_nn":
		xo = (xr + 0.5) / s
	default: // asymmetric
		xo = xr / s
	}
	var k float64
	f := float64(xo)
	switch mode {
	case "floor":
		k = math.Floor(f)
	case "ceil":
		k = math.Ceil(f)
	case "round_prefer_ceil":
		k = math.Round(f)
	default: // round_prefer_floor
		if f == math.Floor(f)+0.5 {
			k = math.Floor(f)
		} else {
			k = math.Round(f)
		}
	}
	return max(0, min(int64(k), d-1))
}
