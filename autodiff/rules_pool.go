package autodiff

import (
	"fmt"
	"math"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

func ruleMaxPool(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	if gy[0] == "" {
		return []string{""}, nil // only Indices used: no gradient
	}
	if onnx.AttrIntOr(n, "storage_order", 0) != 0 {
		return nil, fmt.Errorf("storage_order=1 is not supported")
	}
	k, s, d, _, _, err := c.window(n, x, nil)
	if err != nil {
		return nil, err
	}
	g := gy[0]
	if p, _ := c.m.Producer(x); p != nil && p.GetOpType() == "Relu" && c.uses[x] == 1 {
		// MaxPool(Relu(·)): the selected element is > 0 iff the pooled
		// value is, so apply the Relu mask here, on the smaller tensor.
		y := out(n, 0)
		g = c.op("Where", []string{c.op("Greater", []string{y, c.scalar(0, y)}), g, c.scalar(0, y)})
		c.masked[x] = true
	}
	idx := out(n, 1)
	if idx == "" {
		// Ask the forward MaxPool for its Indices output: ties then route
		// to the first maximal element in row-major order, as in PyTorch.
		idx = c.b.Name("maxpool_indices")
		if len(n.Output) < 2 {
			n.Output = append(n.Output, idx)
		} else {
			n.Output[1] = idx
		}
	}
	overlap := false
	for i := range k {
		if (k[i]-1)*d[i]+1 > s[i] {
			overlap = true
		}
	}
	// MaxUnpool reads the Indices as flat positions in its output, so its
	// output must have x's shape; with ceil_mode its minimum output can be
	// larger, and then only the scatter below is correct.
	if !overlap && onnx.AttrIntOr(n, "ceil_mode", 0) != 0 {
		xs, ys := c.shape(x), c.shape(out(n, 0))
		_, _, _, pb, pe, _ := c.window(n, x, nil)
		for i := range k {
			if len(xs) != len(k)+2 || len(ys) != len(k)+2 || xs[2+i] < 0 || ys[2+i] < 0 ||
				(ys[2+i]-1)*s[i]+k[i]-pb[i]-pe[i] > xs[2+i] {
				overlap = true
			}
		}
	}
	if !overlap {
		// MaxUnpool scatters each gradient to its argmax; windows do not
		// overlap, so no two indices collide.
		_, _, _, pb, pe, _ := c.window(n, x, nil)
		return []string{c.op("MaxUnpool", []string{g, idx, c.b.Shape(x)},
			onnx.AttrInts("kernel_shape", k...), onnx.AttrInts("strides", s...),
			onnx.AttrInts("pads", append(append([]int64{}, pb...), pe...)...))}, nil
	}
	if c.b.Opset < 16 || forceOffsetRouting {
		// ScatterElements with reduction=add arrived in opset 16: below
		// it, route by kernel offsets.
		_, _, _, pb, pe, _ := c.window(n, x, nil)
		gx, err := c.routeByOffsets(x, out(n, 0), g, idx, k, s, d, pb, pe)
		if err != nil {
			return nil, fmt.Errorf("overlapping or ceil_mode windows at opset %d: %w", c.b.Opset, err)
		}
		return []string{gx}, nil
	}
	flat := c.b.Reshape(g, -1)
	fi := c.b.Reshape(idx, -1)
	z := c.b.Reshape(c.zerosLike(x), -1)
	sc := c.op("ScatterElements", []string{z, fi, flat}, onnx.AttrInt("axis", 0), onnx.AttrString("reduction", "add"))
	return []string{c.op("Reshape", []string{sc, c.b.Shape(x)})}, nil
}

// forceOffsetRouting makes MaxPool use routeByOffsets at every opset
// (tests compare it with the ScatterElements path).
var forceOffsetRouting bool

// routeByOffsets returns the gradient of x [N, C, I...] given the
// gradient g of a MaxPool output y [N, C, O...] and its Indices idx, in
// operators every opset has (Div, Mul, Sub, Equal, Where, Reshape,
// ConvTranspose). For each kernel offset it keeps the gradient of the
// windows whose maximum ORT's forward put at the element that offset
// reads (the Indices taken within one N·C plane, compared with that
// element's position); one grouped ConvTranspose whose kernels are one-hot
// at their offset adds every offset's part into place, summing where
// windows overlap. Exact ties go where the Indices say, as on the
// ScatterElements and MaxUnpool paths. It needs static C and spatial
// sizes.
func (c *ctx) routeByOffsets(x, y, g, idx string, k, s, d, pb, pe []int64) (string, error) {
	xs, ys := c.shape(x), c.shape(y)
	r := len(k)
	if len(xs) != r+2 || len(ys) != r+2 {
		return "", fmt.Errorf("ranks of %q and %q unknown", x, y)
	}
	if xs[1] < 0 {
		return "", fmt.Errorf("the channel count of %q must be static", x)
	}
	for i := 0; i < r; i++ {
		if xs[2+i] < 0 || ys[2+i] < 0 {
			return "", fmt.Errorf("the spatial sizes of %q (%v) and %q (%v) must be static", x, xs, y, ys)
		}
	}
	ch := xs[1]
	kk, plane, osz := dimProd(k, 0, r), dimProd(xs, 2, r+2), dimProd(ys, 2, r+2)
	// pos[ki, o]: the in-plane position that offset ki of window o reads,
	// -1 where it reads padding (the Indices never point there).
	pos := make([]int64, kk*osz)
	off, o := make([]int64, r), make([]int64, r)
	for ki := int64(0); ki < kk; ki++ {
		unravel(off, ki, k)
		for oi := int64(0); oi < osz; oi++ {
			unravel(o, oi, ys[2:])
			p := int64(0)
			for a := 0; a < r && p >= 0; a++ {
				h := o[a]*s[a] - pb[a] + off[a]*d[a]
				if h < 0 || h >= xs[2+a] {
					p = -1
					break
				}
				p = p*xs[2+a] + h
			}
			pos[ki*osz+oi] = p
		}
	}
	b := c.b
	posT := b.Initializer(onnx.TensorI64(b.Name("pool_offset_pos"), append([]int64{kk}, ys[2:]...), pos))
	pl := b.ConstI64(plane)
	within := c.op("Sub", []string{idx, c.op("Mul", []string{c.op("Div", []string{idx, pl}), pl})})
	hit := c.op("Equal", []string{b.Unsqueeze(within, 2), posT})
	gk := c.op("Where", []string{hit, b.Unsqueeze(g, 2), c.scalar(0, y)}) // [N, C, K, O...]
	gk = c.op("Reshape", []string{gk, b.ConstI64(append([]int64{0, ch * kk}, ys[2:]...)...)})
	w := make([]float64, ch*kk*kk)
	for ci := int64(0); ci < ch; ci++ {
		for ki := int64(0); ki < kk; ki++ {
			w[(ci*kk+ki)*kk+ki] = 1
		}
	}
	wt := b.ConstFloat("pool_offset_onehot", c.elem(x), append([]int64{ch * kk, 1}, k...), w)
	return c.scatterWindows(gk, wt, xs, ys, k, s, d, pb, pe, ch), nil
}

// scatterWindows is the grouped ConvTranspose (group ch, kernels wt) that
// puts each window's values of g back on the input positions it covers,
// summing where windows overlap, for a pool of input xs and output ys.
func (c *ctx) scatterWindows(g, wt string, xs, ys, k, s, d, pb, pe []int64, ch int64) string {
	pads, op := scatterGeometry(xs[2:], ys[2:], k, s, d, pb, pe)
	attrs := []*onnxpb.AttributeProto{
		onnx.AttrInts("kernel_shape", k...), onnx.AttrInts("strides", s...), onnx.AttrInts("dilations", d...),
		onnx.AttrInts("pads", pads...), onnx.AttrInt("group", ch),
	}
	if op != nil {
		attrs = append(attrs, onnx.AttrInts("output_padding", op...))
	}
	return c.op("ConvTranspose", []string{g, wt}, attrs...)
}

// scatterGeometry returns the pads and output_padding (nil when zero) of
// a ConvTranspose that puts the windows of a pool with the given geometry
// back on an input of spatial sizes in, whose output has sizes out: a
// ceil_mode window reaching past the input is cropped by a larger end pad.
func scatterGeometry(in, out, k, s, d, pb, pe []int64) (pads, op []int64) {
	r := len(k)
	pads = make([]int64, 2*r)
	op = make([]int64, r)
	nonzero := false
	for i := 0; i < r; i++ {
		back := s[i]*(out[i]-1) + (k[i]-1)*d[i] + 1 - pb[i] - pe[i]
		pads[i], pads[r+i] = pb[i], pe[i]
		if back > in[i] {
			pads[r+i] += back - in[i]
		} else if back < in[i] {
			op[i] = in[i] - back
			nonzero = true
		}
	}
	if !nonzero {
		op = nil
	}
	return pads, op
}

// unravel writes the row-major multi-index of flat index i in dims to dst.
func unravel(dst []int64, i int64, dims []int64) {
	for a := len(dims) - 1; a >= 0; a-- {
		dst[a] = i % dims[a]
		i /= dims[a]
	}
}

func ruleAveragePool(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	xs := c.shape(x)
	k, s, d, pb, pe, err := c.window(n, x, nil)
	if err != nil {
		return nil, err
	}
	if gx, ok := c.avgPoolStatic(n, x, out(n, 0), gy[0], k, s, d, pb, pe); ok {
		return []string{gx}, nil
	}
	if onnx.AttrIntOr(n, "ceil_mode", 0) != 0 {
		return nil, fmt.Errorf("ceil_mode=1 needs static channel and spatial sizes")
	}
	if len(xs) < 3 || xs[1] < 0 {
		return nil, fmt.Errorf("the channel count must be static")
	}
	ch := xs[1]
	op, err := c.outputPadding(x, k, s, d, pb, pe, false)
	if err != nil {
		return nil, err
	}
	kk := int64(1)
	for _, v := range k {
		kk *= v
	}
	padded := false
	for i := range pb {
		if pb[i] != 0 || pe[i] != 0 {
			padded = true
		}
	}
	g := gy[0]
	if padded && onnx.AttrIntOr(n, "count_include_pad", 0) == 0 {
		// divisor = number of valid elements in each window
		// = K · AveragePool(ones, count_include_pad=1)
		ones := c.op("Add", []string{c.zerosLike(x), c.scalar(1, x)})
		attrs := []*onnxpb.AttributeProto{onnx.AttrInts("kernel_shape", k...), onnx.AttrInts("strides", s...),
			onnx.AttrInts("pads", append(append([]int64{}, pb...), pe...)...), onnx.AttrInt("count_include_pad", 1)}
		if c.b.Opset >= 19 {
			attrs = append(attrs, onnx.AttrInts("dilations", d...))
		}
		frac := c.op("AveragePool", []string{ones}, attrs...)
		g = c.op("Div", []string{g, c.op("Mul", []string{frac, c.scalar(float64(kk), x)})})
	} else {
		g = c.op("Mul", []string{g, c.scalar(1/float64(kk), x)})
	}
	wdims := append([]int64{ch, 1}, k...)
	ones := make([]float64, ch*kk)
	for i := range ones {
		ones[i] = 1
	}
	w := c.b.ConstFloat("avgpool_ones", c.elem(x), wdims, ones)
	attrs := []*onnxpb.AttributeProto{
		onnx.AttrInts("kernel_shape", k...), onnx.AttrInts("strides", s...), onnx.AttrInts("dilations", d...),
		onnx.AttrInts("pads", append(append([]int64{}, pb...), pe...)...), onnx.AttrInt("group", ch),
	}
	for _, v := range op {
		if v != 0 {
			attrs = append(attrs, onnx.AttrInts("output_padding", op...))
			break
		}
	}
	return []string{c.op("ConvTranspose", []string{g, w}, attrs...)}, nil
}

// avgPoolStatic is AveragePool's gradient when the channel count and the
// spatial sizes of x and y are static (ok false otherwise): every output
// element spreads g/divisor over the input elements of its window, by a
// grouped ConvTranspose with kernels of ones. The divisor of each window
// is ONNX Runtime's own: the same AveragePool applied to a constant of
// ones gives valid/divisor, where valid is the number of the window's
// elements inside the input (computed here), so g·AveragePool(1)/valid is
// g/divisor for count_include_pad, ceil_mode, dilations and auto_pad
// alike. The AveragePool of the constant folds when the session loads.
func (c *ctx) avgPoolStatic(n *onnxpb.NodeProto, x, y, g string, k, s, d, pb, pe []int64) (string, bool) {
	xs, ys := c.shape(x), c.shape(y)
	r := len(k)
	if len(xs) != r+2 || len(ys) != r+2 || xs[1] < 0 || dimProd(xs, 2, r+2) < 0 || dimProd(ys, 2, r+2) < 0 {
		return "", false
	}
	ch, osz := xs[1], dimProd(ys, 2, r+2)
	b, e := c.b, c.elem(x)
	ones := make([]float64, dimProd(xs, 2, r+2))
	for i := range ones {
		ones[i] = 1
	}
	onesT := b.ConstFloat("avgpool_probe", e, append([]int64{1, 1}, xs[2:]...), ones)
	ratio := c.op("AveragePool", []string{onesT}, n.GetAttribute()...) // valid/divisor, [1, 1, O...]
	inv := make([]float64, osz)
	o := make([]int64, r)
	empty := false
	for oi := int64(0); oi < osz; oi++ {
		unravel(o, oi, ys[2:])
		valid := int64(1)
		for a := 0; a < r; a++ {
			cnt := int64(0)
			for i := int64(0); i < k[a]; i++ {
				if h := o[a]*s[a] - pb[a] + i*d[a]; h >= 0 && h < xs[2+a] {
					cnt++
				}
			}
			valid *= cnt
		}
		if valid > 0 {
			inv[oi] = 1 / float64(valid)
		} else {
			empty = true
		}
	}
	oshape := append([]int64{1, 1}, ys[2:]...)
	scale := c.op("Mul", []string{ratio, b.ConstFloat("avgpool_inv_valid", e, oshape, inv)})
	if empty {
		// a window wholly in the padding: 0/0 there, and no input element
		// to pass its gradient to
		keep := make([]bool, osz)
		for i, v := range inv {
			keep[i] = v > 0
		}
		mask := b.Initializer(onnx.TensorBool(b.Name("avgpool_nonempty"), oshape, keep))
		scale = c.op("Where", []string{mask, scale, c.scalar(0, x)})
	}
	g = c.op("Mul", []string{g, scale})
	kk := dimProd(k, 0, r)
	w := make([]float64, ch*kk)
	for i := range w {
		w[i] = 1
	}
	wt := b.ConstFloat("avgpool_ones", e, append([]int64{ch, 1}, k...), w)
	return c.scatterWindows(g, wt, xs, ys, k, s, d, pb, pe, ch), true
}

func ruleGlobalAveragePool(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	xs := c.shape(x)
	e := c.op("Expand", []string{gy[0], c.b.Shape(x)})
	if len(xs) >= 3 && (onnx.ValueType{Shape: xs[2:]}).Known() {
		cnt := int64(1)
		for _, v := range xs[2:] {
			cnt *= v
		}
		return []string{c.op("Mul", []string{e, c.scalar(1/float64(cnt), x)})}, nil
	}
	sp := c.op("Slice", []string{c.b.Shape(x), c.b.ConstI64(2), c.b.ConstI64(math.MaxInt64)})
	cnt := c.b.Cast(c.b.Reduce("ReduceProd", sp, nil, false), c.elem(x))
	return []string{c.op("Div", []string{e, cnt})}, nil
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
