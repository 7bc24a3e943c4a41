package onnx

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Inference holds what Infer could work out about the main graph's tensors
// without running it: element types and static shapes (ValueType), the
// constant tensors (initializers and Constant outputs), and the values of
// small integer tensors that are known at build time (constants and
// shape arithmetic on known shapes).
type Inference struct {
	Types  map[string]ValueType
	Consts map[string]*onnxpb.TensorProto
	Ints   map[string][]int64
	// Partial holds small integer tensors whose values are known only in
	// part (Unknown marks the others): a Shape of a tensor with a dynamic
	// batch axis, and the shape arithmetic on it. Values that end up
	// fully known (a channel count read from such a Shape) join Ints.
	Partial map[string][]int64
	opset   int64
}

// Infer propagates element types and static shapes through the main graph,
// in node order, for the operators Gauntlet differentiates and the usual
// shape-only ones; for other operators the outputs take the first input's
// element type and an unknown shape. It is cheap and never fails: unknown
// is a valid answer. Declared value_info and outputs fill gaps.
//
// Dynamic input dims (a batch axis) are handled by inferring twice, with
// each dynamic dim set to a different stand-in size in each pass
// (dynamicStandIns): a shape or value that comes out the same in both
// does not depend on the dynamic sizes and is kept (the channel count a
// Reshape to [N, -1, H, W] implies, the bounds of x.chunk(2, dim=1)
// computed from Shape); one that differs is dynamic (-1) or unknown.
func (m *Model) Infer() *Inference {
	dynamic := false
	for _, v := range m.Proto.GetGraph().GetInput() {
		for _, d := range TypeOf(v).Shape {
			dynamic = dynamic || d < 0
		}
	}
	if !dynamic {
		return m.infer(-1)
	}
	a, b := m.infer(dynamicStandIns[0]), m.infer(dynamicStandIns[1])
	a.merge(b)
	return a
}

// dynamicStandIns are the sizes given to dynamic input dims in the two
// inference passes: primes no model has as a static size, so that a
// value computed from them differs between the passes.
var dynamicStandIns = [2]int64{1009, 1013}

// merge keeps what inf and o (the same graph inferred with other
// stand-in sizes) agree on: equal dims and fully equal values.
func (inf *Inference) merge(o *Inference) {
	for name, t := range inf.Types {
		u := o.Types[name]
		if len(t.Shape) != len(u.Shape) || (t.Shape == nil) != (u.Shape == nil) {
			t.Shape = nil
		} else {
			for i := range t.Shape {
				if t.Shape[i] != u.Shape[i] {
					t.Shape[i] = -1
				}
			}
		}
		inf.Types[name] = t
	}
	for name, v := range inf.Partial {
		w, ok := o.vals(name)
		if !ok || len(v) != len(w) {
			delete(inf.Partial, name)
			continue
		}
		for i := range v {
			if v[i] != w[i] {
				v[i] = Unknown
			}
		}
	}
	for name, v := range inf.Ints {
		w, ok := o.Ints[name]
		if ok && slices.Equal(v, w) {
			continue
		}
		delete(inf.Ints, name)
		if ok && len(v) == len(w) && len(v) <= maxPartial {
			p := make([]int64, len(v))
			for i := range v {
				p[i] = v[i]
				if v[i] != w[i] {
					p[i] = Unknown
				}
			}
			inf.Partial[name] = p
		}
	}
}

