package runtime

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// TestExternalDataResolvesAgainstTheModelsFolder: ONNX's external data
// locations are relative to the model file's folder (the ONNX spec,
// onnx/docs/ExternalData.md), not to the working directory. The test
// moves every initializer of testdata/mlp_logits.onnx into model/weights.bin
// (locations "weights.bin" with offsets and lengths), opens model/model.onnx
// from the parent folder, which holds no weights.bin, by a relative path
// and by an absolute one, and checks the outputs against torch's for the
// original model (testdata/expected.json, written by gen_models.py), for
// the model's session (Open) and for a graph of the same bytes
// (OpenGraph with Options.ModelDir, as the gradient graphs are opened).
func TestExternalDataResolvesAgainstTheModelsFolder(t *testing.T) {
	env := testEnv(t)
	e := loadExpected(t)
	m, err := onnx.Load(filepath.Join("testdata", "mlp_logits.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	moved := 0
	for _, init := range m.Proto.GetGraph().GetInitializer() {
		raw := init.GetRawData()
		if len(raw) == 0 && len(init.GetFloatData()) > 0 {
			for _, v := range init.GetFloatData() {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
			}
		}
		if len(raw) == 0 {
			t.Fatalf("initializer %s holds no float32 data", init.GetName())
		}
		init.ExternalData = []*onnxpb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String("weights.bin")},
			{Key: proto.String("offset"), Value: proto.String(strconv.Itoa(len(blob)))},
			{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(raw)))},
		}
		init.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
		init.RawData, init.FloatData = nil, nil
		blob = append(blob, raw...)
		moved++
	}
	if moved != 4 { // the 4→8→3 MLP: two weight matrices, two biases
		t.Fatalf("moved %d initializers, want 4", moved)
	}
	b, err := proto.Marshal(m.Proto)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sub := filepath.Join(dir, "model")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "model.onnx"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "weights.bin"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, path := range []string{filepath.Join("model", "model.onnx"), filepath.Join(sub, "model.onnx")} {
		s, err := Open(env, path, Options{IntraOpThreads: 1})
		if err != nil {
			t.Fatalf("open %s from %s: %v", path, dir, err)
		}
		r, err := s.NewRunner(e.N)
		if err != nil {
			s.Close()
			t.Fatal(err)
		}
		got, err := r.Run(context.Background(), e.X, e.N)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(e.Logits) {
			t.Fatalf("%s: %d outputs, want %d", path, len(got), len(e.Logits))
		}
		for i := range got {
			if math.Abs(float64(got[i]-e.Logits[i])) > torchTol {
				t.Fatalf("%s: output %d = %v, torch %v", path, i, got[i], e.Logits[i])
			}
		}
		r.Close()
		out := s.Info().Outputs[0].Name
		s.Close()

		// A graph built from the model keeps its external data locations
		// (the gradient graphs do): OpenGraph resolves them against
		// Options.ModelDir.
		g, err := OpenGraph(env, "external", b, []GraphTensor{{Name: "x", Type: "float32", Sample: []int64{int64(e.Features)}}},
			[]GraphTensor{{Name: out, Type: "float32", Sample: []int64{int64(e.Classes)}}}, Options{IntraOpThreads: 1, ModelDir: filepath.Dir(path)})
		if err != nil {
			t.Fatalf("graph of %s from %s: %v", path, dir, err)
		}
		gr, err := g.NewRunner(e.N)
		if err != nil {
			t.Fatal(err)
		}
		copy(gr.F32In(0), e.X)
		if err := gr.Run(context.Background(), e.N); err != nil {
			t.Fatal(err)
		}
		for i, v := range gr.Out(0)[:len(e.Logits)] {
			if math.Abs(float64(v-e.Logits[i])) > torchTol {
				t.Fatalf("graph of %s: output %d = %v, torch %v", path, i, v, e.Logits[i])
			}
		}
		gr.Close()
		g.Close()
	}
}
