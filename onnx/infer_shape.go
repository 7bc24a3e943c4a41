package onnx

import (
	"math"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// inferConstant infers a Constant output from whichever value attribute
// it has, and records its value: the tensor in Consts, small integer
// tensors in Ints.
func inferConstant(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	outs := n.GetOutput()
	if a := Attr(n, "value"); a != nil && a.GetT() != nil {
		t := a.GetT()
		// a scalar has rank 0 (nil dims), not an unknown shape
		set(0, ValueType{Elem: t.GetDataType(), Shape: append([]int64{}, t.GetDims()...)})
		if len(outs) > 0 {
			inf.Consts[outs[0]] = t
			inf.setInts(outs[0], t)
		}
	} else if a := Attr(n, "value_ints"); a != nil {
		set(0, ValueType{Elem: Int64, Shape: []int64{int64(len(a.GetInts()))}})
		inf.Ints[outs[0]] = a.GetInts()
	} else if a := Attr(n, "value_int"); a != nil {
		set(0, ValueType{Elem: Int64, Shape: []int64{}})
		inf.Ints[outs[0]] = []int64{a.GetI()}
	} else if a := Attr(n, "value_float"); a != nil {
		set(0, ValueType{Elem: Float32, Shape: []int64{}})
	} else if a := Attr(n, "value_floats"); a != nil {
		set(0, ValueType{Elem: Float32, Shape: []int64{int64(len(a.GetFloats()))}})
	}
}

// inferShape infers a Shape output: Int64, one element per axis in
// [start, end), its values where those sizes are static.
func inferShape(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: Int64}
	if x.Shape != nil {
		start, end := shapeBounds(n, int64(len(x.Shape)))
		vt.Shape = []int64{end - start}
		if (ValueType{Shape: x.Shape[start:end]}).Known() {
			inf.Ints[n.GetOutput()[0]] = clone(x.Shape[start:end])
		}
	}
	set(0, vt)
}

// foldShape folds a Shape: the input's sizes in [start, end), Unknown
// where dynamic.
func foldShape(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	x := inf.typ(inf.in(n, 0))
	if x.Shape == nil {
		return nil, false
	}
	start, end := shapeBounds(n, int64(len(x.Shape)))
	v := []int64{}
	for _, d := range x.Shape[start:end] {
		if d < 0 {
			d = Unknown
		}
		v = append(v, d)
	}
	return v, true
}

// shapeBounds returns the axes [start, end) a Shape node reads of a
// rank-r input: its start and end attributes, negative ones counting
// from the end, clamped to the axes.
func shapeBounds(n *onnxpb.NodeProto, r int64) (start, end int64) {
	start, end = AttrIntOr(n, "start", 0), AttrIntOr(n, "end", r)
	if start < 0 {
		start += r
	}
	if end < 0 {
		end += r
	}
	start, end = max(0, min(start, r)), max(0, min(end, r))
	return start, max(start, end)
}

// inferSize gives a Size output an Int64 scalar.
func inferSize(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, ValueType{Elem: Int64, Shape: []int64{}})
}

// foldSize folds a Size of a static shape.
func foldSize(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	x := inf.typ(inf.in(n, 0))
	if !x.Known() {
		return nil, false
	}
	return []int64{dimsProd(x.Shape)}, true
}

// inferConstantOfShape infers a ConstantOfShape output: the value
// attribute's type (Float32 by default), the shape its input holds (its
// rank where only the input's length is known).
func inferConstantOfShape(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: Float32}
	if a := Attr(n, "value"); a != nil && a.GetT() != nil {
		vt.Elem = a.GetT().GetDataType()
	}
	if v, ok := inf.vals(inf.in(n, 0)); ok {
		vt.Shape = unknownToDynamic(v)
	} else {
		vt.Shape = dynamicOfLength(inf.typ(inf.in(n, 0)))
	}
	set(0, vt)
}

// dynamicOfLength returns the shape held by a 1-D shape tensor of type t
// whose values are unknown: its length in dynamic dims, or nil when the
// length is unknown too.
func dynamicOfLength(t ValueType) []int64 {
	if len(t.Shape) != 1 || t.Shape[0] < 0 || t.Shape[0] > maxRank {
		return nil
	}
	out := make([]int64, t.Shape[0])
	for i := range out {
		out[i] = -1
	}
	return out
}

