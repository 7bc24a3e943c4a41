package onnx

import (
	"testing"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
	"google.golang.org/protobuf/proto"
)

// TestInferRulesHaveShapeRules checks the rule table: every entry has a
// shape rule (a nil one would panic in every node of that operator, and
// nodeSafe would leave its outputs unknown without a word).
func TestInferRulesHaveShapeRules(t *testing.T) {
	if len(inferRules) == 0 {
		t.Fatal("inferRules is empty")
	}
	for op, r := range inferRules {
		if r.shape == nil {
			t.Errorf("%s: no shape rule", op)
		}
	}
}

// TestInferDefaultRule checks an operator without a rule (Infer's doc
// comment): every output takes the first input's element type (Int64
// here) and an unknown (nil) shape.
func TestInferDefaultRule(t *testing.T) {
	if _, ok := inferRules["NoSuchOp"]; ok {
		t.Fatal("NoSuchOp has a rule")
	}
	inf := &Inference{Types: map[string]ValueType{"x": {Elem: Int64, Shape: []int64{2, 3}}},
		Ints: map[string][]int64{}, Partial: map[string][]int64{}}
	n := &onnxpb.NodeProto{OpType: proto.String("NoSuchOp"), Input: []string{"x"}, Output: []string{"a", "b"}}
	inf.nodeSafe(n)
	for _, o := range n.GetOutput() {
		if got, ok := inf.Types[o]; !ok || got.Elem != Int64 || got.Shape != nil {
			t.Errorf("%s: %+v (set %v), want Elem %d and a nil shape", o, got, ok, Int64)
		}
	}
}

// TestInferQuantizeLinear: QuantizeLinear's output has the input's shape
// in the zero point's element type (int8 here), uint8 without a zero
// point (the ONNX default); DequantizeLinear's has the input's shape in
// the scale's element type.
func TestInferQuantizeLinear(t *testing.T) {
	inf := &Inference{Types: map[string]ValueType{
		"x": {Elem: Float32, Shape: []int64{-1, 3}}, "s": {Elem: Float32, Shape: []int64{}},
		"zp": {Elem: int32(onnxpb.TensorProto_INT8), Shape: []int64{}},
	}, Ints: map[string][]int64{}, Partial: map[string][]int64{}}
	for _, c := range []struct {
		n    *onnxpb.NodeProto
		want ValueType
	}{
		{&onnxpb.NodeProto{OpType: proto.String("QuantizeLinear"), Input: []string{"x", "s", "zp"}, Output: []string{"q"}}, ValueType{Elem: int32(onnxpb.TensorProto_INT8), Shape: []int64{-1, 3}}},
		{&onnxpb.NodeProto{OpType: proto.String("QuantizeLinear"), Input: []string{"x", "s"}, Output: []string{"u"}}, ValueType{Elem: int32(onnxpb.TensorProto_UINT8), Shape: []int64{-1, 3}}},
		{&onnxpb.NodeProto{OpType: proto.String("DequantizeLinear"), Input: []string{"q", "s", "zp"}, Output: []string{"d"}}, ValueType{Elem: Float32, Shape: []int64{-1, 3}}},
	} {
		inf.nodeSafe(c.n)
		got := inf.Types[c.n.GetOutput()[0]]
		if got.Elem != c.want.Elem || len(got.Shape) != 2 || got.Shape[0] != -1 || got.Shape[1] != 3 {
			t.Errorf("%s → %s: %+v, want %+v", c.n.GetOpType(), c.n.GetOutput()[0], got, c.want)
		}
	}
}
