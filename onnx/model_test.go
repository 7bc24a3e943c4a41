package onnx

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// TestOpsets: the default domain is "" or "ai.onnx", wherever it is listed;
// a model without it has Opset 0 and HasOpset false.
func TestOpsets(t *testing.T) {
	imp := func(dom string, v int64) *onnxpb.OperatorSetIdProto {
		return &onnxpb.OperatorSetIdProto{Domain: proto.String(dom), Version: proto.Int64(v)}
	}
	m := &Model{Proto: &onnxpb.ModelProto{OpsetImport: []*onnxpb.OperatorSetIdProto{imp("ai.onnx.ml", 3), imp("", 15)}}}
	if m.Opset() != 15 || !m.HasOpset("ai.onnx") || !m.HasOpset("") {
		t.Errorf("ml first, then '': opset %d", m.Opset())
	}
	if v, ok := m.OpsetOf("ai.onnx.ml"); v != 3 || !ok {
		t.Errorf("OpsetOf(ai.onnx.ml) = %d %v", v, ok)
	}
	if got := m.Opsets(); !reflect.DeepEqual(got, map[string]int64{"ai.onnx": 15, "ai.onnx.ml": 3}) {
		t.Errorf("Opsets = %v", got)
	}
	m.Proto.OpsetImport = []*onnxpb.OperatorSetIdProto{imp("ai.onnx", 17)}
	if m.Opset() != 17 {
		t.Errorf("domain spelt ai.onnx: opset %d", m.Opset())
	}
	m.Proto.OpsetImport = []*onnxpb.OperatorSetIdProto{imp("ai.onnx.ml", 3)}
	if m.Opset() != 0 || m.HasOpset("") {
		t.Errorf("ml only: opset %d, HasOpset %v", m.Opset(), m.HasOpset(""))
	}
}