// foldConstantOfShape folds a ConstantOfShape of a known small shape
// filled with an integer value.
func foldConstantOfShape(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	s, ok := inf.Ints[inf.in(n, 0)]
	if !ok {
		return nil, false
	}
	cnt := dimsProd(s)
	if cnt < 0 || cnt > maxPartial {
		return nil, false
	}
	fill := int64(0)
	if a := Attr(n, "value"); a != nil && a.GetT() != nil {
		e := a.GetT().GetDataType()
		if e != Int64 && e != Int32 {
			return nil, false
		}
		fv, err := TensorInts(a.GetT())
		if err != nil || len(fv) != 1 {
			return nil, false
		}
		fill = fv[0]
	} else if a == nil {
		return nil, false // float zeros: not an integer tensor
	}
	v := make([]int64, cnt)
	for i := range v {
		v[i] = fill
	}
	return v, true
}

// inferRange infers a Range output: 1-D, ceil((limit−start)/delta)
// elements (at least 0) where the three scalars are known.
func inferRange(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem, Shape: []int64{-1}}
	st, ok1 := inf.scalarValue(inf.in(n, 0))
	li, ok2 := inf.scalarValue(inf.in(n, 1))
	de, ok3 := inf.scalarValue(inf.in(n, 2))
	if ok1 && ok2 && ok3 && de != 0 {
		vt.Shape[0] = max(0, int64(math.Ceil((li-st)/de)))
	}
	set(0, vt)
}

// foldRange folds a Range of known integer scalars of at most
// maxPartial elements.
func foldRange(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	st, ok1 := inf.Ints[inf.in(n, 0)]
	li, ok2 := inf.Ints[inf.in(n, 1)]
	de, ok3 := inf.Ints[inf.in(n, 2)]
	if !ok1 || !ok2 || !ok3 || len(st) != 1 || len(li) != 1 || len(de) != 1 || de[0] == 0 {
		return nil, false
	}
	v := []int64{}
	for x := st[0]; (de[0] > 0 && x < li[0]) || (de[0] < 0 && x > li[0]); x += de[0] {
		if len(v) == maxPartial {
			return nil, false
		}
		v = append(v, x)
	}
	return v, true
}

// foldValues passes the values through in order, whatever the new shape
// (Identity, Reshape, Flatten, Squeeze, Unsqueeze).
func foldValues(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	return inf.vals(inf.in(n, 0))
}

// inferFlatten infers a Flatten output: [product of the axes before
// axis, product of the others], -1 where a factor is dynamic.
func inferFlatten(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if x.Shape != nil {
		ax := normAxis(AttrIntOr(n, "axis", 1), len(x.Shape))
		a, b := int64(1), int64(1)
		for i, d := range x.Shape {
			p := &a
			if int64(i) >= ax {
				p = &b
			}
			if d < 0 || *p < 0 {
				*p = -1
			} else {
				*p *= d
			}
		}
		vt.Shape = []int64{a, b}
	}
	set(0, vt)
}

// inferReshape infers a Reshape output from its target shape's values,
// known in part: 0 copies the input's size (unless allowzero), -1 takes
// what the other sizes leave of a static input; only the rank where
// only the target's length is known.
func inferReshape(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if v, ok := inf.vals(inf.in(n, 1)); ok {
		vt.Shape = reshapeTarget(n, x, v)
	} else {
		vt.Shape = dynamicOfLength(inf.typ(inf.in(n, 1)))
	}
	set(0, vt)
}

// reshapeTarget returns the shape a Reshape of x to the target values v
// (Unknown where not known) gives.
func reshapeTarget(n *onnxpb.NodeProto, x ValueType, v []int64) []int64 {
	out := make([]int64, len(v))
	neg, prod := -1, int64(1)
	for i, d := range v {
		switch {
		case d == Unknown:
			out[i] = -1
		case d == 0 && AttrIntOr(n, "allowzero", 0) == 0:
			if i < len(x.Shape) {
				out[i] = x.Shape[i]
			} else {
				out[i] = -1
			}
		case d == -1:
			neg = i
		default:
			out[i] = d
		}
		if i != neg {
			if out[i] < 0 || prod < 0 {
				prod = -1
			} else {
				prod *= out[i]
			}
		}
	}
	if neg >= 0 {
		out[neg] = -1
		if x.Known() && prod > 0 {
			out[neg] = dimsProd(x.Shape) / prod
		}
	}
	return out
}

