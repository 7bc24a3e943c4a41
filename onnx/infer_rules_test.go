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
