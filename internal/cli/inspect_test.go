package cli

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// TestInspectOpsets: a skl2onnx model imports ai.onnx 15 and ai.onnx.ml 1
// (runtime/testdata/converters/make_converters.py); without the default
// domain, inspect says so instead of printing opset 0.
func TestInspectOpsets(t *testing.T) {
	p := filepath.Join("..", "..", "runtime", "testdata", "converters", "skl_tree_int.onnx")
	var out bytes.Buffer
	if err := Inspect(&InspectOptions{Model: p}, Streams{Out: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ir        8, opset 15 (ai.onnx.ml 1), producer skl2onnx 1.16.0\n") {
		t.Errorf("inspect:\n%s", out.String())
	}
	m, err := onnx.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	m.Proto.OpsetImport = []*onnxpb.OperatorSetIdProto{{Domain: proto.String("ai.onnx.ml"), Version: proto.Int64(3)}}
	d := Describe(m)
	if d.Opset != 0 || len(d.Opsets) != 1 || d.Opsets["ai.onnx.ml"] != 3 {
		t.Errorf("ml only: opset %d opsets %v, want 0 and {ai.onnx.ml: 3}", d.Opset, d.Opsets)
	}
	if got := opsetText(d.Opsets); got != "no ai.onnx opset (ai.onnx.ml 3 only)" {
		t.Errorf("opsetText = %q", got)
	}
	if got := opsetText(map[string]int{"ai.onnx": 13}); got != "opset 13" {
		t.Errorf("opsetText = %q", got)
	}
}