// infer runs the inference with every dynamic input dim set to standIn
// (-1: left dynamic).
func (m *Model) infer(standIn int64) *Inference {
	g := m.Proto.GetGraph()
	inf := &Inference{Types: map[string]ValueType{}, Consts: map[string]*onnxpb.TensorProto{}, Ints: map[string][]int64{}, Partial: map[string][]int64{}, opset: m.Opset()}
	for _, v := range g.GetInput() {
		t := TypeOf(v)
		if standIn > 0 {
			for i, d := range t.Shape {
				if d < 0 {
					t.Shape[i] = standIn
				}
			}
		}
		inf.Types[v.GetName()] = t
	}
	for _, t := range g.GetInitializer() {
		inf.Types[t.GetName()] = ValueType{Elem: t.GetDataType(), Shape: append([]int64{}, t.GetDims()...)}
		inf.Consts[t.GetName()] = t
		inf.setInts(t.GetName(), t)
	}
	declared := map[string]ValueType{}
	for _, v := range append(append([]*onnxpb.ValueInfoProto{}, g.GetValueInfo()...), g.GetOutput()...) {
		declared[v.GetName()] = TypeOf(v)
	}
	for _, n := range g.GetNode() {
		inf.nodeSafe(n)
		for _, o := range n.GetOutput() {
			d, ok := declared[o]
			if !ok {
				continue
			}
			t := inf.Types[o]
			if t.Elem == 0 {
				t.Elem = d.Elem
			}
			if t.Shape == nil {
				t.Shape = d.Shape
			} else if len(d.Shape) == len(t.Shape) {
				for i := range t.Shape {
					if t.Shape[i] < 0 {
						t.Shape[i] = d.Shape[i]
					}
				}
			}
			inf.Types[o] = t
		}
	}
	return inf
}

// scalarValue returns the value of a one-element tensor known at build
// time: an integer (Ints) or a float constant.
func (inf *Inference) scalarValue(name string) (float64, bool) {
	if v, ok := inf.Ints[name]; ok && len(v) == 1 {
		return float64(v[0]), true
	}
	if t := inf.Consts[name]; t != nil {
		if v, err := TensorValues(t); err == nil && len(v) == 1 {
			return v[0], true
		}
	}
	return 0, false
}

// nodeSafe infers n's outputs; a node too malformed for the rules
// (attributes out of range) leaves its outputs unknown rather than
// stopping the inference: unknown is a valid answer, and the builder or
// ONNX Runtime names the node.
func (inf *Inference) nodeSafe(n *onnxpb.NodeProto) {
	defer func() {
		if recover() != nil {
			for _, o := range n.GetOutput() {
				delete(inf.Ints, o)
				delete(inf.Partial, o)
				inf.Types[o] = ValueType{}
			}
		}
	}()
	inf.node(n)
	inf.foldPartial(n)
}

func (inf *Inference) setInts(name string, t *onnxpb.TensorProto) {
	if e := t.GetDataType(); e != Int64 && e != Int32 {
		return
	}
	n := int64(1)
	for _, d := range t.GetDims() {
		n *= d
	}
	if n > 64 {
		return
	}
	if v, err := TensorInts(t); err == nil {
		inf.Ints[name] = v
	}
}

func (inf *Inference) typ(name string) ValueType { return inf.Types[name] }

func (inf *Inference) in(n *onnxpb.NodeProto, i int) string {
	if i < len(n.GetInput()) {
		return n.GetInput()[i]
	}
	return ""
}

// broadcastShape returns the numpy broadcast of shapes, or nil when a rank
// is unknown.
func broadcastShape(shapes ...[]int64) []int64 {
	r := 0
	for _, s := range shapes {
		if s == nil {
			return nil
		}
		if len(s) > r {
			r = len(s)
		}
	}
	out := make([]int64, r)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := r - len(s)
		for i, d := range s {
			o := &out[off+i]
			switch {
			case d == 1:
			case *o == 1:
				*o = d
			case d < 0 && *o >= 0:
				// unknown stays the known one (could only be 1 or equal)
			case *o < 0:
				*o = d
			}
		}
	}
	return out
}

func normAxis(a int64, r int) int64 {
	if a < 0 {
		return a + int64(r)
	}
	return a
}

func clone(s []int64) []int64 {
	if s == nil {
		return nil
	}
	return append([]int64{}, s...)
}

