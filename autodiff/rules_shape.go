package autodiff

import (
	"fmt"
	"math"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// zeroRatio reports whether a Dropout's ratio is a constant 0: then even
// training mode passes its input unchanged (torchvision's Swin exports
// attention dropout that way).
func zeroRatio(c *ctx, n *onnxpb.NodeProto) bool {
	r := in(n, 1)
	if r == "" {
		return false // the default ratio is 0.5
	}
	ct := c.inf.Consts[r]
	if ct == nil {
		return false
	}
	f, err := onnx.TensorValues(ct)
	return err == nil && len(f) == 1 && f[0] == 0
}

func ruleDropout(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	if t := in(n, 2); t != "" {
		v, ok := c.inf.Ints[t]
		if !ok {
			if ct := c.inf.Consts[t]; ct != nil {
				if f, err := onnx.TensorValues(ct); err == nil && len(f) == 1 {
					v, ok = []int64{int64(f[0])}, true
				}
			}
		}
		if (!ok || len(v) != 1 || v[0] != 0) && !zeroRatio(c, n) {
			return nil, fmt.Errorf("training mode (a training_mode input that is not a constant false, with a ratio that is not a constant 0) is not supported")
		}
	}
	return []string{gy[0]}, nil
}

func ruleReshapeBack(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	return []string{c.op("Reshape", []string{gy[0], c.b.Shape(in(n, 0))})}, nil
}

func ruleTranspose(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	s := c.shape(in(n, 0))
	p := onnx.AttrIntsOr(n, "perm", nil)
	if p == nil {
		if s == nil {
			return nil, fmt.Errorf("no perm and the rank of the input is unknown")
		}
	}
	if s != nil {
		if p = onnx.TransposePerm(n, len(s)); p == nil {
			return nil, fmt.Errorf("perm %v is not a permutation of %d axes", onnx.AttrIntsOr(n, "perm", nil), len(s))
		}
	}
	inv := make([]int64, len(p))
	for i, v := range p {
		if v < 0 || v >= int64(len(p)) {
			return nil, fmt.Errorf("perm %v is not a permutation of the axes", p)
		}
		inv[v] = int64(i)
	}
	return []string{c.op("Transpose", []string{gy[0]}, onnx.AttrInts("perm", inv...))}, nil
}

func ruleCast(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	if !onnx.IsFloat(c.elem(in(n, 0))) {
		// a QuantizeLinear's integer output (rules_quant.go): its
		// straight-through gradient stays in float
		return []string{gy[0]}, nil
	}
	return []string{c.b.Cast(gy[0], c.elem(in(n, 0)))}, nil
}

func ruleConcat(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	os := c.shape(out(n, 0))
	if os == nil {
		return nil, fmt.Errorf("rank unknown")
	}
	ax := onnx.AttrIntOr(n, "axis", 0)
	if ax < 0 {
		ax += int64(len(os))
	}
	res := make([]string, len(n.GetInput()))
	static := true
	for _, t := range n.GetInput() {
		if s := c.shape(t); s == nil || s[ax] < 0 {
			static = false
		}
	}
	if static {
		off := int64(0)
		for i, t := range n.GetInput() {
			sz := c.shape(t)[ax]
			if need[i] {
				res[i] = c.b.Slice(gy[0], []int64{off}, []int64{off + sz}, []int64{ax})
			}
			off += sz
		}
		return res, nil
	}
	off := c.b.ConstI64(0)
	for i, t := range n.GetInput() {
		sz := c.op("Gather", []string{c.b.Shape(t), c.b.ConstI64(ax)})
		end := c.op("Add", []string{off, sz})
		if need[i] {
			res[i] = c.op("Slice", []string{gy[0], off, end, c.b.ConstI64(ax)})
		}
		off = end
	}
	return res, nil
}

func ruleSplit(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	ax := onnx.AttrIntOr(n, "axis", 0)
	parts := make([]string, len(gy))
	for i, g := range gy {
		if g == "" {
			g = c.zerosLike(out(n, i))
		}
		parts[i] = g
	}
	return []string{c.op("Concat", parts, onnx.AttrInt("axis", ax))}, nil
}

// ruleSlice pads the gradient back to the input's size on step-1 axes of
// static size; other axes (steps other than 1, including negative ones,
// and axes of dynamic size) scatter it with sliceScatter.
func ruleSlice(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	xs := c.shape(x)
	if xs == nil {
		return nil, fmt.Errorf("rank of %q unknown", x)
	}
	st, en, axes, steps, ok := onnx.SliceArgs(c.inf, n, len(xs))
	if !ok {
		return nil, fmt.Errorf("starts, ends, axes and steps must be constants")
	}
	g := gy[0]
	gs := append([]int64{}, c.shape(out(n, 0))...)
	if len(gs) != len(xs) {
		return nil, fmt.Errorf("shape of %q unknown", out(n, 0))
	}
	pads := make([]int64, 2*len(xs))
	scattered, padded := false, false
	for i, a := range axes {
		if steps[i] == 0 {
			return nil, fmt.Errorf("step 0 on axis %d is invalid", a)
		}
		if a < 0 || int(a) >= len(xs) {
			return nil, fmt.Errorf("axis %d out of range for rank %d", a, len(xs))
		}
		d := xs[a]
		if steps[i] != 1 || d < 0 {
			var err error
			if g, err = c.sliceScatter(g, gs, x, int(a), st[i], en[i], steps[i], d); err != nil {
				return nil, err
			}
			if g == "" { // the slice is empty: no element gets a gradient
				return []string{c.zerosLike(x)}, nil
			}
			gs[a] = d
			scattered = true
			continue
		}
		b, e := onnx.ClampSlice(st[i], en[i], steps[i], d)
		if e < b {
			e = b
		}
		pads[a] = b
		pads[int(a)+len(xs)] = d - e
		padded = true
	}
	if scattered && !padded {
		return []string{g}, nil
	}
	return []string{c.op("Pad", []string{g, c.b.ConstI64(pads...)})}, nil
}

func rulePad(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	mode := onnx.AttrStringOr(n, "mode", "constant")
	switch mode {
	case "constant", "reflect", "edge", "wrap":
	default:
		return nil, fmt.Errorf("mode %q is not supported", mode)
	}
	if len(need) > 2 && need[2] {
		return nil, fmt.Errorf("a Pad value that depends on the input is not supported")
	}
	xs := c.shape(x)
	if xs == nil {
		return nil, fmt.Errorf("rank of %q unknown", x)
	}
	r := len(xs)
	pads, ok := onnx.PadAmounts(c.inf, n, r)
	if !ok {
		return nil, fmt.Errorf("pads must be constants")
	}
	if mode != "constant" {
		return c.padCopyBack(x, xs, pads, mode, gy[0])
	}
	var st, en, axes []int64
	for a := 0; a < r; a++ {
		b, e := pads[a], pads[a+r]
		if b < 0 || e < 0 {
			return nil, fmt.Errorf("negative pads are not supported")
		}
		if b == 0 && e == 0 {
			continue
		}
		end := int64(math.MaxInt64)
		if e > 0 {
			end = -e
		}
		st, en, axes = append(st, b), append(en, end), append(axes, int64(a))
	}
	if len(axes) == 0 {
		return []string{gy[0]}, nil
	}
	return []string{c.b.Slice(gy[0], st, en, axes)}, nil
}

func ruleExpand(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	g, err := c.sumTo(gy[0], in(n, 0), c.shape(out(n, 0)))
	return []string{g, ""}, err
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
	return c.axisMatrix(g, gs, x, ax, c.oneHotF(idx, depth, 0, x), depth, k, d)
}

// axisMatrix returns g (static shape gs, k elements on axis ax) with that
// axis mapped back to t's d elements by the matrix m [D, K]: element j of
// the result sums m[j, i]·g[.., i, ..]. A Gather's gradient takes m one-hot
// (axisScatter); linear Resize takes its interpolation weights.
func (c *ctx) axisMatrix(g string, gs []int64, x string, ax int, m, depth string, k, d int64) string {
	g3 := c.scatterMatMul(g, m, g, gs, ax, ax+1, k) // [P, D, Q]
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
	mode := onnx.AttrStringOr(n, "mode", "nearest")
	if mode != "nearest" && mode != "linear" {
		return nil, fmt.Errorf("mode %q is not supported (nearest and linear are)", mode)
	}
	if onnx.AttrIntOr(n, "antialias", 0) != 0 {
		return nil, fmt.Errorf("antialias=1 is not supported")
	}
	if p := onnx.AttrStringOr(n, "keep_aspect_ratio_policy", "stretch"); p != "stretch" {
		return nil, fmt.Errorf("keep_aspect_ratio_policy %q is not supported (only stretch)", p)
	}
	ctm := onnx.AttrStringOr(n, "coordinate_transformation_mode", "half_pixel")
	switch ctm {
	case "half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners":
	case "tf_half_pixel_for_nn":
		if mode != "nearest" {
			return nil, fmt.Errorf("coordinate_transformation_mode %q is for nearest mode only", ctm)
		}
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
	sz, ok := c.inf.Ints[in(n, 3)]
	if !ok {
		// sizes copied from Shape(x) on a dynamic axis (F.interpolate's
		// export: Concat(Shape(x)[:2], [H, W])): that axis keeps its size
		sz, ok = c.inf.Partial[in(n, 3)]
	}
	if v := sz; ok && len(v) > 0 {
		if len(v) != len(axes) {
			return nil, fmt.Errorf("%d sizes for %d axes", len(v), len(axes))
		}
		for i, a := range axes {
			ax, err := normAxis(a, r)
			if err != nil {
				return nil, err
			}
			if v[i] == onnx.Unknown && xs[ax] < 0 {
				continue
			}
			if xs[ax] < 0 || v[i] == onnx.Unknown {
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
		if mode == "linear" {
			w := make([]float64, d*o) // [D, O]: input j's weight in output i
			for i := int64(0); i < o; i++ {
				j1, j2, w1, w2 := linearTaps(i, scales[ax], o, d, ctm)
				w[j1*o+i] += float64(w1)
				w[j2*o+i] += float64(w2)
			}
			m := c.b.ConstFloat("resize_linear", c.elem(x), []int64{d, o}, w)
			g = c.axisMatrix(g, gs, x, ax, m, c.b.ConstI64(d), o, d)
			gs[ax] = d
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
// linearTaps returns the two input elements j1, j2 that output element i
// of a linear Resize reads on one axis, and their weights, as ONNX
// Runtime computes them (float32 coordinates, clamped to [0, d−1]; equal
// taps at the border weigh ½ each).
func linearTaps(i int64, s float32, o, d int64, ctm string) (j1, j2 int64, w1, w2 float32) {
	xo := max(0, min(resizeCoord(i, s, o, d, ctm), float32(d-1)))
	j1 = min(int64(xo), d-1)
	j2 = min(j1+1, d-1)
	w1, w2 = float32(math.Abs(float64(xo-float32(j2)))), float32(math.Abs(float64(xo-float32(j1))))
	if j1 == j2 {
		w1, w2 = 0.5, 0.5
	}
	return j1, j2, w1, w2
}

// resizeCoord is the input coordinate of output element i of a Resize
// on one axis (scale s, o outputs, d inputs), in float32 as ONNX Runtime
// computes it for the coordinate_transformation_mode ctm.
func resizeCoord(i int64, s float32, o, d int64, ctm string) float32 {
	xr := float32(i)
	switch ctm {
	case "half_pixel":
		return (xr+0.5)/s - 0.5
	case "pytorch_half_pixel":
		if o > 1 {
			return (xr+0.5)/s - 0.5
		}
		return 0
	case "align_corners":
		if o > 1 {
			return xr * float32(d-1) / float32(o-1)
		}
		return 0
	case "tf_half_pixel_for_nn":
		return (xr + 0.5) / s
	}
	return xr / s // asymmetric
}

func nearestIndex(i int64, s float32, o, d int64, ctm, mode string) int64 {
	xo := resizeCoord(i, s, o, d, ctm)
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

// padCopyBack is the gradient of Pad in reflect, edge or wrap mode: on
// each padded axis the output is a Gather of x with the index list that
// mode reads (reflect: −i and 2(d−1)−i past the ends; edge: the end
// element; wrap: i mod d), so the gradient of every copy is added back to
// its source (axisScatter), axis by axis. The padded axes must be static.
func (c *ctx) padCopyBack(x string, xs, pads []int64, mode, g string) ([]string, error) {
	r := len(xs)
	gs := append([]int64{}, c.shape(g)...)
	if len(gs) != r {
		gs = make([]int64, r)
		for a := range gs {
			gs[a] = -1
			if xs[a] >= 0 {
				gs[a] = xs[a] + pads[a] + pads[a+r]
			}
		}
	}
	for a := 0; a < r; a++ {
		b, e := pads[a], pads[a+r]
		if b == 0 && e == 0 {
			continue
		}
		d := xs[a]
		if d <= 0 {
			return nil, fmt.Errorf("%s padding of axis %d of %q needs a static size", mode, a, x)
		}
		if b < 0 || e < 0 {
			return nil, fmt.Errorf("negative pads are not supported")
		}
		if mode == "reflect" && (b >= d || e >= d) {
			return nil, fmt.Errorf("reflect pads %d, %d on axis %d of size %d: ONNX needs them below the size", b, e, a, d)
		}
		var idx []int64
		for i := -b; i < d+e; i++ {
			j := i
			switch mode {
			case "reflect":
				if j < 0 {
					j = -j
				}
				if j >= d {
					j = 2*(d-1) - j
				}
			case "edge":
				j = max(0, min(j, d-1))
			case "wrap":
				j = ((j % d) + d) % d
			}
			idx = append(idx, j)
		}
		g = c.axisScatter(g, gs, x, a, c.b.ConstI64(idx...), c.b.ConstI64(d), int64(len(idx)), d)
		gs[a] = d
	}
	return []string{g}, nil
}
