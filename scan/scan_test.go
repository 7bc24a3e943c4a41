package scan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// clean returns a small valid model: y = Relu(x·W + b), W 4×3, b 3.
func clean(opset int64) *onnx.Model {
	m := onnx.NewModel("clean", opset)
	b := onnx.NewBuilder(m, "")
	x := b.AddInput("x", onnx.Float32, []int64{-1, 4}, "batch", "")
	w := b.Initializer(onnx.TensorF32("W", []int64{4, 3}, make([]float32, 12)))
	bias := b.Initializer(onnx.TensorF32("b", []int64{3}, make([]float32, 3)))
	h := b.Op("MatMul", []string{x, w})
	h = b.Op("Add", []string{h, bias})
	b.NodeOut("Relu", []string{h}, []string{"y"})
	b.AddOutput("y", onnx.Float32, []int64{-1, 3})
	return m
}

func save(t *testing.T, m *onnx.Model, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "model.onnx")
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func rules(r *reports.ScanResult) string {
	var s []string
	for _, f := range r.Findings {
		s = append(s, f.Severity+" "+f.RuleID)
	}
	return strings.Join(s, "; ")
}

func TestCleanModel(t *testing.T) {
	p := save(t, clean(17), t.TempDir())
	r, err := File(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings on a clean model: %+v", r.Findings)
	}
	d, _ := Digest(p)
	if r.SHA256 != d || len(d) != 64 {
		t.Errorf("sha256 %q, digest %q", r.SHA256, d)
	}
}

func TestShippedModelsAreClean(t *testing.T) {
	for _, rel := range []string{"digits_cnn.onnx", "digits_cnn_softmax.onnx"} {
		r, err := File(testutil.Example(t, rel), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range r.Findings {
			if f.Severity != reports.SeverityNote {
				t.Errorf("%s: %+v", rel, f)
			}
		}
	}
}

func TestFindings(t *testing.T) {
	ext := func(loc string) func(m *onnx.Model) {
		return func(m *onnx.Model) {
			w := m.Initializer("W")
			w.FloatData, w.RawData = nil, nil
			w.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
			w.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(loc)}}
		}
	}
	tests := []struct {
		name  string
		spoil func(m *onnx.Model)
		want  string // "severity rule" of the first finding
		msg   string // part of its message
	}{
		{"absolute external data", ext("/etc/passwd"), "error onnx/external-data-escape", `"/etc/passwd", outside the model's folder`},
		{"climbing external data", ext("../../secrets.bin"), "error onnx/external-data-escape", "outside the model's folder"},
		{"missing external data", ext("weights.bin"), "error onnx/external-data-missing", `"weights.bin"`},
		{"custom domain", func(m *onnx.Model) { m.Proto.Graph.Node[2].Domain = proto.String("com.evil") }, "error onnx/custom-domain", `custom domain "com.evil"`},
		{"contrib domain", func(m *onnx.Model) { m.Proto.Graph.Node[2].Domain = proto.String("com.microsoft") }, "note onnx/contrib-domain", "com.microsoft.Relu"},
		{"opset too new", func(m *onnx.Model) { m.Proto.OpsetImport[0].Version = proto.Int64(99) }, "error onnx/opset-range", "opset 99 is outside the supported range 7..23"},
		{"opset too old", func(m *onnx.Model) { m.Proto.OpsetImport[0].Version = proto.Int64(3) }, "error onnx/opset-range", "opset 3"},
		{"negative dim", func(m *onnx.Model) { m.Initializer("b").Dims = []int64{-3} }, "error onnx/tensor-size", "negative dimension -3"},
		{"absurd shape", func(m *onnx.Model) { m.Initializer("b").Dims = []int64{1 << 40, 1 << 30} }, "error onnx/tensor-size", "overflows"},
		{"huge shape", func(m *onnx.Model) { m.Initializer("b").Dims = []int64{1 << 20, 1 << 20} }, "error onnx/tensor-size", "more than the 8589934592 limit"},
		{"raw data too short", func(m *onnx.Model) {
			b := m.Initializer("b")
			b.FloatData, b.RawData = nil, make([]byte, 8)
		}, "error onnx/tensor-size", "12 bytes expected, raw_data holds 8"},
		{"typed data mismatch", func(m *onnx.Model) {
			b := m.Initializer("b")
			b.RawData, b.FloatData = nil, make([]float32, 5)
		}, "error onnx/tensor-size", "3 elements expected, 5 stored"},
		{"duplicate output", func(m *onnx.Model) { m.Proto.Graph.Node[1].Output[0] = m.Proto.Graph.Node[0].Output[0] }, "error onnx/dangling-name", "reads"},
		{"duplicate initializer", func(m *onnx.Model) {
			m.Proto.Graph.Initializer = append(m.Proto.Graph.Initializer, onnx.TensorF32("b", []int64{3}, make([]float32, 3)))
		}, "error onnx/duplicate-name", `initializer "b" is defined twice`},
		{"dangling input", func(m *onnx.Model) { m.Proto.Graph.Node[1].Input[1] = "nowhere" }, "error onnx/dangling-name", `reads "nowhere", which nothing defines`},
		{"dangling output", func(m *onnx.Model) { m.Proto.Graph.Output[0].Name = proto.String("z") }, "error onnx/dangling-name", `graph output "z" is not defined`},
		// Node 0 (MatMul) reads node 2's output, node 2 reads node 1's,
		// node 1 node 0's: all three are on the cycle.
		{"cycle", func(m *onnx.Model) { m.Proto.Graph.Node[0].Input[0] = "y" }, "error onnx/graph-cycle", `reads "y", written by node gauntlet/Relu_5 (Relu), which depends on it in turn: 3 node(s)`},
		{"input over the element limit", func(m *onnx.Model) {
			m.Proto.Graph.Input[0] = onnx.ValueInfo("x", onnx.Float32, []int64{-1, 1 << 30, 1 << 10})
		}, "error onnx/tensor-size", "input x declares shape [? 1073741824 1024]: more than the 8589934592-element limit"},
		{"external offset not a number", func(m *onnx.Model) {
			ext("weights.bin")(m)
			w := m.Initializer("W")
			w.ExternalData = append(w.ExternalData, &onnxpb.StringStringEntryProto{Key: proto.String("offset"), Value: proto.String("0x10")})
		}, "error onnx/tensor-size", `initializer W has external data offset "0x10", not a byte count`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := clean(17)
			tt.spoil(m)
			r, err := File(save(t, m, t.TempDir()), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Findings) == 0 {
				t.Fatalf("no findings, want %s", tt.want)
			}
			f := r.Findings[0]
			if got := f.Severity + " " + f.RuleID; got != tt.want || !strings.Contains(f.Message, tt.msg) {
				t.Errorf("first finding %s %q, want %s containing %q (all: %s)", got, f.Message, tt.want, tt.msg, rules(r))
			}
			if _, ok := reports.RuleByID(f.RuleID); !ok {
				t.Errorf("rule %s is not in reports.ScanRules", f.RuleID)
			}
		})
	}
}

