package onnx

import "github.com/gauntlet-ml/gauntlet/onnx/onnxpb"

// inferReduce infers a reduction's output: the reduced axes (axis or
// axes attribute, or axes input) dropped, or kept as 1 with keepdims;
// no axes with noop_with_empty_axes is the identity.
func inferReduce(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	axes, ok := []int64{AttrIntOr(n, "axis", 0)}, true
	if Attr(n, "axis") == nil {
		axes, ok = inf.ReduceAxes(n)
		v, known := inf.Ints[inf.in(n, 1)]
		empty := inf.in(n, 1) == "" || (known && len(v) == 0)
		if !ok && empty && AttrIntOr(n, "noop_with_empty_axes", 0) != 0 {
			// no axes and noop_with_empty_axes: the identity
			set(0, ValueType{Elem: x.Elem, Shape: clone(x.Shape)})
			return
		}
	}
	vt := ValueType{Elem: x.Elem}
	if ok {
		vt.Shape = reducedShape(n, x.Shape, axes)
	}
	set(0, vt)
}

// inferArgReduce infers an ArgMax or ArgMin output: Int64 indices, the
// axis dropped or kept as 1 with keepdims.
func inferArgReduce(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, ValueType{Elem: Int64, Shape: reducedShape(n, x.Shape, []int64{AttrIntOr(n, "axis", 0)})})
}

// reducedShape returns shape with the axes (nil: all) dropped, or kept
// as 1 where the node's keepdims is set; nil for an unknown shape.
func reducedShape(n *onnxpb.NodeProto, shape, axes []int64) []int64 {
	if shape == nil {
		return nil
	}
	keep := AttrIntOr(n, "keepdims", 1) != 0
	red := map[int64]bool{}
	for _, a := range axes {
		red[normAxis(a, len(shape))] = true
	}
	out := []int64{}
	for i, d := range shape {
		if axes == nil || red[int64(i)] {
			if keep {
				out = append(out, 1)
			}
		} else {
			out = append(out, d)
		}
	}
	return out
}

// foldReduce folds a ReduceProd or ReduceSum of a whole 1-D shape vector
// (element counts), Unknown if any element is.
func foldReduce(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	a, ok := inf.vals(inf.in(n, 0))
	if !ok || len(inf.typ(inf.in(n, 0)).Shape) != 1 {
		return nil, false
	}
	prod := n.GetOpType() == "ReduceProd"
	r := int64(0)
	if prod {
		r = 1
	}
	for _, x := range a {
		if x == Unknown {
			return []int64{Unknown}, true
		}
		if prod {
			r *= x
		} else {
			r += x
		}
	}
	return []int64{r}, true
}

// ReduceAxes returns the axes of a reduction node (attribute or input
// form) and whether they are known; nil axes with ok means all axes.
func (inf *Inference) ReduceAxes(n *onnxpb.NodeProto) (axes []int64, ok bool) {
	if a := Attr(n, "axes"); a != nil {
		return a.GetInts(), true
	}
	if ax := inf.in(n, 1); ax != "" {
		v, ok := inf.Ints[ax]
		if !ok {
			return nil, false
		}
		if len(v) == 0 {
			return nil, AttrIntOr(n, "noop_with_empty_axes", 0) == 0
		}
		return v, true
	}
	return nil, AttrIntOr(n, "noop_with_empty_axes", 0) == 0
}