// PoolOutputSize returns the output size of a conv or pool window on one
// spatial axis (in < 0: unknown gives -1).
func PoolOutputSize(in, k, stride, dil, padBegin, padEnd int64, ceil bool) int64 {
	if in < 0 {
		return -1
	}
	if k <= 0 || stride <= 0 || dil <= 0 {
		return -1 // a malformed window: unknown
	}
	ek := (k-1)*dil + 1
	num := in + padBegin + padEnd - ek
	if num < 0 {
		return -1
	}
	if ceil {
		o := (num+stride-1)/stride + 1
		// the last window must start inside the input or left padding
		if (o-1)*stride >= in+padBegin {
			o--
		}
		return o
	}
	return num/stride + 1
}

// ConvPads returns the begin and end pads of a conv or pool node on each
// of its spatial axes, resolving auto_pad from static input sizes (in; -1
// unknown). ok is false when auto_pad needs an unknown size.
func ConvPads(n *onnxpb.NodeProto, in, kernel, strides, dils []int64) (begin, end []int64, ok bool) {
	r := len(kernel)
	begin, end = make([]int64, r), make([]int64, r)
	switch AttrStringOr(n, "auto_pad", "NOTSET") {
	case "SAME_UPPER", "SAME_LOWER":
		upper := AttrStringOr(n, "auto_pad", "") == "SAME_UPPER"
		for i := 0; i < r; i++ {
			if in[i] < 0 {
				return nil, nil, false
			}
			out := (in[i] + strides[i] - 1) / strides[i]
			total := (out-1)*strides[i] + (kernel[i]-1)*dils[i] + 1 - in[i]
			if total < 0 {
				total = 0
			}
			if upper {
				begin[i], end[i] = total/2, total-total/2
			} else {
				begin[i], end[i] = total-total/2, total/2
			}
		}
	case "VALID":
	default:
		p := AttrIntsOr(n, "pads", nil)
		if len(p) == 2*r {
			copy(begin, p[:r])
			copy(end, p[r:])
		}
	}
	return begin, end, true
}

