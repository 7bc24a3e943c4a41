package onnx

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Builder appends nodes, initializers, inputs and outputs to a model's main
// graph. Names it makes are unique in the graph and start with Prefix. Its
// helpers for operators whose signature changed between opsets (ReduceSum,
// Unsqueeze, Split, ...) emit the form of the model's ai.onnx opset.
type Builder struct {
	M      *Model
	G      *onnxpb.GraphProto
	Opset  int64
	Prefix string
	used   map[string]bool
	n      int
	consts map[string]string
}

// NewBuilder returns a Builder on m's main graph. prefix starts every name
// the Builder makes ("" means "gauntlet/").
func NewBuilder(m *Model, prefix string) *Builder {
	if prefix == "" {
		prefix = "gauntlet/"
	}
	if m.Proto.Graph == nil {
		m.Proto.Graph = &onnxpb.GraphProto{Name: proto.String("graph")}
	}
	b := &Builder{M: m, G: m.Proto.Graph, Opset: m.Opset(), Prefix: prefix, used: map[string]bool{}, consts: map[string]string{}}
	g := b.G
	for _, v := range g.GetInput() {
		b.used[v.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		b.used[t.GetName()] = true
	}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			b.used[o] = true
		}
		if n.GetName() != "" {
			b.used[n.GetName()] = true
		}
	}
	return b
}

// Name returns a fresh name made of Prefix, hint and a counter.
func (b *Builder) Name(hint string) string {
	for {
		b.n++
		s := fmt.Sprintf("%s%s_%d", b.Prefix, hint, b.n)
		if !b.used[s] {
			b.used[s] = true
			return s
		}
	}
}

// Reserve marks name as used (for names the caller chooses).
func (b *Builder) Reserve(name string) { b.used[name] = true }

// Used reports whether name is already a tensor or node name in the graph.
func (b *Builder) Used(name string) bool { return b.used[name] }

// NodeOut appends a node with explicit output names.
func (b *Builder) NodeOut(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	n := &onnxpb.NodeProto{
		Name:   proto.String(b.Name(op)),
		OpType: proto.String(op),
		Input:  append([]string{}, in...),
		Output: append([]string{}, out...),
	}
	for _, a := range attrs {
		if a != nil {
			n.Attribute = append(n.Attribute, a)
		}
	}
	for _, o := range out {
		b.used[o] = true
	}
	b.G.Node = append(b.G.Node, n)
	return n
}

// Node appends a node with nout fresh outputs and returns their names.
func (b *Builder) Node(op string, in []string, nout int, attrs ...*onnxpb.AttributeProto) []string {
	out := make([]string, nout)
	hint := strings.ToLower(op)
	for i := range out {
		out[i] = b.Name(hint)
	}
	b.NodeOut(op, in, out, attrs...)
	return out
}

// Op appends a node with one fresh output and returns its name.
func (b *Builder) Op(op string, in []string, attrs ...*onnxpb.AttributeProto) string {
	return b.Node(op, in, 1, attrs...)[0]
}

// Initializer adds t as an initializer under a fresh name derived from
// t's name (or hint "const") and returns that name.
func (b *Builder) Initializer(t *onnxpb.TensorProto) string {
	hint := t.GetName()
	if hint == "" {
		hint = "const"
	}
	name := hint
	if b.used[name] {
		name = b.Name(hint)
	}
	b.used[name] = true
	t = proto.Clone(t).(*onnxpb.TensorProto)
	t.Name = proto.String(name)
	b.G.Initializer = append(b.G.Initializer, t)
	return name
}

// ConstI64 adds a 1-D int64 initializer and returns its name. Equal
// values share one initializer.
func (b *Builder) ConstI64(v ...int64) string {
	key := fmt.Sprintf("i64%v", v)
	if s, ok := b.consts[key]; ok {
		return s
	}
	s := b.Initializer(TensorI64(b.Name("i64"), []int64{int64(len(v))}, v))
	b.consts[key] = s
	return s
}

// ScalarI64 adds a 0-D int64 initializer and returns its name.
func (b *Builder) ScalarI64(v int64) string {
	key := fmt.Sprintf("si64 %d", v)
	if s, ok := b.consts[key]; ok {
		return s
	}
	s := b.Initializer(TensorI64(b.Name("si64"), nil, []int64{v}))
	b.consts[key] = s
	return s
}

