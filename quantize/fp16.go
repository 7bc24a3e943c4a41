package quantize

import (
	"encoding/binary"
	"math"
	"slices"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Float16Bits returns the IEEE 754 binary16 bits nearest to f (round to
// nearest, ties to even; overflow to ±Inf, NaN kept).
func Float16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf, NaN
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127 > 15:
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e <= 0 { // subnormal half (or zero)
		if e < -10 {
			return sign
		}
		m := man | 0x800000
		shift := uint32(14 - e)
		h := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to Inf: correct
	}
	return sign | uint16(h)
}

// tensorToF16 converts a float32 tensor to float16 (raw data).
func tensorToF16(t *onnxpb.TensorProto, name string) (*onnxpb.TensorProto, error) {
	v, err := onnx.TensorValues(t)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(raw[2*i:], Float16Bits(float32(x)))
	}
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: append([]int64{}, t.GetDims()...), DataType: proto.Int32(onnx.Float16), RawData: raw}, nil
}

// FP16 returns m with its float32 tensors in float16 (package doc): the
// float32 graph inputs are cast to float16 where they are read, the float32
// graph outputs cast back from float16, float32 initializers stored in
// float16, Constant values and Cast targets of float32 made float16, and
// the nodes whose op type is in keep run in float32 between Casts (their
// float32 initializers kept as they are). Tensor types come from
// onnx.Model.Infer; a node output whose type it cannot tell is taken as
// float32 when the node has a float32 input.
func FP16(m *onnx.Model, keep []string) (*onnx.Model, *Report, error) {
	q := m.Clone()
	g := q.Proto.GetGraph()
	inf := q.Infer()
	isF32 := func(name string) bool { return name != "" && inf.Types[name].Elem == onnx.Float32 }
	keepOp := map[string]bool{}
	for _, k := range keep {
		keepOp[k] = true
	}
	rep := &Report{KeptFloat32: slices.Clone(keep)}
	sort.Strings(rep.KeptFloat32)
	b := onnx.NewBuilder(q, "gauntlet/fp16/")
	nodes := g.GetNode()
	g.Node = nil

	// half[name] is the float16 form of a float32 tensor that exists in
	// float32 (graph inputs, initializers read by kept nodes)
	half := map[string]string{}
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = t
	}
	// float32 graph inputs get their Cast where a converted node first
	// reads them (none when only kept nodes do)
	f32In := map[string]bool{}
	for _, in := range g.GetInput() {
		if isF32(in.GetName()) && inits[in.GetName()] == nil {
			f32In[in.GetName()] = true
		}
	}
	// float32 initializers read by converted nodes get a float16 copy
	var convInits []*onnxpb.TensorProto
	for _, n := range nodes {
		if keepOp[n.GetOpType()] {
			continue
		}
		for _, in := range n.GetInput() {
			t := inits[in]
			if t == nil || t.GetDataType() != onnx.Float32 || half[in] != "" {
				continue
			}
			h, err := tensorToF16(t, in)
			if err != nil {
				return nil, nil, errs.WithCode(errs.Invalid, err)
			}
			convInits = append(convInits, h)
			half[in] = ""
		}
	}
	for _, h := range convInits {
		// the float32 original keeps its name; the copy gets a fresh one
		half[h.GetName()] = b.Initializer(h)
	}
	outs := map[string]bool{}
	for _, o := range g.GetOutput() {
		outs[o.GetName()] = true
	}
	// float tensors produced by nodes: converted nodes produce them in
	// float16 under a new name (mapped in half); kept nodes in float32
	// under their own name
	floatOut := func(n *onnxpb.NodeProto, o string) bool {
		if t, ok := inf.Types[o]; ok && t.Elem != 0 {
			return t.Elem == onnx.Float32
		}
		for _, in := range n.GetInput() {
			if isF32(in) {
				return true
			}
		}
		return false
	}
	for _, n := range nodes {
		if keepOp[n.GetOpType()] {
			for i, in := range n.GetInput() {
				if isF32(in) && inits[in] == nil && !isGraphInput(g, in) {
					// produced in float16 by a converted node
					n.Input[i] = b.Op("Cast", []string{half[in]}, onnx.AttrInt("to", int64(onnx.Float32)))
				}
			}
			g.Node = append(g.Node, n)
			for _, o := range n.GetOutput() {
				if o != "" && floatOut(n, o) && !outs[o] {
					half[o] = b.Op("Cast", []string{o}, onnx.AttrInt("to", int64(onnx.Float16)))
				}
			}
			continue
		}
		for i, in := range n.GetInput() {
			if f32In[in] && half[in] == "" {
				half[in] = b.Op("Cast", []string{in}, onnx.AttrInt("to", int64(onnx.Float16)))
			}
			if h, ok := half[in]; ok && h != "" {
				n.Input[i] = h
			}
		}
		switch n.GetOpType() {
		case "Cast":
			if a := onnx.Attr(n, "to"); a != nil && int32(a.GetI()) == onnx.Float32 {
				a.I = proto.Int64(int64(onnx.Float16))
			}
		case "Constant", "ConstantOfShape":
			if a := onnx.Attr(n, "value"); a != nil && a.GetT() != nil && a.GetT().GetDataType() == onnx.Float32 {
				h, err := tensorToF16(a.GetT(), a.GetT().GetName())
				if err != nil {
					return nil, nil, errs.WithCode(errs.Invalid, err)
				}
				a.T = h
			}
		}
		g.Node = append(g.Node, n)
		for j, o := range n.GetOutput() {
			if o == "" || !floatOut(n, o) {
				continue
			}
			h := b.Name("half")
			n.Output[j] = h
			half[o] = h
			if outs[o] {
				b.NodeOut("Cast", []string{h}, []string{o}, onnx.AttrInt("to", int64(onnx.Float32)))
			}
		}
	}
	// kept nodes' float32 outputs that are graph outputs stay as they are
	return finish(q, rep)
}

func isGraphInput(g *onnxpb.GraphProto, name string) bool {
	for _, in := range g.GetInput() {
		if in.GetName() == name {
			return true
		}
	}
	return false
}
