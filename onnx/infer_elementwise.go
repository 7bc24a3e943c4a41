package onnx

import "github.com/gauntlet-ml/gauntlet/onnx/onnxpb"

// inferSame gives the output the first input's type: the elementwise
// operators of one tensor, the normalisations, and the operators that
// write into their first input (Scatter*, Trilu).
func inferSame(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, ValueType{Elem: x.Elem, Shape: clone(x.Shape)})
}

// inferDropout gives the output the input's type and the mask (output 1)
// its shape in Bool.
func inferDropout(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, ValueType{Elem: x.Elem, Shape: clone(x.Shape)})
	set(1, ValueType{Elem: Bool, Shape: clone(x.Shape)})
}

// inferCast gives the output the input's shape in the type "to", and the
// input's values where known.
func inferCast(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, ValueType{Elem: int32(AttrIntOr(n, "to", 0)), Shape: clone(x.Shape)})
	if v, ok := inf.Ints[inf.in(n, 0)]; ok {
		inf.Ints[n.GetOutput()[0]] = v
	}
}

// foldCast passes the values through a Cast to an integer or Bool type.
func foldCast(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	switch int32(AttrIntOr(n, "to", 0)) {
	case Int64, Int32, Bool:
		return foldValues(inf, n)
	}
	return nil, false
}

// inferQuantize gives QuantizeLinear's output the input's shape in the
// zero point's element type, else the output_dtype attribute's (opset 21),
// else uint8 (the operator's default).
func inferQuantize(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	elem := int32(onnxpb.TensorProto_UINT8)
	if zp := inf.in(n, 2); zp != "" && inf.typ(zp).Elem != 0 {
		elem = inf.typ(zp).Elem
	} else if d := AttrIntOr(n, "output_dtype", 0); d != 0 {
		elem = int32(d)
	}
	set(0, ValueType{Elem: elem, Shape: clone(x.Shape)})
}

// inferDequantize gives DequantizeLinear's output the input's shape in
// the scale's element type.
func inferDequantize(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, ValueType{Elem: inf.typ(inf.in(n, 1)).Elem, Shape: clone(x.Shape)})
}

// inferArith gives the output of an arithmetic operator the first input's
// element type and the broadcast of the inputs' shapes, and folds the
// shape arithmetic on known values (foldArith).
func inferArith(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, ValueType{Elem: x.Elem, Shape: inf.broadcastInputs(n)})
	inf.foldArith(n)
}

// inferCompare gives the output of a comparison or logical operator Bool
// and the broadcast of the inputs' shapes.
func inferCompare(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	set(0, ValueType{Elem: Bool, Shape: inf.broadcastInputs(n)})
}

// broadcastInputs returns the broadcast of the shapes of n's inputs.
func (inf *Inference) broadcastInputs(n *onnxpb.NodeProto) []int64 {
	var shapes [][]int64
	for _, in := range n.GetInput() {
		shapes = append(shapes, inf.typ(in).Shape)
	}
	return broadcastShape(shapes...)
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

// foldBinary folds a binary arithmetic or comparison operator elementwise
// (one side may be a single value), Unknown where either operand is.
func foldBinary(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool) {
	a, ok1 := inf.vals(inf.in(n, 0))
	b, ok2 := inf.vals(inf.in(n, 1))
	if !ok1 || !ok2 || len(n.GetInput()) != 2 || (len(a) != len(b) && len(a) != 1 && len(b) != 1) {
		return nil, false
	}
	v := make([]int64, max(len(a), len(b)))
	for i := range v {
		x, y := a[min(i, len(a)-1)], b[min(i, len(b)-1)]
		if x == Unknown || y == Unknown {
			v[i] = Unknown
			continue
		}
		r, ok := intArith(n.GetOpType(), x, y)
		if !ok {
			return nil, false
		}
		v[i] = r
	}
	return v, true
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