// inferTranspose infers a Transpose output: the input's sizes in perm's
// order (unknown for a perm that is not a permutation).
func inferTranspose(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if x.Shape != nil {
		if perm := TransposePerm(n, len(x.Shape)); perm != nil {
			vt.Shape = make([]int64, len(perm))
			for i, p := range perm {
				vt.Shape[i] = x.Shape[p]
			}
		}
	}
	set(0, vt)
}

// foldTranspose folds a Transpose of a tensor known in part with a
// static shape.
func foldTranspose(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	d, ok := inf.vals(inf.in(n, 0))
	xs := inf.typ(inf.in(n, 0)).Shape
	if !ok || !(ValueType{Shape: xs}).Known() || dimsProd(xs) != int64(len(d)) {
		return nil, false
	}
	perm := TransposePerm(n, len(xs))
	if perm == nil {
		return nil, false
	}
	return gatherND(d, xs, allIndices(xs), perm), true
}

// allIndices returns, for each axis of a static shape, the list of all
// its indices.
func allIndices(xs []int64) [][]int64 {
	keep := make([][]int64, len(xs))
	for a := range xs {
		for i := int64(0); i < xs[a]; i++ {
			keep[a] = append(keep[a], i)
		}
	}
	return keep
}

// inferConcat infers a Concat output: the first input's shape with the
// axis summed over the inputs (dynamic if one is, unknown for a rank
// mismatch), and the joined values where all inputs are known.
func inferConcat(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if x.Shape != nil {
		ax := normAxis(AttrIntOr(n, "axis", 0), len(x.Shape))
		vt.Shape = clone(x.Shape)
		var vals []int64
		allInts := true
		for i, in := range n.GetInput() {
			s := inf.typ(in).Shape
			if v, ok := inf.Ints[in]; ok && allInts {
				vals = append(vals, v...)
			} else {
				allInts = false
			}
			if i == 0 {
				continue
			}
			if len(s) != len(vt.Shape) || s[ax] < 0 || vt.Shape[ax] < 0 {
				if len(s) == len(vt.Shape) {
					vt.Shape[ax] = -1
				} else {
					vt.Shape = nil
					break
				}
			} else {
				vt.Shape[ax] += s[ax]
			}
		}
		if allInts && len(n.GetOutput()) > 0 {
			inf.Ints[n.GetOutput()[0]] = vals
		}
	}
	set(0, vt)
}

// foldConcat folds a Concat of tensors known in part, joining their
// values.
func foldConcat(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	v := []int64{}
	for i := range n.GetInput() {
		p, ok := inf.vals(inf.in(n, i))
		if !ok {
			return nil, false
		}
		v = append(v, p...)
	}
	return v, true
}

// inferSplit infers each Split output: the input's shape with the axis
// at that output's size (SplitSizes), dynamic where the sizes are not
// known.
func inferSplit(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	outs := n.GetOutput()
	if x.Shape == nil {
		for i := range outs {
			set(i, ValueType{Elem: x.Elem})
		}
		return
	}
	ax := normAxis(AttrIntOr(n, "axis", 0), len(x.Shape))
	sizes := SplitSizes(inf, n, x.Shape[ax])
	for i := range outs {
		s := clone(x.Shape)
		if sizes != nil {
			s[ax] = sizes[i]
		} else {
			s[ax] = -1
		}
		set(i, ValueType{Elem: x.Elem, Shape: s})
	}
}

// inferSlice infers a Slice output: each sliced axis has the count of
// its clamped range at its step, every axis dynamic where the bounds are
// not known.
func inferSlice(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if x.Shape != nil {
		vt.Shape = sliceShape(inf, n, x.Shape)
	}
	set(0, vt)
}

