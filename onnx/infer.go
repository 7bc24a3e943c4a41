package onnx

import (
	"slices"

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
// Dynamic input dims (a batch axis) are handled by inferring once per
// stand-in size, with every dynamic dim set to it (dynamicStandIns): a
// shape or value that comes out the same in all passes
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
	a := m.infer(dynamicStandIns[0])
	for _, n := range dynamicStandIns[1:] {
		a.merge(m.infer(n))
	}
	return a
}

// dynamicStandIns are the sizes given to dynamic input dims in the
// inference passes: two primes no model has as a static size, so that a
// value computed from them differs between the passes, and a small size,
// so that arithmetic that saturates for large batches (min(N, 3)) is seen
// to depend on N. A value all passes agree on is taken as independent of
// the dynamic sizes; where that is wrong (arithmetic agreeing at all
// three), the gradient graph is still right for large batches, and
// grad.OpenTargetGraph specialises graphs that read the batch size.
var dynamicStandIns = []int64{1009, 1013, 2}

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
	if n := dimsProd(t.GetDims()); n < 0 || n > 64 {
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

// inferRule sets the types of a node's outputs (set(i, t) for output i)
// from x, the type of its first input, and what inf knows of the others;
// it may record in inf.Ints the values of outputs it computes.
type inferRule func(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType))

// foldRule computes the values of a node's first output from the values
// of its inputs, fully known or in part (Unknown where not known), and
// says whether it could.
type foldRule func(inf *Inference, n *onnxpb.NodeProto) ([]int64, bool)

// opRule is an operator's entry in inferRules: the rule for its output
// types and, for the operators of shape sub-graphs, the one for its
// values (nil: none).
type opRule struct {
	shape inferRule
	fold  foldRule
}

