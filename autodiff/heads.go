package autodiff

import (
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// softmaxInput returns the input of the Softmax that produces t (through
// Identity nodes) over the class axis of a 2-D tensor, or "".
func (c *ctx) softmaxInput(t string) string {
	for {
		n, _ := c.m.Producer(t)
		if n == nil {
			return ""
		}
		switch n.GetOpType() {
		case "Identity":
			t = in(n, 0)
			continue
		case "Softmax":
			ax := onnx.AttrIntOr(n, "axis", -1)
			if c.b.Opset < 13 {
				ax = onnx.AttrIntOr(n, "axis", 1)
			}
			if s := c.shape(in(n, 0)); len(s) == 2 && (ax == 1 || ax == -1) {
				return in(n, 0)
			}
		}
		return ""
	}
}

// head appends the loss head and returns the per-sample loss tensor, its
// element type and the seed gradients (tensor → gradient of Σ loss).
func (c *ctx) head(head string, class int64, spec Spec, nm Names) (string, int32, map[string]string, error) {
	b := c.b
	if head == LossReduce {
		t := spec.Tensor
		if t == "" {
			return "", 0, nil, errs.Invalidf("loss reduce: name the tensor to reduce")
		}
		if _, ok := c.inf.Types[t]; !ok {
			return "", 0, nil, errs.Invalidf("loss reduce: tensor %q is not in the model", t)
		}
		if !c.dep[t] {
			return "", 0, nil, errs.Invalidf("loss reduce: tensor %q does not depend on input %q", t, nm.Input)
		}
		flat := b.Reshape(t, 0, -1)
		one := c.scalar(1, t)
		switch spec.ReduceOp {
		case "", "sum":
			return b.ReduceSum(flat, []int64{1}, false), c.elem(t), map[string]string{t: c.op("Expand", []string{one, b.Shape(t)})}, nil
		case "mean":
			loss := b.Reduce("ReduceMean", flat, []int64{1}, false)
			// each element of a sample weighs 1/(elements per sample)
			per := c.op("Div", []string{c.op("Size", []string{t}), c.op("Gather", []string{b.Shape(t), b.ScalarI64(0)})})
			w := c.op("Div", []string{one, b.Cast(per, c.elem(t))})
			return loss, c.elem(t), map[string]string{t: c.op("Expand", []string{w, b.Shape(t)})}, nil
		}
		return "", 0, nil, errs.Invalidf("loss reduce: reduce op %q: want sum or mean", spec.ReduceOp)
	}

	z := nm.Output
	if _, ok := c.inf.Types[z]; !ok {
		return "", 0, nil, errs.Invalidf("output %q: the model has no such tensor", z)
	}
	probs := false
	switch spec.OutputKind {
	case "", OutputAuto, OutputProbabilities:
		if s := c.softmaxInput(z); s != "" {
			z = s
		} else if spec.OutputKind == OutputProbabilities {
			probs = true
		}
	case OutputLogits:
	default:
		return "", 0, nil, errs.Invalidf("output kind %q: want auto, logits or probabilities", spec.OutputKind)
	}
	if !c.dep[z] {
		return "", 0, nil, errs.Invalidf("output %q does not depend on input %q", z, nm.Input)
	}
	zs := c.shape(z)
	if zs != nil && len(zs) != 2 {
		return "", 0, nil, errs.Invalidf("output %q: loss heads need a [N, classes] tensor, the shape is %v", z, zs)
	}
	k := int64(-1)
	if zs != nil {
		k = zs[1]
	}
	var depth string
	if k > 0 {
		depth = b.ConstI64(k)
	} else {
		depth = c.op("Gather", []string{b.Shape(z), b.ConstI64(1)})
	}
	elem := c.elem(z)
	// ORT's CPU OneHot has float32 outputs only: cast for other types.
	values := b.Initializer(onnx.TensorF32("onehot_values", []int64{2}, []float32{0, 1}))
	oneHot := func(idx string) string {
		o := c.op("OneHot", []string{idx, depth, values}, onnx.AttrInt("axis", -1))
		if elem != onnx.Float32 {
			o = b.Cast(o, elem)
		}
		return o
	}
	ax1 := onnx.AttrInt("axis", 1)

	if head == LossLogit {
		if k > 0 && class >= k {
			return "", 0, nil, errs.Invalidf("loss logit:%d: output %q has %d classes", class, z, k)
		}
		loss := b.Squeeze(b.Slice(z, []int64{class}, []int64{class + 1}, []int64{1}), 1)
		row := oneHot(b.ConstI64(class)) // [1, K]
		return loss, elem, map[string]string{z: c.op("Expand", []string{row, b.Shape(z)})}, nil
	}

	y := nm.Labels
	y1 := b.Unsqueeze(y, 1)
	ohY := oneHot(y)
	switch head {
	case LossCE, LossTargetedCE:
		if probs {
			py := b.Squeeze(c.op("GatherElements", []string{z, y1}, ax1), 1)
			loss := c.op("Neg", []string{c.op("Log", []string{py})})
			// d(−log p_y)/dp = −e_y / p_y
			w := b.Unsqueeze(c.op("Neg", []string{c.op("Reciprocal", []string{py})}), 1)
			return loss, elem, map[string]string{z: c.op("Mul", []string{ohY, w})}, nil
		}
		lsm := c.op("LogSoftmax", []string{z}, ax1)
		loss := c.op("Neg", []string{b.Squeeze(c.op("GatherElements", []string{lsm, y1}, ax1), 1)})
		// d CE/dz = p − e_y. The y entry p_y − 1 is computed as −Σ_{j≠y} p_j,
		// which has no cancellation when p_y is close to 1 (confident
		// samples, whose gradients would otherwise be rounding noise).
		p := c.op("Softmax", []string{z}, ax1)
		isY := b.Cast(ohY, onnx.Bool)
		others := c.op("Where", []string{isY, c.scalar(0, z), p})
		rest := c.op("Neg", []string{b.ReduceSum(others, []int64{1}, true)})
		seed := c.op("Where", []string{isY, rest, p})
		return loss, elem, map[string]string{z: seed}, nil
	}

	// cw and dlr: the largest logit other than y's
	zy := c.op("GatherElements", []string{z, y1}, ax1)
	masked := c.op("Where", []string{b.Cast(ohY, onnx.Bool), c.lowest(z), z})
	j := c.op("ArgMax", []string{masked}, ax1, onnx.AttrInt("keepdims", 1))
	zj := c.op("GatherElements", []string{z, j}, ax1)
	ohJ := oneHot(b.Squeeze(j, 1))
	switch head {
	case LossCW:
		loss := b.Squeeze(c.op("Sub", []string{zj, zy}), 1)
		return loss, elem, map[string]string{z: c.op("Sub", []string{ohJ, ohY})}, nil
	case LossDLR:
		if k > 0 && k < 3 {
			return "", 0, nil, errs.Invalidf("loss dlr: output %q has %d classes, DLR needs at least 3", z, k)
		}
		tk := b.Node("TopK", []string{z, b.ConstI64(3)}, 2, ax1)
		v1 := b.Slice(tk[0], []int64{0}, []int64{1}, []int64{1})
		v3 := b.Slice(tk[0], []int64{2}, []int64{3}, []int64{1})
		i1 := b.Squeeze(b.Slice(tk[1], []int64{0}, []int64{1}, []int64{1}), 1)
		i3 := b.Squeeze(b.Slice(tk[1], []int64{2}, []int64{3}, []int64{1}), 1)
		// DLR = −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e-12)
		den := c.op("Add", []string{c.op("Sub", []string{v1, v3}), c.scalar(1e-12, z)})
		m := c.op("Sub", []string{zy, zj})
		loss := b.Squeeze(c.op("Neg", []string{c.op("Div", []string{m, den})}), 1)
		// dDLR/dz = (e_j − e_y)/den + m/den² · (e_π1 − e_π3)
		t1 := c.op("Div", []string{c.op("Sub", []string{ohJ, ohY}), den})
		t2 := c.op("Mul", []string{c.op("Div", []string{m, c.op("Mul", []string{den, den})}), c.op("Sub", []string{oneHot(i1), oneHot(i3)})})
		return loss, elem, map[string]string{z: c.op("Add", []string{t1, t2})}, nil
	}
	return "", 0, nil, errs.Invalidf("loss %q: unknown head", head)
}