// sliceShape returns the shape of a Slice of a tensor of shape xs (not
// nil).
func sliceShape(inf *Inference, n *onnxpb.NodeProto, xs []int64) []int64 {
	out := clone(xs)
	st, en, ax, steps, ok := SliceArgs(inf, n, len(xs))
	if !ok {
		for i := range out {
			out[i] = -1
		}
		return out
	}
	for i, a := range ax {
		if a < 0 || int(a) >= len(xs) || steps[i] == 0 {
			return nil
		}
		d := xs[a]
		if d < 0 {
			out[a] = -1
			continue
		}
		b, e := ClampSlice(st[i], en[i], steps[i], d)
		cnt := int64(0)
		if steps[i] > 0 && e > b {
			cnt = (e - b + steps[i] - 1) / steps[i]
		} else if steps[i] < 0 && b > e {
			cnt = (b - e - steps[i] - 1) / -steps[i]
		}
		out[a] = cnt
	}
	return out
}

// foldSlice folds a Slice of a tensor known in part with a static shape
// at known bounds.
func foldSlice(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	d, ok := inf.vals(inf.in(n, 0))
	xs := inf.typ(inf.in(n, 0)).Shape
	if !ok || !(ValueType{Shape: xs}).Known() || len(xs) == 0 || dimsProd(xs) != int64(len(d)) {
		return nil, false
	}
	st, en, axes, steps, ok := SliceArgs(inf, n, len(xs))
	if !ok {
		return nil, false
	}
	// the index list kept on each axis
	keep := allIndices(xs)
	for i, a := range axes {
		if a < 0 || int(a) >= len(xs) || steps[i] == 0 {
			return nil, false
		}
		b, e := ClampSlice(st[i], en[i], steps[i], xs[a])
		keep[a] = nil
		for j := b; (steps[i] > 0 && j < e) || (steps[i] < 0 && j > e); j += steps[i] {
			keep[a] = append(keep[a], j)
		}
	}
	return gatherND(d, xs, keep, nil), true
}

// inferSqueeze infers a Squeeze output: the input's shape without the
// axes given, or without every size-1 axis (unknown if one is dynamic).
func inferSqueeze(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if axes, ok := inf.AxesArg(n); ok && x.Shape != nil {
		drop := map[int64]bool{}
		for _, a := range axes {
			drop[normAxis(a, len(x.Shape))] = true
		}
		vt.Shape = []int64{}
		for i, d := range x.Shape {
			if axes == nil && d == 1 || drop[int64(i)] {
				continue
			}
			if axes == nil && d < 0 {
				vt.Shape = nil
				break
			}
			vt.Shape = append(vt.Shape, d)
		}
	}
	set(0, vt)
}

// inferUnsqueeze infers an Unsqueeze output: the input's shape with size
// 1 inserted at the axes of the output, and the input's values where
// known.
func inferUnsqueeze(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if axes, ok := inf.AxesArg(n); ok && x.Shape != nil {
		r := len(x.Shape) + len(axes)
		ins := map[int64]bool{}
		for _, a := range axes {
			ins[normAxis(a, r)] = true
		}
		vt.Shape = make([]int64, 0, r)
		j := 0
		for i := 0; i < r; i++ {
			if ins[int64(i)] {
				vt.Shape = append(vt.Shape, 1)
			} else if j < len(x.Shape) {
				vt.Shape = append(vt.Shape, x.Shape[j])
				j++
			}
		}
		if v, ok := inf.Ints[inf.in(n, 0)]; ok && len(n.GetOutput()) > 0 {
			inf.Ints[n.GetOutput()[0]] = v
		}
	}
	set(0, vt)
}

// inferPad infers a Pad output: each size plus its begin and end pads,
// dynamic where the pads are not known.
func inferPad(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if x.Shape != nil {
		vt.Shape = clone(x.Shape)
		pads, ok := PadAmounts(inf, n, len(x.Shape))
		for i := range vt.Shape {
			if !ok || vt.Shape[i] < 0 {
				vt.Shape[i] = -1
			} else {
				vt.Shape[i] += pads[i] + pads[i+len(x.Shape)]
			}
		}
	}
	set(0, vt)
}