// inferRules maps each operator Infer knows to its rules, grouped by the
// file that holds the shape rule and sorted within each group. Other
// operators get inferDefault.
var inferRules = map[string]opRule{
	// infer_conv.go (convolutions and pools)
	"AveragePool": {inferPool, nil}, "Conv": {inferConv, nil}, "ConvTranspose": {inferConvTranspose, nil},
	"GlobalAveragePool": {inferGlobalPool, nil}, "GlobalMaxPool": {inferGlobalPool, nil},
	"LpPool": {inferPool, nil}, "MaxPool": {inferPool, nil},
	// infer_elementwise.go (one tensor's type through, broadcasts, comparisons)
	"Abs": {inferSame, nil}, "Acos": {inferSame, nil}, "Acosh": {inferSame, nil}, "Add": {inferArith, foldBinary},
	"And": {inferCompare, nil}, "Asin": {inferSame, nil}, "Asinh": {inferSame, nil}, "Atan": {inferSame, nil},
	"Atanh": {inferSame, nil}, "BatchNormalization": {inferSame, nil}, "BitShift": {inferArith, nil},
	"Cast": {inferCast, foldCast}, "Ceil": {inferSame, nil}, "Celu": {inferSame, nil}, "Clip": {inferSame, nil},
	"Cos": {inferSame, nil}, "Cosh": {inferSame, nil}, "CumSum": {inferSame, nil},
	"DequantizeLinear": {inferDequantize, nil}, "Div": {inferArith, foldBinary},
	"Dropout": {inferDropout, nil}, "Elu": {inferSame, nil}, "Equal": {inferCompare, foldBinary},
	"Erf": {inferSame, nil}, "Exp": {inferSame, nil}, "Floor": {inferSame, nil}, "Gelu": {inferSame, nil},
	"Greater": {inferCompare, foldBinary}, "GreaterOrEqual": {inferCompare, nil}, "HardSigmoid": {inferSame, nil},
	"HardSwish": {inferSame, nil}, "Hardmax": {inferSame, nil}, "Identity": {inferSame, foldValues},
	"InstanceNormalization": {inferSame, nil}, "IsInf": {inferCompare, nil}, "IsNaN": {inferCompare, nil},
	"LRN": {inferSame, nil}, "LayerNormalization": {inferSame, nil}, "LeakyRelu": {inferSame, nil},
	"Less": {inferCompare, foldBinary}, "LessOrEqual": {inferCompare, nil}, "Log": {inferSame, nil},
	"LogSoftmax": {inferSame, nil}, "LpNormalization": {inferSame, nil}, "Max": {inferArith, foldBinary},
	"Mean": {inferArith, nil}, "Min": {inferArith, foldBinary}, "Mish": {inferSame, nil},
	"Mod": {inferArith, foldBinary}, "Mul": {inferArith, foldBinary}, "Neg": {inferSame, nil},
	"Not": {inferCompare, nil}, "Or": {inferCompare, nil}, "PRelu": {inferArith, nil}, "Pow": {inferArith, nil},
	"QuantizeLinear": {inferQuantize, nil}, "Reciprocal": {inferSame, nil}, "Relu": {inferSame, nil}, "Round": {inferSame, nil},
	"Scatter": {inferSame, nil}, "ScatterElements": {inferSame, nil}, "ScatterND": {inferSame, nil},
	"Selu": {inferSame, nil}, "Shrink": {inferSame, nil}, "Sigmoid": {inferSame, nil}, "Sign": {inferSame, nil},
	"Sin": {inferSame, nil}, "Sinh": {inferSame, nil}, "Softmax": {inferSame, nil}, "Softplus": {inferSame, nil},
	"Softsign": {inferSame, nil}, "Sqrt": {inferSame, nil}, "Sub": {inferArith, foldBinary},
	"Sum": {inferArith, nil}, "Tan": {inferSame, nil}, "Tanh": {inferSame, nil},
	"ThresholdedRelu": {inferSame, nil}, "Trilu": {inferSame, nil}, "Xor": {inferCompare, nil},
	// infer_index.go (gathers, selections)
	"Gather": {inferGather, foldGather}, "GatherElements": {inferGatherElements, nil},
	"NonZero": {inferNonZero, nil}, "OneHot": {inferOneHot, nil}, "TopK": {inferTopK, nil},
	"Where": {inferWhere, foldWhere},
	// infer_linalg.go (matrix products)
	"Einsum": {inferEinsum, nil}, "Gemm": {inferGemm, nil}, "MatMul": {inferMatMul, nil},
	// infer_reduce.go (reductions and arg reductions)
	"ArgMax": {inferArgReduce, nil}, "ArgMin": {inferArgReduce, nil}, "ReduceL1": {inferReduce, nil},
	"ReduceL2": {inferReduce, nil}, "ReduceLogSumExp": {inferReduce, nil}, "ReduceMax": {inferReduce, nil},
	"ReduceMean": {inferReduce, nil}, "ReduceMin": {inferReduce, nil}, "ReduceProd": {inferReduce, foldReduce},
	"ReduceSum": {inferReduce, foldReduce}, "ReduceSumSquare": {inferReduce, nil},
	// infer_shape.go (shapes, layout, constants)
	"Concat": {inferConcat, foldConcat}, "Constant": {inferConstant, nil},
	"ConstantOfShape": {inferConstantOfShape, foldConstantOfShape}, "DepthToSpace": {inferDepthToSpace, nil},
	"Expand": {inferExpand, nil}, "Flatten": {inferFlatten, foldValues}, "Pad": {inferPad, nil},
	"Range": {inferRange, foldRange}, "Reshape": {inferReshape, foldValues}, "Resize": {inferResize, nil},
	"Shape": {inferShape, foldShape}, "Size": {inferSize, foldSize}, "Slice": {inferSlice, foldSlice},
	"SpaceToDepth": {inferDepthToSpace, nil}, "Split": {inferSplit, nil}, "Squeeze": {inferSqueeze, foldValues},
	"Tile": {inferTile, nil}, "Transpose": {inferTranspose, foldTranspose}, "Unsqueeze": {inferUnsqueeze, foldValues},
}

// node infers n's outputs by its operator's shape rule.
func (inf *Inference) node(n *onnxpb.NodeProto) {
	outs := n.GetOutput()
	set := func(i int, vt ValueType) {
		if i < len(outs) && outs[i] != "" {
			inf.Types[outs[i]] = vt
		}
	}
	shape := inferDefault
	if r, ok := inferRules[n.GetOpType()]; ok {
		shape = r.shape
	}
	shape(inf, n, inf.typ(inf.in(n, 0)), set)
}

// inferDefault gives the outputs of an operator without a rule the first
// input's element type and an unknown shape.
func inferDefault(inf *Inference, n *onnxpb.NodeProto, x ValueType, set func(int, ValueType)) {
	for i := range n.GetOutput() {
		set(i, ValueType{Elem: x.Elem})
	}
}