func TestDuplicateOutputWriter(t *testing.T) {
	// Two nodes writing one name: an SSA violation, reported as such.
	m := clean(17)
	g := m.Proto.Graph
	g.Node = append(g.Node, &onnxpb.NodeProto{OpType: proto.String("Relu"), Input: []string{"x"}, Output: []string{"y"}, Name: proto.String("dup")})
	r := Model(m, t.TempDir(), Options{})
	if !strings.Contains(rules(r), "error onnx/duplicate-name") {
		t.Errorf("findings %s lack the duplicate writer", rules(r))
	}
}

func TestExternalDataInside(t *testing.T) {
	// External data beside the model, of the right size, is fine.
	dir := t.TempDir()
	m := clean(17)
	w := m.Initializer("W")
	w.FloatData = nil
	w.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	w.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("w.bin")}}
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), make([]byte, 48), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := File(save(t, m, dir), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 0 {
		t.Errorf("findings %s", rules(r))
	}
	// A link that leads out of the folder escapes.
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, make([]byte, 48), 0o644)
	os.Remove(filepath.Join(dir, "w.bin"))
	if err := os.Symlink(outside, filepath.Join(dir, "w.bin")); err != nil {
		t.Skip(err)
	}
	r, _ = File(filepath.Join(dir, "model.onnx"), Options{})
	if len(r.Findings) == 0 || r.Findings[0].RuleID != "onnx/external-data-escape" {
		t.Errorf("a symlink out of the folder: findings %s", rules(r))
	}
}

func TestAllowList(t *testing.T) {
	p := save(t, clean(17), t.TempDir())
	d, _ := Digest(p)
	r, _ := File(p, Options{AllowSHA256: []string{strings.ToUpper(d)}})
	if len(r.Findings) != 0 {
		t.Errorf("an allowed digest: %s", rules(r))
	}
	r, _ = File(p, Options{AllowSHA256: []string{strings.Repeat("ab", 32)}})
	if rules(r) != "error model/not-allowed" {
		t.Errorf("a digest off the list: %s", rules(r))
	}
	if err := ValidateAllowList("model_allow_sha256", []string{"abc"}); err == nil || !strings.Contains(err.Error(), "model_allow_sha256[0]") {
		t.Errorf("ValidateAllowList: %v", err)
	}
}

func TestUnreadable(t *testing.T) {
	dir := t.TempDir()
	if _, err := File(filepath.Join(dir, "none.onnx"), Options{}); errs.Code(err, 0) != errs.Invalid {
		t.Errorf("missing file: %v", err)
	}
	p := filepath.Join(dir, "junk.onnx")
	os.WriteFile(p, []byte("not a model"), 0o644)
	if _, err := File(p, Options{}); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), p) {
		t.Errorf("junk file: %v", err)
	}
}

func TestCount(t *testing.T) {
	r := &reports.ScanResult{Findings: []reports.Finding{{Severity: "note"}, {Severity: "warning"}, {Severity: "error"}}}
	for sev, want := range map[string]int{"note": 3, "warning": 2, "error": 1} {
		if n, err := Count(r, sev); err != nil || n != want {
			t.Errorf("Count(%s) = %d, %v; want %d", sev, n, err, want)
		}
	}
	if _, err := Count(r, "fatal"); err == nil {
		t.Errorf("Count(fatal) = nil error")
	}
}
