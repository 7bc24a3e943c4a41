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
	if c.b.Opset < 16 {
		return nil, fmt.Errorf("overlapping windows (or ceil_mode windows past the input) need ScatterElements with reduction=add (opset 16+); the model has opset %d", c.b.Opset)
	}
	flat := c.b.Reshape(g, -1)
	fi := c.b.Reshape(idx, -1)
	z := c.b.Reshape(c.zerosLike(x), -1)
	sc := c.op("ScatterElements", []string{z, fi, flat}, onnx.AttrInt("axis", 0), onnx.AttrString("reduction", "add"))
	return []string{c.op("Reshape", []string{sc, c.b.Shape(x)})}, nil
}

func ruleAveragePool(c *ctx, n *onnxpb.NodeProto, gy []string, need []bool) ([]string, error) {
	x := in(n, 0)
	xs := c.shape(x)
	ceil := onnx.AttrIntOr(n, "ceil_mode", 0) != 0
	if ceil {
		return nil, fmt.Errorf("ceil_mode=1 is not supported")
	}
	k, s, d, pb, pe, err := c.window(n, x, nil)
	if err != nil {
		return nil, err
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
