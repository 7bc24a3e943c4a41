package onnx

import (
	"math"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Unknown marks an element of a partially known integer tensor
// (Inference.Partial).
const Unknown = math.MinInt64

// maxPartial is the most elements a partially known tensor may have: the
// shape sub-graph handles shape vectors and scalars.
const maxPartial = 64

// vals returns the values of a small integer tensor, fully known (Ints)
// or in part (Partial, Unknown where not known).
func (inf *Inference) vals(name string) ([]int64, bool) {
	if name == "" {
		return nil, false
	}
	if v, ok := inf.Ints[name]; ok {
		return v, true
	}
	v, ok := inf.Partial[name]
	return v, ok
}

// unknownToDynamic returns shape values with Unknown as -1 (a dynamic
// dim).
func unknownToDynamic(v []int64) []int64 {
	out := make([]int64, len(v))
	for i, d := range v {
		out[i] = d
		if d == Unknown {
			out[i] = -1
		}
	}
	return out
}

// foldPartial evaluates n on the partially known values of its inputs:
// the shape sub-graph exporters write around a dynamic batch axis
// (Shape → Gather → arithmetic → Concat/Unsqueeze → Reshape, Slice,
// Expand, Split). Every value that does not depend on an unknown element
// is computed; the others are Unknown. Outputs that end fully known join
// Ints, so that the rules reading constants (Slice bounds, Split sizes,
// Reshape targets) see them as constants.
func (inf *Inference) foldPartial(n *onnxpb.NodeProto) {
	outs := n.GetOutput()
	if len(outs) == 0 || outs[0] == "" {
		return
	}
	if _, ok := inf.Ints[outs[0]]; ok {
		return
	}
	in := func(i int) ([]int64, bool) { return inf.vals(inf.in(n, i)) }
	var v []int64
	switch n.GetOpType() {
	case "Shape":
		x := inf.typ(inf.in(n, 0))
		if x.Shape == nil {
			return
		}
		r := int64(len(x.Shape))
		start, end := AttrIntOr(n, "start", 0), AttrIntOr(n, "end", r)
		if start < 0 {
			start += r
		}
		if end < 0 {
			end += r
		}
		start, end = max(0, min(start, r)), max(0, min(end, r))
		for _, d := range x.Shape[start:max(start, end)] {
			if d < 0 {
				d = Unknown
			}
			v = append(v, d)
		}
		if v == nil {
			v = []int64{}
		}
	case "Size":
		x := inf.typ(inf.in(n, 0))
		if !x.Known() {
			return
		}
		p := int64(1)
		for _, d := range x.Shape {
			p *= d
		}
		v = []int64{p}
	case "Identity", "Cast", "Squeeze", "Unsqueeze", "Reshape", "Flatten":
		// the values, in order, whatever the new shape
		var ok bool
		if v, ok = in(0); !ok {
			return
		}
		if n.GetOpType() == "Cast" {
			switch int32(AttrIntOr(n, "to", 0)) {
			case Int64, Int32, Bool:
			default:
				return
			}
		}
	case "Gather":
		d, ok1 := in(0)
		idx, ok2 := inf.Ints[inf.in(n, 1)]
		if !ok1 || !ok2 || len(inf.typ(inf.in(n, 0)).Shape) != 1 {
			return
		}
		for _, i := range idx {
			if i < 0 {
				i += int64(len(d))
			}
			if i < 0 || i >= int64(len(d)) {
				return
			}
			v = append(v, d[i])
		}
	case "Slice":
		d, ok := in(0)
		xs := inf.typ(inf.in(n, 0)).Shape
		if !ok || !(ValueType{Shape: xs}).Known() || len(xs) == 0 || dimsProd(xs) != int64(len(d)) {
			return
		}
		st, en, axes, steps, ok := SliceArgs(inf, n, len(xs))
		if !ok {
			return
		}
		// the index list kept on each axis
		keep := make([][]int64, len(xs))
		for a := range xs {
			for i := int64(0); i < xs[a]; i++ {
				keep[a] = append(keep[a], i)
			}
		}
		for i, a := range axes {
			if a < 0 || int(a) >= len(xs) || steps[i] == 0 {
				return
			}
			b, e := ClampSlice(st[i], en[i], steps[i], xs[a])
			keep[a] = nil
			for j := b; (steps[i] > 0 && j < e) || (steps[i] < 0 && j > e); j += steps[i] {
				keep[a] = append(keep[a], j)
			}
		}
		v = gatherND(d, xs, keep, nil)
	case "Transpose":
		d, ok := in(0)
		xs := inf.typ(inf.in(n, 0)).Shape
		if !ok || !(ValueType{Shape: xs}).Known() || dimsProd(xs) != int64(len(d)) {
			return
		}
		perm := TransposePerm(n, len(xs))
		if perm == nil {
			return
		}
		keep := make([][]int64, len(xs))
		for a := range xs {
			for i := int64(0); i < xs[a]; i++ {
				keep[a] = append(keep[a], i)
			}
		}
		v = gatherND(d, xs, keep, perm)
	case "Concat":
		v = []int64{}
		for i := range n.GetInput() {
			p, ok := in(i)
			if !ok {
				return
			}
			v = append(v, p...)
		}
	case "Add", "Sub", "Mul", "Div", "Max", "Min", "Mod", "Equal", "Less", "Greater":
		a, ok1 := in(0)
		b, ok2 := in(1)
		if !ok1 || !ok2 || len(n.GetInput()) != 2 || (len(a) != len(b) && len(a) != 1 && len(b) != 1) {
			return
		}
		v = make([]int64, max(len(a), len(b)))
		for i := range v {
			x, y := a[min(i, len(a)-1)], b[min(i, len(b)-1)]
			if x == Unknown || y == Unknown {
				v[i] = Unknown
				continue
			}
			r, ok := intArith(n.GetOpType(), x, y)
			if !ok {
				return
			}
			v[i] = r
		}
	case "Where":
		c, ok1 := in(0)
		a, ok2 := in(1)
		b, ok3 := in(2)
		if !ok1 || !ok2 || !ok3 {
			return
		}
		l := max(len(c), len(a), len(b))
		for _, s := range [][]int64{c, a, b} {
			if len(s) != l && len(s) != 1 {
				return
			}
		}
		v = make([]int64, l)
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
	case "ConstantOfShape":
		s, ok := inf.Ints[inf.in(n, 0)]
		if !ok {
			return
		}
		cnt := int64(1)
		for _, d := range s {
			cnt *= d
		}
		if cnt > maxPartial {
			return
		}
		fill := int64(0)
		if a := Attr(n, "value"); a != nil && a.GetT() != nil {
			e := a.GetT().GetDataType()
			if e != Int64 && e != Int32 {
				return
			}
			fv, err := TensorInts(a.GetT())
			if err != nil || len(fv) != 1 {
				return
			}
			fill = fv[0]
		} else if a == nil {
			return // float zeros: not an integer tensor
		}
		v = make([]int64, cnt)
		for i := range v {
			v[i] = fill
		}
	case "Range":
		st, ok1 := inf.Ints[inf.in(n, 0)]
		li, ok2 := inf.Ints[inf.in(n, 1)]
		de, ok3 := inf.Ints[inf.in(n, 2)]
		if !ok1 || !ok2 || !ok3 || len(st) != 1 || len(li) != 1 || len(de) != 1 || de[0] == 0 {
			return
		}
		v = []int64{}
		for x := st[0]; (de[0] > 0 && x < li[0]) || (de[0] < 0 && x > li[0]); x += de[0] {
			if len(v) == maxPartial {
				return
			}
			v = append(v, x)
		}
	case "ReduceProd", "ReduceSum":
		// of a whole 1-D shape vector (element counts)
		a, ok := in(0)
		if !ok || len(inf.typ(inf.in(n, 0)).Shape) != 1 {
			return
		}
		r := int64(0)
		if n.GetOpType() == "ReduceProd" {
			r = 1
		}
		for _, x := range a {
			if x == Unknown {
				r = Unknown
				break
			}
			if n.GetOpType() == "ReduceProd" {
				r *= x
			} else {
				r += x
			}
		}
		v = []int64{r}
	default:
		return
	}
	if len(v) > maxPartial {
		return
	}
	for _, x := range v {
		if x == Unknown {
			inf.Partial[outs[0]] = v
			return
		}
	}
	inf.Ints[outs[0]] = v
}

// intArith applies a binary ONNX operator to two int64 values as ONNX
// Runtime does (Div truncates toward zero; Mod takes the divisor's sign
// with fmod=0); comparisons give 0 or 1.
func intArith(op string, x, y int64) (int64, bool) {
	switch op {
	case "Add":
		return x + y, true
	case "Sub":
		return x - y, true
	case "Mul":
		return x * y, true
	case "Div":
		if y == 0 {
			return 0, false
		}
		return x / y, true
	case "Mod":
		if y == 0 {
			return 0, false
		}
		m := x % y
		if m != 0 && (m < 0) != (y < 0) {
			m += y
		}
		return m, true
	case "Max":
		return max(x, y), true
	case "Min":
		return min(x, y), true
	case "Equal":
		return b2i(x == y), true
	case "Less":
		return b2i(x < y), true
	case "Greater":
		return b2i(x > y), true
	}
	return 0, false
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func dimsProd(s []int64) int64 {
	p := int64(1)
	for _, d := range s {
		p *= d
	}
	return p
}

// gatherND returns the elements of d (row-major, shape xs) at the index
// lists keep[a] of each axis, in row-major order of the result whose axes
// are xs's permuted by perm (nil: in order).
func gatherND(d, xs []int64, keep [][]int64, perm []int64) []int64 {
	r := len(xs)
	if perm == nil {
		perm = make([]int64, r)
		for i := range perm {
			perm[i] = int64(i)
		}
	}
	strides := make([]int64, r)
	st := int64(1)
	for a := r - 1; a >= 0; a-- {
		strides[a] = st
		st *= xs[a]
	}
	out := []int64{}
	pos := make([]int, r) // position in the output's axes
	for {
		for a := 0; a < r; a++ {
			if len(keep[perm[a]]) == 0 {
				return out
			}
		}
		off := int64(0)
		for a := 0; a < r; a++ {
			off += keep[perm[a]][pos[a]] * strides[perm[a]]
		}
		out = append(out, d[off])
		a := r - 1
		for ; a >= 0; a-- {
			pos[a]++
			if pos[a] < len(keep[perm[a]]) {
				break
			}
			pos[a] = 0
		}
		if a < 0 {
			return out
		}
	}
}
