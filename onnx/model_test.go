package onnx

import (
	"reflect"
	"runtime"
	"strings"
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

// TestParseForgedLength: a length prefix longer than the file is named
// (field, offset, declared and remaining bytes) and nothing of the
// declared size is allocated. The bytes: tag 0x08 (ir_version, varint) 8,
// tag 0x3a (field 7, graph, length-delimited), varint 2^31, 4 bytes.
func TestParseForgedLength(t *testing.T) {
	b := []byte{0x08, 0x08, 0x3a, 0x80, 0x80, 0x80, 0x80, 0x08, 1, 2, 3, 4}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Parse(b)
	runtime.ReadMemStats(&after)
	want := "not an ONNX model: graph at byte 2 declares 2147483648 bytes, but the file has 4 left"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse: %v, want %q", err, want)
	}
	// 1 MiB: far above the parse of 12 bytes, far below 2 GiB.
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("Parse allocated %d bytes", d)
	}
}