// inferTile infers a Tile output: each axis is its size times its repeat
// count, where both are known.
func inferTile(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if rep, ok := inf.vals(inf.in(n, 1)); ok && x.Shape != nil && len(rep) == len(x.Shape) {
		vt.Shape = make([]int64, len(rep))
		for i, r := range rep {
			vt.Shape[i] = -1
			if x.Shape[i] >= 0 && r != Unknown {
				vt.Shape[i] = x.Shape[i] * r
			}
		}
	}
	set(0, vt)
}

// inferExpand infers an Expand output: the broadcast of the input's
// shape and the target shape (known in part, or only its rank).
func inferExpand(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if v, ok := inf.vals(inf.in(n, 1)); ok {
		vt.Shape = broadcastShape(x.Shape, unknownToDynamic(v))
	} else {
		// shape values unknown, its length known: the rank is known
		vt.Shape = broadcastShape(x.Shape, dynamicOfLength(inf.typ(inf.in(n, 1))))
	}
	set(0, vt)
}

// inferDepthToSpace infers a DepthToSpace or SpaceToDepth output on 4-D
// input: the channels divided (multiplied) by blocksize², the spatial
// sizes multiplied (divided) by blocksize.
func inferDepthToSpace(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	vt := ValueType{Elem: x.Elem}
	if bs := AttrIntOr(n, "blocksize", 0); len(x.Shape) == 4 && bs > 0 {
		vt.Shape = clone(x.Shape)
		down := n.GetOpType() == "SpaceToDepth"
		for i := 1; i < 4; i++ {
			d := vt.Shape[i]
			switch {
			case d < 0:
			case (i == 1) == down:
				vt.Shape[i] = d * bs
				if i == 1 {
					vt.Shape[i] *= bs
				}
			default:
				vt.Shape[i] = d / bs
				if i == 1 {
					vt.Shape[i] /= bs
				}
			}
		}
	}
	set(0, vt)
}

// inferResize infers a Resize output (resizeType).
func inferResize(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, inf.resizeType(n, x))
}

// AxesArg returns the axes of Squeeze/Unsqueeze (attribute before opset
// 13, input from 13).
func (inf *Inference) AxesArg(n *onnxpb.NodeProto) ([]int64, bool) {
	if a := Attr(n, "axes"); a != nil {
		return a.GetInts(), true
	}
	if ax := inf.in(n, 1); ax != "" {
		v, ok := inf.Ints[ax]
		return v, ok
	}
	return nil, true
}

// TransposePerm returns the perm of a Transpose node on rank r (default:
// reversed axes), or nil when perm is not a permutation of r axes.
func TransposePerm(n *onnxpb.NodeProto, r int) []int64 {
	if p := AttrIntsOr(n, "perm", nil); p != nil {
		seen := make([]bool, r)
		if len(p) != r {
			return nil
		}
		for _, v := range p {
			if v < 0 || v >= int64(r) || seen[v] {
				return nil // not a permutation of the axes
			}
			seen[v] = true
		}
		return p
	}
	p := make([]int64, r)
	for i := range p {
		p[i] = int64(r - 1 - i)
	}
	return p
}

// SplitSizes returns the sizes of a Split node's outputs along an axis of
// size dim (-1 unknown), or nil when they are not known statically.
func SplitSizes(inf *Inference, n *onnxpb.NodeProto, dim int64) []int64 {
	if a := Attr(n, "split"); a != nil {
		return a.GetInts()
	}
	if s := inf.in(n, 1); s != "" {
		if v, ok := inf.Ints[s]; ok {
			return v
		}
		return nil
	}
	if dim < 0 {
		return nil
	}
	k := int64(len(n.GetOutput()))
	if no := AttrIntOr(n, "num_outputs", 0); no > 0 {
		k = no
	}
	// More sizes than the node has outputs would be a declared count, not
	// a shape: refuse to allocate for it.
	if k <= 0 || k > int64(len(n.GetOutput())) {
		return nil
	}
	chunk := (dim + k - 1) / k
	out := make([]int64, k)
	for i := range out {
		out[i] = min(chunk, dim-int64(i)*chunk)
	}
	return out
}

