package onnx

import "github.com/gauntlet-ml/gauntlet/onnx/onnxpb"

// inferGather infers a Gather output: the data's shape with the axis
// replaced by the indices' shape; a gather from a known 1-D integer
// tensor at known indices is known.
func inferGather(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	idx := inf.typ(inf.in(n, 1))
	vt := ValueType{Elem: x.Elem}
	if x.Shape != nil && idx.Shape != nil {
		if ax := normAxis(AttrIntOr(n, "axis", 0), len(x.Shape)); ax >= 0 && ax < int64(len(x.Shape)) {
			vt.Shape = append(append(clone(x.Shape[:ax]), idx.Shape...), x.Shape[ax+1:]...)
		}
	}
	if v, ok := inf.Ints[inf.in(n, 0)]; ok {
		if iv, ok := inf.Ints[inf.in(n, 1)]; ok && len(x.Shape) == 1 {
			if r, ok := gatherValues(v, iv); ok {
				inf.Ints[n.GetOutput()[0]] = r
			}
		}
	}
	set(0, vt)
}

// foldGather folds a Gather from a 1-D tensor known in part at known
// indices.
func foldGather(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	d, ok1 := inf.vals(inf.in(n, 0))
	idx, ok2 := inf.Ints[inf.in(n, 1)]
	if !ok1 || !ok2 || len(inf.typ(inf.in(n, 0)).Shape) != 1 {
		return nil, false
	}
	return gatherValues(d, idx)
}

// gatherValues returns d at the indices idx (negative ones count from
// the end), or false when one is out of range.
func gatherValues(d, idx []int64) ([]int64, bool) {
	var v []int64
	for _, i := range idx {
		if i < 0 {
			i += int64(len(d))
		}
		if i < 0 || i >= int64(len(d)) {
			return nil, false
		}
		v = append(v, d[i])
	}
	return v, true
}

// inferGatherElements gives a GatherElements output the indices' shape.
func inferGatherElements(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, ValueType{Elem: x.Elem, Shape: clone(inf.typ(inf.in(n, 1)).Shape)})
}

// inferNonZero gives a NonZero output Int64 and an unknown shape (it
// depends on the values).
func inferNonZero(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, ValueType{Elem: Int64})
}

// inferOneHot gives a OneHot output the type of its values input and an
// unknown shape.
func inferOneHot(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, ValueType{Elem: inf.typ(inf.in(n, 2)).Elem})
}

// inferTopK infers TopK's values and indices: the axis has K entries
// where K is known, elsewhere x's sizes.
func inferTopK(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if x.Shape != nil {
		vt.Shape = clone(x.Shape)
		ax := normAxis(AttrIntOr(n, "axis", -1), len(x.Shape))
		k := int64(-1)
		if a := Attr(n, "k"); a != nil {
			k = a.GetI()
		} else if v, ok := inf.Ints[inf.in(n, 1)]; ok && len(v) == 1 {
			k = v[0]
		}
		if ax >= 0 && ax < int64(len(vt.Shape)) {
			vt.Shape[ax] = k
		} else {
			vt.Shape = nil
		}
	}
	set(0, vt)
	set(1, ValueType{Elem: Int64, Shape: clone(vt.Shape)})
}

// inferWhere gives a Where output the type of its first branch and the
// broadcast of the three inputs' shapes.
func inferWhere(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	a, b := inf.typ(inf.in(n, 1)), inf.typ(inf.in(n, 2))
	set(0, ValueType{Elem: a.Elem, Shape: broadcastShape(x.Shape, a.Shape, b.Shape)})
}

// foldWhere folds a Where elementwise (each operand one value or all of
// the same length), Unknown where the condition is.
func foldWhere(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	c, ok1 := inf.vals(inf.in(n, 0))
	a, ok2 := inf.vals(inf.in(n, 1))
	b, ok3 := inf.vals(inf.in(n, 2))
	if !ok1 || !ok2 || !ok3 {
		return nil, false
	}
	l := max(len(c), len(a), len(b))
	for _, s := range [][]int64{c, a, b} {
		if len(s) != l && len(s) != 1 {
			return nil, false
		}
	}
	v := make([]int64, l)
	for i := range v {
		ci := c[min(i, len(c)-1)]
		switch {
		case ci == Unknown:
			v[i] = Unknown
		case ci != 0:
			v[i] = a[min(i, len(a)-1)]
		default:
			v[i] = b[min(i, len(b)-1)]
		}
	}
	return v, true
}
