package evasion

import (
	"fmt"

	"github.com/gauntlet-ml/gauntlet/onnx"
)

// Names of the tensors withTargetedDLR adds.
const (
	dlrtLabels  = "gauntlet_dlrt_labels"
	dlrtTargets = "gauntlet_dlrt_targets"
	dlrtTensor  = "gauntlet_dlrt_loss"
)

// dlrtMask pushes a class far below every logit when ranking the top four:
// finite in float32 after four subtractions.
const dlrtMask = 1e30

// withTargetedDLR returns a copy of m with two int64 [N] inputs (labels y
// and targets t) and a per-sample tensor holding AutoAttack's targeted DLR
// loss −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12), π the classes
// sorted by decreasing logit, on the logits z (the input of a final
// Softmax when the output is one). The ranking is made by ArgMax on masked
// copies of z, which carry no gradient, so the loss differentiates through
// standard rules only (Mul, ReduceSum, Sub, Add, Div, Neg); autodiff's
// reduce head then writes its gradient.
func withTargetedDLR(m *onnx.Model, output string, classes int) (*onnx.Model, error) {
	if classes < 4 {
		return nil, fmt.Errorf("targeted DLR needs at least 4 classes, the model has %d", classes)
	}
	out, b, h, err := labelHead(m, output, classes, "gauntlet_dlrt/")
	if err != nil {
		return nil, err
	}
	z, y, tg, row := h.z, h.y, h.tg, h.row
	mask := func(idx string) string {
		eq := b.Op("Equal", []string{row, b.Unsqueeze(idx, 1)})
		return b.Cast(eq, onnx.Float32)
	}
	pick := func(mk string) string {
		return b.ReduceSum(b.Op("Mul", []string{z, mk}), []int64{1}, false)
	}
	argmax := func(v string) string {
		return b.Op("ArgMax", []string{v}, onnx.AttrInt("axis", 1), onnx.AttrInt("keepdims", 0))
	}
	big := b.Scalar(dlrtMask, onnx.Float32)
	var ranks [4]string
	cur := z
	for r := range ranks {
		mk := mask(argmax(cur))
		ranks[r] = mk
		if r < 3 {
			cur = b.Op("Sub", []string{cur, b.Op("Mul", []string{mk, big})})
		}
	}
	num := b.Op("Sub", []string{pick(mask(y)), pick(mask(tg))})
	half := b.Scalar(0.5, onnx.Float32)
	low := b.Op("Mul", []string{b.Op("Add", []string{pick(ranks[2]), pick(ranks[3])}), half})
	den := b.Op("Add", []string{b.Op("Sub", []string{pick(ranks[0]), low}), b.Scalar(1e-12, onnx.Float32)})
	b.NodeOut("Neg", []string{b.Op("Div", []string{num, den})}, []string{dlrtTensor})
	return out, nil
}

// twoLabelGraph is what withTargetedDLR and withTargetedMargin build on: the
// logits z (the input of a final Softmax when the output is one), the
// int64 [N] inputs y and tg (labels and targets, named dlrtLabels and
// dlrtTargets), and a [1, classes] row of class indices to compare them
// with.
type twoLabelGraph struct{ z, y, tg, row string }

// labelHead clones m, reserves the head's tensor names (an error if the
// model already uses one) and adds what twoLabelGraph names, under prefix.
func labelHead(m *onnx.Model, output string, classes int, prefix string) (*onnx.Model, *onnx.Builder, twoLabelGraph, error) {
	out := m.Clone()
	h := twoLabelGraph{z: output}
	if n, _ := out.Producer(output); n != nil && n.GetOpType() == "Softmax" && len(n.GetInput()) > 0 {
		h.z = n.GetInput()[0]
	}
	b := onnx.NewBuilder(out, prefix)
	for _, name := range []string{dlrtLabels, dlrtTargets, dlrtTensor} {
		if b.Used(name) {
			return nil, nil, h, fmt.Errorf("tensor name %q is already used in the model", name)
		}
		b.Reserve(name)
	}
	h.y = b.AddInput(dlrtLabels, onnx.Int64, []int64{-1}, "N")
	h.tg = b.AddInput(dlrtTargets, onnx.Int64, []int64{-1}, "N")
	ids := make([]int64, classes)
	for i := range ids {
		ids[i] = int64(i)
	}
	h.row = b.Initializer(onnx.TensorI64(b.Name("classes"), []int64{1, int64(classes)}, ids))
	return out, b, h, nil
}