// SliceArgs returns a Slice node's starts, ends, non-negative axes and
// steps (input form, opset 10+; attribute form before), and whether they
// are known statically.
func SliceArgs(inf *Inference, n *onnxpb.NodeProto, r int) (starts, ends, axes, steps []int64, ok bool) {
	if a := Attr(n, "starts"); a != nil {
		starts, ends = a.GetInts(), AttrIntsOr(n, "ends", nil)
		axes = AttrIntsOr(n, "axes", nil)
	} else {
		var ok1, ok2 bool
		starts, ok1 = inf.Ints[inf.in(n, 1)]
		ends, ok2 = inf.Ints[inf.in(n, 2)]
		if !ok1 || !ok2 {
			return nil, nil, nil, nil, false
		}
		if s := inf.in(n, 3); s != "" {
			if axes, ok = inf.Ints[s]; !ok {
				return nil, nil, nil, nil, false
			}
		}
		if s := inf.in(n, 4); s != "" {
			if steps, ok = inf.Ints[s]; !ok {
				return nil, nil, nil, nil, false
			}
		}
	}
	if len(starts) != len(ends) {
		return nil, nil, nil, nil, false
	}
	if axes == nil {
		axes = make([]int64, len(starts))
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	if steps == nil {
		steps = make([]int64, len(starts))
		for i := range steps {
			steps[i] = 1
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, nil, nil, nil, false
	}
	na := make([]int64, len(axes))
	for i, a := range axes {
		na[i] = normAxis(a, r)
	}
	return starts, ends, na, steps, true
}

// ClampSlice resolves a Slice start and end on an axis of size d as ONNX
// does (negative values count from the end, then clamping).
func ClampSlice(start, end, step, d int64) (int64, int64) {
	if start < 0 {
		start += d
	}
	if end < 0 {
		end += d
	}
	if step > 0 {
		start = max(0, min(start, d))
		end = max(0, min(end, d))
	} else {
		start = max(0, min(start, d-1))
		end = max(-1, min(end, d-1))
	}
	return start, end
}

// PadAmounts returns the pads of a Pad node as [begin..., end...] over all
// r axes, and whether they are known statically.
func PadAmounts(inf *Inference, n *onnxpb.NodeProto, r int) ([]int64, bool) {
	var pads []int64
	if a := Attr(n, "pads"); a != nil {
		pads = a.GetInts()
	} else {
		v, ok := inf.Ints[inf.in(n, 1)]
		if !ok {
			return nil, false
		}
		pads = v
	}
	if ax := inf.in(n, 3); ax != "" {
		axes, ok := inf.Ints[ax]
		if !ok || len(pads) != 2*len(axes) {
			return nil, false
		}
		full := make([]int64, 2*r)
		for i, a := range axes {
			a = normAxis(a, r)
			full[a] = pads[i]
			full[int(a)+r] = pads[i+len(axes)]
		}
		return full, true
	}
	if len(pads) != 2*r {
		return nil, false
	}
	return pads, true
}

// resizeType infers a Resize output from constant sizes, or from constant
// scales (floor(size·scale), in float32 as ONNX Runtime computes it), on
// the axes attribute's axes (all by default); an axis of unknown size
// stays unknown unless its scale is 1.
func (inf *Inference) resizeType(n *onnxpb.NodeProto, x ValueType) ValueType {
	vt := ValueType{Elem: x.Elem}
	if x.Shape == nil {
		return vt
	}
	r := len(x.Shape)
	axes := AttrIntsOr(n, "axes", nil)
	if axes == nil {
		for i := 0; i < r; i++ {
			axes = append(axes, int64(i))
		}
	}
	out := clone(x.Shape)
	if v, ok := inf.Ints[inf.in(n, 3)]; ok && len(v) == len(axes) {
		for i, a := range axes {
			out[normAxis(a, r)] = v[i]
		}
		vt.Shape = out
		return vt
	}
	ct := inf.Consts[inf.in(n, 2)]
	if ct == nil {
		return vt
	}
	sc, err := TensorValues(ct)
	if err != nil || len(sc) != len(axes) {
		return vt
	}
	for i, a := range axes {
		ax := normAxis(a, r)
		if s := float32(sc[i]); s != 1 && out[ax] >= 0 {
			out[ax] = int64(float32(out[ax]) * s)
		} else if s != 1 {
			out[ax] = -1
		}
	}
	vt.Shape = out
	return vt
}
