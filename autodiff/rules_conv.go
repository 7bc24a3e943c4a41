package autodiff

import (
	"fmt"
	"math"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// window returns kernel, strides, dilations and resolved pads of a conv or
// pool node whose input is x and whose kernel is wk (from the weights).
func (c *ctx) window(n *onnxpb.NodeProto, x string, wk []int64) (k, s, d, pb, pe []int64, err error) {
	xs := c.shape(x)
	if len(xs) < 3 {
		return nil, nil, nil, nil, nil, fmt.Errorf("input %q: rank unknown or below 3", x)
	}
	r := len(xs) - 2
	k, s, d = onnx.WindowAttrs(n, wk, r)
	if len(k) != r {
		return nil, nil, nil, nil, nil, fmt.Errorf("kernel shape unknown")
	}
	in := append([]int64{}, xs[2:]...)
	for i := range in {
		if in[i] < 0 && s[i] == 1 {
			in[i] = 1 // with stride 1, SAME pads do not depend on the size
		}
	}
	var ok bool
	pb, pe, ok = onnx.ConvPads(n, in, k, s, d)
	if !ok {
		return nil, nil, nil, nil, nil, fmt.Errorf("auto_pad %s with strides above 1 needs static spatial sizes", onnx.AttrStringOr(n, "auto_pad", ""))
	}
	return k, s, d, pb, pe, nil
}

// outputPadding returns the ConvTranspose output_padding that restores
// the spatial sizes of x after a window op with the given geometry.
func (c *ctx) outputPadding(x string, k, s, d, pb, pe []int64, ceil bool) ([]int64, error) {
	xs := c.shape(x)
	op := make([]int64, len(k))
	for i := range k {
		h := xs[2+i]
		if h < 0 {
			if s[i] != 1 || ceil {
				return nil, fmt.Errorf("strided window on a dynamic spatial axis %d of %q is not supported", i, x)
			}
			continue
		}
		o := onnx.PoolOutputSize(h, k[i], s[i], d[i], pb[i], pe[i], ceil)
		back := s[i]*(o-1) + (k[i]-1)*d[i] + 1 - pb[i] - pe[i]
		op[i] = h - back
		if op[i] < 0 {
			return nil, fmt.Errorf("window on axis %d of %q reads past the input (ceil mode); not supported", i, x)
		}
	}
	return op, nil
}

func ruleConv(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	w := in(n, 1)
	if need[1] {
		return nil, fmt.Errorf("weights that depend on the input are not supported")
	}
	ws := c.shape(w)
	if len(ws) < 3 {
		return nil, fmt.Errorf("weights %q: rank unknown", w)
	}
	res := make([]string, 3)
	if need[0] {
		gx, err := c.convInputGrad(n, gy[0], w, ws)
		if err != nil {
			return nil, err
		}
		res[0] = gx
	}
	if len(need) > 2 && need[2] {
		r := len(ws)
		ax := []int64{0}
		for i := 2; i < r; i++ {
			ax = append(ax, int64(i))
		}
		res[2] = c.b.ReduceSum(gy[0], ax, false)
	}
	return res, nil
}

// convInputGrad returns the gradient of Conv node n's data input given
// the gradient g of its output, computed with the weights w of static
// shape ws (n's own, or n's scaled by a fused rule).
func (c *ctx) convInputGrad(n *onnxpb.NodeProto, g, w string, ws []int64) (string, error) {
	x := in(n, 0)
	k, s, d, pb, pe, err := c.window(n, x, ws[2:])
	if err != nil {
		return "", err
	}
	op, err := c.outputPadding(x, k, s, d, pb, pe, false)
	if err != nil {
		return "", err
	}
	if gx := c.convBackwardAsConv(n, g, w, ws, k, s, d, pb, pe); gx != "" {
		return gx, nil
	}
	attrs := []*onnxpb.AttributeProto{
		onnx.AttrInts("kernel_shape", k...), onnx.AttrInts("strides", s...), onnx.AttrInts("dilations", d...),
		onnx.AttrInts("pads", append(append([]int64{}, pb...), pe...)...),
		onnx.AttrInt("group", onnx.AttrIntOr(n, "group", 1)),
	}
	for _, v := range op {
		if v != 0 {
			attrs = append(attrs, onnx.AttrInts("output_padding", op...))
			break
		}
	}
	return c.op("ConvTranspose", []string{g, w}, attrs...), nil
}

// convBackwardMinChannels is the fewest input channels per group for which
// the input gradient of a Conv is computed as a Conv rather than a
// ConvTranspose: ORT's blocked Conv pads output channels to blocks of 8 or
// 16, so a gradient with 1 channel (the image input of a grayscale CNN)
// is faster as a ConvTranspose (measured on mnist_cnn, see bench_test.go).
const convBackwardMinChannels = 8

// convBackwardAsConv returns the input gradient of a stride-1 Conv as a
// Conv of g with the spatially flipped, in/out-transposed kernel and pads
// (k−1)·d − p, or "" where that does not apply (strides above 1, pads
// larger than the dilated kernel). ORT runs Conv much faster than
// ConvTranspose (blocked NCHWc kernels); the flipped kernel is computed
// from the weights by nodes that ORT folds when the weights are constant.
func (c *ctx) convBackwardAsConv(n *onnxpb.NodeProto, g, w string, ws, k, s, d, pb, pe []int64) string {
	r := len(k)
	np := make([]int64, 2*r)
	for i := 0; i < r; i++ {
		if s[i] != 1 {
			return ""
		}
		np[i], np[i+r] = (k[i]-1)*d[i]-pb[i], (k[i]-1)*d[i]-pe[i]
		if np[i] < 0 || np[i+r] < 0 {
			return ""
		}
	}
	if !(onnx.ValueType{Shape: ws}).Known() {
		return ""
	}
	grp := onnx.AttrIntOr(n, "group", 1)
	m, cg := ws[0], ws[1]
	if cg < convBackwardMinChannels {
		return ""
	}
	var wt string
	if grp == 1 {
		perm := []int64{1, 0}
		for i := 2; i < len(ws); i++ {
			perm = append(perm, int64(i))
		}
		wt = c.op("Transpose", []string{w}, onnx.AttrInts("perm", perm...))
	} else {
		// [M, C/g, k…] → [g, M/g, C/g, k…] → [g, C/g, M/g, k…] → [C, M/g, k…]
		sh := append([]int64{grp, m / grp, cg}, ws[2:]...)
		perm := []int64{0, 2, 1}
		for i := 3; i < len(sh); i++ {
			perm = append(perm, int64(i))
		}
		t := c.op("Transpose", []string{c.b.Reshape(w, sh...)}, onnx.AttrInts("perm", perm...))
		wt = c.b.Reshape(t, append([]int64{grp * cg, m / grp}, ws[2:]...)...)
	}
	starts, ends, axes, steps := make([]int64, r), make([]int64, r), make([]int64, r), make([]int64, r)
	for i := 0; i < r; i++ {
		starts[i], ends[i], axes[i], steps[i] = -1, math.MinInt64, int64(2+i), -1
	}
	flip := c.op("Slice", []string{wt, c.b.ConstI64(starts...), c.b.ConstI64(ends...), c.b.ConstI64(axes...), c.b.ConstI64(steps...)})
	return c.op("Conv", []string{g, flip}, onnx.AttrInts("kernel_shape", k...), onnx.AttrInts("dilations", d...),
		onnx.AttrInts("pads", np...), onnx.AttrInt("group", grp))
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