// WindowAttrs returns kernel, strides and dilations of a conv or pool node
// with r spatial axes, filling the ONNX defaults.
func WindowAttrs(n *onnxpb.NodeProto, kernel []int64, r int) (k, s, d []int64) {
	k = AttrIntsOr(n, "kernel_shape", kernel)
	s = AttrIntsOr(n, "strides", nil)
	d = AttrIntsOr(n, "dilations", nil)
	if len(s) != r {
		s = make([]int64, r)
		for i := range s {
			s[i] = 1
		}
	}
	if len(d) != r {
		d = make([]int64, r)
		for i := range d {
			d[i] = 1
		}
	}
	return k, s, d
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

func (inf *Inference) node(n *onnxpb.NodeProto) {
	outs := n.GetOutput()
	set := func(i int, vt ValueType) {
		if i < len(outs) && outs[i] != "" {
			inf.Types[outs[i]] = vt
		}
	}
	x := inf.typ(inf.in(n, 0))
	same := ValueType{Elem: x.Elem, Shape: clone(x.Shape)}
	switch n.GetOpType() {
	case "Constant":
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
	case "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Exp", "Log", "Sqrt",
		"Erf", "Neg", "Identity", "Abs", "Sign", "Floor", "Ceil", "Round", "Reciprocal", "Elu", "Selu",
		"HardSigmoid", "Softplus", "Softsign", "LRN", "InstanceNormalization", "Gelu", "HardSwish", "Mish",
		"Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
		"ThresholdedRelu", "Celu", "Shrink", "Hardmax", "CumSum", "LpNormalization",
		"ScatterND", "ScatterElements", "Scatter", "Trilu":
		set(0, same)
	case "Clip", "Dropout", "BatchNormalization", "LayerNormalization":
		set(0, same)
		if n.GetOpType() == "Dropout" {
			set(1, ValueType{Elem: Bool, Shape: clone(x.Shape)})
		}
	case "Cast":
		set(0, ValueType{Elem: int32(AttrIntOr(n, "to", 0)), Shape: clone(x.Shape)})
		if v, ok := inf.Ints[inf.in(n, 0)]; ok {
			inf.Ints[outs[0]] = v
		}
	case "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Mod", "BitShift":
		var shapes [][]int64
		for _, in := range n.GetInput() {
			shapes = append(shapes, inf.typ(in).Shape)
		}
		set(0, ValueType{Elem: x.Elem, Shape: broadcastShape(shapes...)})
		inf.foldArith(n)
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "IsNaN", "IsInf":
		var shapes [][]int64
		for _, in := range n.GetInput() {
			shapes = append(shapes, inf.typ(in).Shape)
		}
		set(0, ValueType{Elem: Bool, Shape: broadcastShape(shapes...)})
	case "Where":
		set(0, ValueType{Elem: inf.typ(inf.in(n, 1)).Elem, Shape: broadcastShape(x.Shape, inf.typ(inf.in(n, 1)).Shape, inf.typ(inf.in(n, 2)).Shape)})
	case "Shape":
		vt := ValueType{Elem: Int64}
		if x.Shape != nil {
			r := int64(len(x.Shape))
			start, end := AttrIntOr(n, "start", 0), AttrIntOr(n, "end", r)
			if start < 0 {
				start += r
			}
			if end < 0 {
				end += r
			}
			start, end = max(0, min(start, r)), max(0, min(end, r))
			if end < start {
				end = start
			}
			vt.Shape = []int64{end - start}
			if (ValueType{Shape: x.Shape[start:end]}).Known() {
				inf.Ints[outs[0]] = clone(x.Shape[start:end])
			}
		}
		set(0, vt)
	case "Size":
		set(0, ValueType{Elem: Int64, Shape: []int64{}})
	case "Gemm":
		a, b := x.Shape, inf.typ(inf.in(n, 1)).Shape
		vt := ValueType{Elem: x.Elem}
		if len(a) == 2 && len(b) == 2 {
			m, k := a[0], b[1]
			if AttrIntOr(n, "transA", 0) != 0 {
				m = a[1]
			}
			if AttrIntOr(n, "transB", 0) != 0 {
				k = b[0]
			}
			vt.Shape = []int64{m, k}
		}
		set(0, vt)
	case "MatMul":
		a, b := x.Shape, inf.typ(inf.in(n, 1)).Shape
		vt := ValueType{Elem: x.Elem}
		if len(a) >= 2 && len(b) >= 2 {
			batch := broadcastShape(a[:len(a)-2], b[:len(b)-2])
			vt.Shape = append(batch, a[len(a)-2], b[len(b)-1])
		} else if len(a) >= 2 && len(b) == 1 {
			vt.Shape = clone(a[:len(a)-1])
		} else if len(a) == 1 && len(b) >= 2 {
			vt.Shape = append(clone(b[:len(b)-2]), b[len(b)-1])
		} else if len(a) == 1 && len(b) == 1 {
			vt.Shape = []int64{} // a dot product
		}
		set(0, vt)
	case "Conv", "MaxPool", "AveragePool", "LpPool":
		vt := ValueType{Elem: x.Elem}
		if len(x.Shape) >= 3 {
			r := len(x.Shape) - 2
			var wk []int64
			c := x.Shape[1]
			if n.GetOpType() == "Conv" {
				w := inf.typ(inf.in(n, 1)).Shape
				if len(w) == r+2 {
					wk = w[2:]
					c = w[0]
				} else {
					c = -1
				}
			}
			k, s, d := WindowAttrs(n, wk, r)
			if len(k) == r {
				pb, pe, ok := ConvPads(n, x.Shape[2:], k, s, d)
				vt.Shape = []int64{x.Shape[0], c}
				for i := 0; i < r; i++ {
					o := int64(-1)
					if ok {
						o = PoolOutputSize(x.Shape[2+i], k[i], s[i], d[i], pb[i], pe[i], AttrIntOr(n, "ceil_mode", 0) != 0)
					}
					vt.Shape = append(vt.Shape, o)
				}
			}
		}
		set(0, vt)
		set(1, ValueType{Elem: Int64, Shape: clone(vt.Shape)})
	case "GlobalAveragePool", "GlobalMaxPool":
		vt := ValueType{Elem: x.Elem}
		if len(x.Shape) >= 2 {
			vt.Shape = []int64{x.Shape[0], x.Shape[1]}
			for range x.Shape[2:] {
				vt.Shape = append(vt.Shape, 1)
			}
		}
		set(0, vt)
	case "Flatten":
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
	case "Reshape":
		vt := ValueType{Elem: x.Elem}
		if v, ok := inf.vals(inf.in(n, 1)); ok {
			vt.Shape = make([]int64, len(v))
			neg, prod := -1, int64(1)
			for i, d := range v {
				switch {
				case d == Unknown:
					vt.Shape[i] = -1
				case d == 0 && AttrIntOr(n, "allowzero", 0) == 0:
					if i < len(x.Shape) {
						vt.Shape[i] = x.Shape[i]
					} else {
						vt.Shape[i] = -1
					}
				case d == -1:
					neg = i
				default:
					vt.Shape[i] = d
				}
				if i != neg {
					if vt.Shape[i] < 0 || prod < 0 {
						prod = -1
					} else {
						prod *= vt.Shape[i]
					}
				}
			}
			if neg >= 0 {
				vt.Shape[neg] = -1
				if x.Known() && prod > 0 {
					tot := int64(1)
					for _, d := range x.Shape {
						tot *= d
					}
					vt.Shape[neg] = tot / prod
				}
			}
		} else if s := inf.typ(inf.in(n, 1)).Shape; len(s) == 1 && s[0] >= 0 {
			vt.Shape = make([]int64, s[0])
			for i := range vt.Shape {
				vt.Shape[i] = -1
			}
		}
		set(0, vt)
	case "Transpose":
		vt := ValueType{Elem: x.Elem}
		if x.Shape != nil {
			perm := TransposePerm(n, len(x.Shape))
			if perm == nil {
				set(0, vt)
				break
			}
			vt.Shape = make([]int64, len(perm))
			for i, p := range perm {
				vt.Shape[i] = x.Shape[p]
			}
		}
		set(0, vt)
	case "Concat":
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
			if allInts && len(outs) > 0 {
				inf.Ints[outs[0]] = vals
			}
		}
		set(0, vt)
	case "Split":
		if x.Shape != nil {
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
		} else {
			for i := range outs {
				set(i, ValueType{Elem: x.Elem})
			}
		}
	case "Slice":
		vt := ValueType{Elem: x.Elem}
		if x.Shape != nil {
			vt.Shape = clone(x.Shape)
			st, en, ax, steps, ok := SliceArgs(inf, n, len(x.Shape))
			if !ok {
				for i := range vt.Shape {
					vt.Shape[i] = -1
				}
			} else {
				for i, a := range ax {
					if a < 0 || int(a) >= len(x.Shape) || steps[i] == 0 {
						vt.Shape = nil
						break
					}
					d := x.Shape[a]
					if d < 0 {
						vt.Shape[a] = -1
						continue
					}
					b, e := ClampSlice(st[i], en[i], steps[i], d)
					cnt := int64(0)
					if steps[i] > 0 && e > b {
						cnt = (e - b + steps[i] - 1) / steps[i]
					} else if steps[i] < 0 && b > e {
						cnt = (b - e - steps[i] - 1) / -steps[i]
					}
					vt.Shape[a] = cnt
				}
			}
		}
		set(0, vt)
	case "Squeeze":
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
	case "Unsqueeze":
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
			if v, ok := inf.Ints[inf.in(n, 0)]; ok && len(outs) > 0 {
				inf.Ints[outs[0]] = v
			}
		}
		set(0, vt)
	case "Pad":
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
	case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceL1",
		"ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin":
		vt := ValueType{Elem: x.Elem}
		if n.GetOpType() == "ArgMax" || n.GetOpType() == "ArgMin" {
			vt.Elem = Int64
		}
		var axes []int64
		ok := true
		if a := Attr(n, "axis"); a != nil || n.GetOpType() == "ArgMax" || n.GetOpType() == "ArgMin" {
			axes = []int64{AttrIntOr(n, "axis", 0)}
		} else {
			axes, ok = inf.ReduceAxes(n)
			v, known := inf.Ints[inf.in(n, 1)]
			empty := inf.in(n, 1) == "" || (known && len(v) == 0)
			if !ok && empty && AttrIntOr(n, "noop_with_empty_axes", 0) != 0 {
				// no axes and noop_with_empty_axes: the identity
				vt.Shape = clone(x.Shape)
				set(0, vt)
				return
			}
		}
		if ok && x.Shape != nil {
			keep := AttrIntOr(n, "keepdims", 1) != 0
			red := map[int64]bool{}
			for _, a := range axes {
				red[normAxis(a, len(x.Shape))] = true
			}
			vt.Shape = []int64{}
			for i, d := range x.Shape {
				if axes == nil || red[int64(i)] {
					if keep {
						vt.Shape = append(vt.Shape, 1)
					}
				} else {
					vt.Shape = append(vt.Shape, d)
				}
			}
		}
		set(0, vt)
	case "Gather":
		idx := inf.typ(inf.in(n, 1))
		vt := ValueType{Elem: x.Elem}
		if x.Shape != nil && idx.Shape != nil {
			if ax := normAxis(AttrIntOr(n, "axis", 0), len(x.Shape)); ax >= 0 && ax < int64(len(x.Shape)) {
				vt.Shape = append(append(clone(x.Shape[:ax]), idx.Shape...), x.Shape[ax+1:]...)
			}
		}
		if v, ok := inf.Ints[inf.in(n, 0)]; ok {
			if iv, ok := inf.Ints[inf.in(n, 1)]; ok && len(x.Shape) == 1 {
				var r []int64
				for _, i := range iv {
					if i < 0 {
						i += int64(len(v))
					}
					if i >= 0 && i < int64(len(v)) {
						r = append(r, v[i])
					}
				}
				if len(r) == len(iv) {
					inf.Ints[outs[0]] = r
				}
			}
		}
		set(0, vt)
	case "ConstantOfShape":
		vt := ValueType{Elem: Float32}
		if a := Attr(n, "value"); a != nil && a.GetT() != nil {
			vt.Elem = a.GetT().GetDataType()
		}
		if v, ok := inf.vals(inf.in(n, 0)); ok {
			vt.Shape = unknownToDynamic(v)
		} else if s := inf.typ(inf.in(n, 0)).Shape; len(s) == 1 && s[0] >= 0 {
			vt.Shape = make([]int64, s[0])
			for i := range vt.Shape {
				vt.Shape[i] = -1
			}
		}
		set(0, vt)
	case "Tile":
		// Each axis is its size times its repeat count, where both are known.
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
	case "ConvTranspose":
		set(0, inf.convTransposeType(n, x))
	case "Expand":
		vt := ValueType{Elem: x.Elem}
		if v, ok := inf.vals(inf.in(n, 1)); ok {
			vt.Shape = broadcastShape(x.Shape, unknownToDynamic(v))
		} else if s := inf.typ(inf.in(n, 1)).Shape; len(s) == 1 && s[0] >= 0 {
			// shape values unknown, its length known: the rank is known
			unk := make([]int64, s[0])
			for i := range unk {
				unk[i] = -1
			}
			vt.Shape = broadcastShape(x.Shape, unk)
		}
		set(0, vt)
	case "NonZero":
		set(0, ValueType{Elem: Int64})
	case "TopK":
		// The axis has K entries where K is known, elsewhere x's sizes.
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
	case "GatherElements":
		// The output has the indices' shape.
		set(0, ValueType{Elem: x.Elem, Shape: clone(inf.typ(inf.in(n, 1)).Shape)})
	case "DepthToSpace", "SpaceToDepth":
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
	case "Einsum":
		set(0, inf.einsumType(n))
	case "Resize":
		set(0, inf.resizeType(n, x))
	case "OneHot":
		set(0, ValueType{Elem: inf.typ(inf.in(n, 2)).Elem})
	case "Range":
		vt := ValueType{Elem: x.Elem, Shape: []int64{-1}}
		st, ok1 := inf.scalarValue(inf.in(n, 0))
		li, ok2 := inf.scalarValue(inf.in(n, 1))
		de, ok3 := inf.scalarValue(inf.in(n, 2))
		if ok1 && ok2 && ok3 && de != 0 {
			vt.Shape[0] = max(0, int64(math.Ceil((li-st)/de)))
		}
		set(0, vt)
	default:
		for i := range outs {
			set(i, ValueType{Elem: x.Elem})
		}
	}
}

