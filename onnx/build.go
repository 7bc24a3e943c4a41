package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Element types of ONNX tensors (TensorProto.DataType), re-exported so that
// callers need not import onnxpb for the common cases.
const (
	Float32 = int32(onnxpb.TensorProto_FLOAT)
	Float64 = int32(onnxpb.TensorProto_DOUBLE)
	Float16 = int32(onnxpb.TensorProto_FLOAT16)
	BFloat  = int32(onnxpb.TensorProto_BFLOAT16)
	Int64   = int32(onnxpb.TensorProto_INT64)
	Int32   = int32(onnxpb.TensorProto_INT32)
	Bool    = int32(onnxpb.TensorProto_BOOL)
)

// IsFloat reports whether elem is a floating-point element type.
func IsFloat(elem int32) bool {
	return elem == Float32 || elem == Float64 || elem == Float16 || elem == BFloat
}

// ElemName returns the NumPy-style name of an element type ("float32", ...).
func ElemName(elem int32) string {
	switch elem {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Float16:
		return "float16"
	case BFloat:
		return "bfloat16"
	case Int64:
		return "int64"
	case Int32:
		return "int32"
	case Bool:
		return "bool"
	}
	return onnxpb.TensorProto_DataType(elem).String()
}

// AttrInt returns an INT attribute.
func AttrInt(name string, v int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INT
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, I: proto.Int64(v)}
}

// AttrInts returns an INTS attribute.
func AttrInts(name string, v ...int64) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_INTS
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, Ints: append([]int64{}, v...)}
}

// AttrFloat returns a FLOAT attribute.
func AttrFloat(name string, v float32) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_FLOAT
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, F: proto.Float32(v)}
}

// AttrFloats returns a FLOATS attribute.
func AttrFloats(name string, v ...float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: v}
}

// AttrString returns a STRING attribute.
func AttrString(name, v string) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_STRING
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, S: []byte(v)}
}

// AttrTensor returns a TENSOR attribute.
func AttrTensor(name string, v *onnxpb.TensorProto) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_TENSOR
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, T: v}
}

// AttrGraph returns a GRAPH attribute (the body of Loop, If, Scan).
func AttrGraph(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	t := onnxpb.AttributeProto_GRAPH
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: &t, G: g}
}

// TensorBool returns a bool tensor with the given dims and values.
func TensorBool(name string, dims []int64, v []bool) *onnxpb.TensorProto {
	d := make([]int32, len(v))
	for i, b := range v {
		if b {
			d[i] = 1
		}
	}
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: append([]int64{}, dims...), DataType: proto.Int32(Bool), Int32Data: d}
}

// Attr returns the attribute of n called name, or nil.
func Attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// AttrIntOr returns the INT attribute name of n, or def when absent.
func AttrIntOr(n *onnxpb.NodeProto, name string, def int64) int64 {
	if a := Attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

// AttrFloatOr returns the FLOAT attribute name of n, or def when absent.
func AttrFloatOr(n *onnxpb.NodeProto, name string, def float32) float32 {
	if a := Attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

// AttrStringOr returns the STRING attribute name of n, or def when absent.
func AttrStringOr(n *onnxpb.NodeProto, name, def string) string {
	if a := Attr(n, name); a != nil {
		return string(a.GetS())
	}
	return def
}

// AttrIntsOr returns the INTS attribute name of n, or def when absent.
func AttrIntsOr(n *onnxpb.NodeProto, name string, def []int64) []int64 {
	if a := Attr(n, name); a != nil {
		return a.GetInts()
	}
	return def
}

// TensorF32 returns a float32 tensor with the given dims and values (raw data).
func TensorF32(name string, dims []int64, v []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: append([]int64{}, dims...), DataType: proto.Int32(Float32), RawData: raw}
}

// TensorF64 returns a float64 tensor with the given dims and values (raw data).
func TensorF64(name string, dims []int64, v []float64) *onnxpb.TensorProto {
	raw := make([]byte, 8*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(f))
	}
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: append([]int64{}, dims...), DataType: proto.Int32(Float64), RawData: raw}
}

// TensorFloat returns a tensor of floating element type elem (Float32 or
// Float64) holding v converted to that type.
func TensorFloat(name string, elem int32, dims []int64, v []float64) *onnxpb.TensorProto {
	if elem == Float64 {
		return TensorF64(name, dims, v)
	}
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	t := TensorF32(name, dims, f)
	if elem != Float32 {
		// float16/bfloat16: store as float32 and let a Cast convert; callers
		// use ScalarConst, which handles this.
		t.DataType = proto.Int32(Float32)
	}
	return t
}

// TensorI64 returns an int64 tensor with the given dims and values.
func TensorI64(name string, dims []int64, v []int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: append([]int64{}, dims...), DataType: proto.Int32(Int64), Int64Data: append([]int64{}, v...)}
}

// elemCount returns the element count t's dims declare; the error names a
// negative dim or a count that overflows.
func elemCount(t *onnxpb.TensorProto) (int, error) {
	n := 1
	for _, d := range t.GetDims() {
		if d < 0 || (d > 0 && n > math.MaxInt/int(d)) {
			return 0, fmt.Errorf("tensor %q: dims %v: negative or too many elements", t.GetName(), t.GetDims())
		}
		n *= int(d)
	}
	return n, nil
}

// storedCount bounds the number of values t stores (raw_data read as the
// narrowest element, typed fields as they are).
func storedCount(t *onnxpb.TensorProto) int {
	if raw := t.GetRawData(); raw != nil {
		return len(raw)
	}
	return len(t.GetFloatData()) + len(t.GetDoubleData()) + len(t.GetInt32Data()) + len(t.GetInt64Data())
}