// Scalar returns a 0-D constant of floating element type elem holding v.
// float16 and bfloat16 constants are made as float32 and cast.
func (b *Builder) Scalar(v float64, elem int32) string {
	key := fmt.Sprintf("s%d %v", elem, v)
	if s, ok := b.consts[key]; ok {
		return s
	}
	var s string
	switch elem {
	case Float32, Float64:
		s = b.Initializer(TensorFloat(b.Name("scalar"), elem, nil, []float64{v}))
	default:
		s = b.Op("Cast", []string{b.Scalar(v, Float32)}, AttrInt("to", int64(elem)))
	}
	b.consts[key] = s
	return s
}

// ConstFloat adds a float initializer of element type elem (Float32 or
// Float64) with the given dims and values and returns its name.
func (b *Builder) ConstFloat(hint string, elem int32, dims []int64, v []float64) string {
	return b.Initializer(TensorFloat(b.Name(hint), elem, dims, v))
}

// AddInput declares a graph input.
func (b *Builder) AddInput(name string, elem int32, shape []int64, dimNames ...string) string {
	b.used[name] = true
	b.G.Input = append(b.G.Input, ValueInfo(name, elem, shape, dimNames...))
	return name
}

// AddOutput declares a graph output.
func (b *Builder) AddOutput(name string, elem int32, shape []int64, dimNames ...string) {
	b.G.Output = append(b.G.Output, ValueInfo(name, elem, shape, dimNames...))
}

// Identity appends Identity(from) with the output name to.
func (b *Builder) Identity(from, to string) {
	b.NodeOut("Identity", []string{from}, []string{to})
}

// reduceAxesAsInput reports whether op takes axes as an input at the
// builder's opset (ReduceSum from 13, the other reductions from 18).
func (b *Builder) reduceAxesAsInput(op string) bool {
	if op == "ReduceSum" {
		return b.Opset >= 13
	}
	return b.Opset >= 18
}

// Reduce appends a reduction (ReduceSum, ReduceMean, ReduceMax, ...) over
// axes (nil: all axes).
func (b *Builder) Reduce(op, x string, axes []int64, keepdims bool) string {
	kd := int64(0)
	if keepdims {
		kd = 1
	}
	if axes == nil {
		return b.Op(op, []string{x}, AttrInt("keepdims", kd))
	}
	if b.reduceAxesAsInput(op) {
		return b.Op(op, []string{x, b.ConstI64(axes...)}, AttrInt("keepdims", kd))
	}
	return b.Op(op, []string{x}, AttrInts("axes", axes...), AttrInt("keepdims", kd))
}

// ReduceSum appends ReduceSum over axes (nil: all axes).
func (b *Builder) ReduceSum(x string, axes []int64, keepdims bool) string {
	return b.Reduce("ReduceSum", x, axes, keepdims)
}

// Unsqueeze appends Unsqueeze with the given axes.
func (b *Builder) Unsqueeze(x string, axes ...int64) string {
	if b.Opset >= 13 {
		return b.Op("Unsqueeze", []string{x, b.ConstI64(axes...)})
	}
	return b.Op("Unsqueeze", []string{x}, AttrInts("axes", axes...))
}

// Squeeze appends Squeeze with the given axes.
func (b *Builder) Squeeze(x string, axes ...int64) string {
	if b.Opset >= 13 {
		return b.Op("Squeeze", []string{x, b.ConstI64(axes...)})
	}
	return b.Op("Squeeze", []string{x}, AttrInts("axes", axes...))
}

// Split appends Split of x along axis into parts of the given sizes.
func (b *Builder) Split(x string, axis int64, sizes []int64) []string {
	if b.Opset >= 13 {
		return b.Node("Split", []string{x, b.ConstI64(sizes...)}, len(sizes), AttrInt("axis", axis))
	}
	return b.Node("Split", []string{x}, len(sizes), AttrInt("axis", axis), AttrInts("split", sizes...))
}

// Slice appends Slice (input form, opset 10+).
func (b *Builder) Slice(x string, starts, ends, axes []int64) string {
	return b.Op("Slice", []string{x, b.ConstI64(starts...), b.ConstI64(ends...), b.ConstI64(axes...)})
}

// Reshape appends Reshape of x to a constant shape.
func (b *Builder) Reshape(x string, shape ...int64) string {
	return b.Op("Reshape", []string{x, b.ConstI64(shape...)})
}

// Shape appends Shape(x).
func (b *Builder) Shape(x string) string { return b.Op("Shape", []string{x}) }

// Cast appends Cast of x to elem.
func (b *Builder) Cast(x string, elem int32) string {
	return b.Op("Cast", []string{x}, AttrInt("to", int64(elem)))
}