// foldArith folds Add/Sub/Mul/Div on known small integer tensors (shape
// arithmetic).
func (inf *Inference) foldArith(n *onnxpb.NodeProto) {
	if len(n.GetInput()) != 2 || len(n.GetOutput()) == 0 {
		return
	}
	a, ok1 := inf.Ints[n.GetInput()[0]]
	b, ok2 := inf.Ints[n.GetInput()[1]]
	if !ok1 || !ok2 || (len(a) != len(b) && len(a) != 1 && len(b) != 1) {
		return
	}
	l := max(len(a), len(b))
	out := make([]int64, l)
	for i := range out {
		x, y := a[min(i, len(a)-1)], b[min(i, len(b)-1)]
		switch n.GetOpType() {
		case "Add":
			out[i] = x + y
		case "Sub":
			out[i] = x - y
		case "Mul":
			out[i] = x * y
		case "Div":
			if y == 0 {
				return
			}
			out[i] = x / y
		default:
			return
		}
	}
	inf.Ints[n.GetOutput()[0]] = out
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

// convTransposeType infers a ConvTranspose output: channels are the
// weights' second dimension times group; each spatial size is
// s·(in−1) + output_padding + (k−1)·d + 1 − pad_begin − pad_end (explicit
// pads), s·in for SAME_* auto_pad, or output_shape where given.
func (inf *Inference) convTransposeType(n *onnxpb.NodeProto, x ValueType) ValueType {
	vt := ValueType{Elem: x.Elem}
	w := inf.typ(inf.in(n, 1)).Shape
	if len(x.Shape) < 3 || len(w) != len(x.Shape) {
		return vt
	}
	r := len(x.Shape) - 2
	c := int64(-1)
	if w[1] >= 0 {
		c = w[1] * AttrIntOr(n, "group", 1)
	}
	vt.Shape = []int64{x.Shape[0], c}
	k, s, d := WindowAttrs(n, w[2:], r)
	outPad := AttrIntsOr(n, "output_padding", nil)
	outShape := AttrIntsOr(n, "output_shape", nil)
	pads := AttrIntsOr(n, "pads", nil)
	auto := AttrStringOr(n, "auto_pad", "NOTSET")
	for i := 0; i < r; i++ {
		in := x.Shape[2+i]
		o := int64(-1)
		switch {
		case len(outShape) == r:
			o = outShape[i]
		case in < 0:
		case auto == "SAME_UPPER" || auto == "SAME_LOWER":
			o = in * s[i]
		default:
			op := int64(0)
			if len(outPad) == r {
				op = outPad[i]
			}
			var pb, pe int64
			if auto != "VALID" && len(pads) == 2*r {
				pb, pe = pads[i], pads[r+i]
			}
			o = s[i]*(in-1) + op + (k[i]-1)*d[i] + 1 - pb - pe
		}
		vt.Shape = append(vt.Shape, o)
	}
	return vt
}

// einsumType infers an Einsum output: each output index takes its size
// from an operand that has it (a static size where one has).
func (inf *Inference) einsumType(n *onnxpb.NodeProto) ValueType {
	ins := n.GetInput()
	vt := ValueType{Elem: inf.typ(inf.in(n, 0)).Elem}
	ranks := make([]int, len(ins))
	for i, t := range ins {
		ranks[i] = inf.typ(t).Rank()
	}
	terms, out, err := EinsumTerms(AttrStringOr(n, "equation", ""), ranks)
	if err != nil {
		return vt
	}
	size := map[rune]int64{}
	for i, t := range terms {
		s := inf.typ(ins[i]).Shape
		if s == nil {
			continue
		}
		for j, l := range t {
			if d, ok := size[l]; !ok || d < 0 || d == 1 {
				size[l] = s[j]
			}
		}
	}
	vt.Shape = make([]int64, 0, len(out))
	for _, l := range out {
		d, ok := size[l]
		if !ok {
			d = -1
		}
		vt.Shape = append(vt.Shape, d)
	}
	return vt
}

// EinsumTerms parses an Einsum equation for operands of the given ranks
// (-1: unknown) into one subscript string per operand and one for the
// output, each with one letter per axis: an ellipsis becomes letters the
// equation does not use (needing the ranks of the operands that have
// one), aligned from the right across operands, and an implicit output
// (no "->") is the ellipsis axes followed by the letters that occur once,
// in increasing order.
func EinsumTerms(eq string, ranks []int) (terms []string, out string, err error) {
	eq = strings.ReplaceAll(eq, " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	parts := strings.Split(lhs, ",")
	if len(parts) != len(ranks) {
		return nil, "", fmt.Errorf("einsum equation %q has %d operands, the node %d", eq, len(parts), len(ranks))
	}
	used := map[rune]bool{}
	for _, r := range eq {
		used[r] = true
	}
	var free []rune
	for _, r := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" {
		if !used[r] {
			free = append(free, r)
		}
	}
	check := func(t string) error {
		for _, r := range strings.ReplaceAll(t, "...", "") {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Errorf("einsum equation %q: %q is not a subscript letter", eq, r)
			}
		}
		if strings.Count(t, "...") > 1 || strings.Count(t, ".") != 3*strings.Count(t, "...") {
			return fmt.Errorf("einsum equation %q: malformed ellipsis in %q", eq, t)
		}
		return nil
	}
	// ellipsis ranks
	ell := make([]int, len(parts))
	maxEll := 0
	for i, t := range parts {
		if err := check(t); err != nil {
			return nil, "", err
		}
		if !strings.Contains(t, "...") {
			continue
		}
		if ranks[i] < 0 {
			return nil, "", fmt.Errorf("einsum equation %q: operand %d has an ellipsis and an unknown rank", eq, i)
		}
		ell[i] = ranks[i] - (len(t) - 3)
		if ell[i] < 0 {
			return nil, "", fmt.Errorf("einsum equation %q: operand %d has rank %d, below its subscripts", eq, i, ranks[i])
		}
		maxEll = max(maxEll, ell[i])
	}
	if maxEll > len(free) {
		return nil, "", fmt.Errorf("einsum equation %q: too many ellipsis axes", eq)
	}
	ellLetters := string(free[:maxEll])
	terms = make([]string, len(parts))
	for i, t := range parts {
		terms[i] = strings.Replace(t, "...", ellLetters[maxEll-ell[i]:], 1)
		if ranks[i] >= 0 && len(terms[i]) != ranks[i] {
			return nil, "", fmt.Errorf("einsum equation %q: operand %d has %d subscripts for rank %d", eq, i, len(terms[i]), ranks[i])
		}
	}
	if explicit {
		if err := check(rhs); err != nil {
			return nil, "", err
		}
		return terms, strings.Replace(rhs, "...", ellLetters, 1), nil
	}
	count := map[rune]int{}
	for _, t := range parts {
		for _, r := range strings.ReplaceAll(t, "...", "") {
			count[r]++
		}
	}
	var once []rune
	for r, k := range count {
		if k == 1 {
			once = append(once, r)
		}
	}
	slices.Sort(once)
	return terms, ellLetters + string(once), nil
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