// TensorValues decodes a float or integer tensor into float64 values. It
// fails for external data and for types it does not know.
func TensorValues(t *onnxpb.TensorProto) ([]float64, error) {
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: external data is not supported", t.GetName())
	}
	n, err := elemCount(t)
	if err != nil {
		return nil, err
	}
	raw := t.GetRawData()
	// Room for what is stored, not for what the dims declare: the count
	// check below refuses a mismatch.
	out := make([]float64, 0, min(n, storedCount(t)))
	switch t.GetDataType() {
	case Float32:
		if raw != nil {
			for i := 0; i+4 <= len(raw); i += 4 {
				out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))))
			}
		} else {
			for _, f := range t.GetFloatData() {
				out = append(out, float64(f))
			}
		}
	case Float64:
		if raw != nil {
			for i := 0; i+8 <= len(raw); i += 8 {
				out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(raw[i:])))
			}
		} else {
			out = append(out, t.GetDoubleData()...)
		}
	case Int64, Int32:
		v, err := TensorInts(t)
		if err != nil {
			return nil, err
		}
		for _, x := range v {
			out = append(out, float64(x))
		}
	default:
		return nil, fmt.Errorf("tensor %q: element type %s is not supported here", t.GetName(), ElemName(t.GetDataType()))
	}
	if len(out) != n {
		return nil, fmt.Errorf("tensor %q: %d values for dims %v", t.GetName(), len(out), t.GetDims())
	}
	return out, nil
}

// TensorInts decodes an int64 or int32 tensor into int64 values, exactly:
// not through float64, which cannot hold INT64_MAX, the end exporters write
// for open slices. It fails for external data and other types.
func TensorInts(t *onnxpb.TensorProto) ([]int64, error) {
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: external data is not supported", t.GetName())
	}
	n, err := elemCount(t)
	if err != nil {
		return nil, err
	}
	raw := t.GetRawData()
	// Room for what is stored, not for what the dims declare: the count
	// check below refuses a mismatch.
	out := make([]int64, 0, min(n, storedCount(t)))
	switch t.GetDataType() {
	case Int64:
		if raw != nil {
			for i := 0; i+8 <= len(raw); i += 8 {
				out = append(out, int64(binary.LittleEndian.Uint64(raw[i:])))
			}
		} else {
			out = append(out, t.GetInt64Data()...)
		}
	case Int32:
		if raw != nil {
			for i := 0; i+4 <= len(raw); i += 4 {
				out = append(out, int64(int32(binary.LittleEndian.Uint32(raw[i:]))))
			}
		} else {
			for _, v := range t.GetInt32Data() {
				out = append(out, int64(v))
			}
		}
	default:
		return nil, fmt.Errorf("tensor %q: want an integer tensor, have %s", t.GetName(), ElemName(t.GetDataType()))
	}
	if len(out) != n {
		return nil, fmt.Errorf("tensor %q: %d values for dims %v", t.GetName(), len(out), t.GetDims())
	}
	return out, nil
}

// ValueInfo returns a tensor ValueInfoProto. A dim of -1 is dynamic and
// gets the symbolic name from dimNames (same index) or none; a nil shape
// means the shape is unknown.
func ValueInfo(name string, elem int32, shape []int64, dimNames ...string) *onnxpb.ValueInfoProto {
	tt := &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(elem)}
	if shape != nil {
		sp := &onnxpb.TensorShapeProto{}
		for i, d := range shape {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			if d >= 0 {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
			} else if i < len(dimNames) && dimNames[i] != "" {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: dimNames[i]}
			}
			sp.Dim = append(sp.Dim, dim)
		}
		tt.Shape = sp
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: tt}},
	}
}

// ValueType is the element type and static shape of a tensor. Shape is nil
// when the rank is unknown; a dim of -1 is unknown (dynamic).
type ValueType struct {
	Elem  int32
	Shape []int64
}

// Known reports whether the rank and every dim are known.
func (v ValueType) Known() bool {
	if v.Shape == nil {
		return false
	}
	for _, d := range v.Shape {
		if d < 0 {
			return false
		}
	}
	return true
}

// Rank returns the rank, or -1 when unknown.
func (v ValueType) Rank() int {
	if v.Shape == nil {
		return -1
	}
	return len(v.Shape)
}

// TypeOf reads the element type and shape of a ValueInfoProto.
func TypeOf(vi *onnxpb.ValueInfoProto) ValueType {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return ValueType{}
	}
	vt := ValueType{Elem: tt.GetElemType()}
	if sp := tt.GetShape(); sp != nil {
		vt.Shape = make([]int64, len(sp.GetDim()))
		for i, d := range sp.GetDim() {
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
				vt.Shape[i] = d.GetDimValue()
			} else {
				vt.Shape[i] = -1
			}
		}
	}
	return vt
}

// NewModel returns an empty model with one graph, the ai.onnx opset and IR
// version 8 (ONNX 1.12+), ready for a Builder. Used to write test models in Go.
func NewModel(graphName string, opset int64) *Model {
	ir := int64(10)
	switch {
	case opset <= 13:
		ir = 7
	case opset <= 18:
		ir = 8
	case opset <= 20:
		ir = 9
	}
	return &Model{Proto: &onnxpb.ModelProto{
		IrVersion:    proto.Int64(ir),
		ProducerName: proto.String("gauntlet"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
		Graph:        &onnxpb.GraphProto{Name: proto.String(graphName)},
	}}
}
