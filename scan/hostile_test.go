package scan

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// maxHostileAlloc bounds what the scan, shape inference and the gradient
// graph build may allocate, in all, on one hostile file: 64 MiB, against
// declared sizes of 4 TiB (input_dim_2e40.onnx) and 16 TiB
// (initializer_dim_2e40.onnx), and file sizes of at most 590 KB
// (nested_10000.onnx).
const maxHostileAlloc = 64 << 20

// TestHostileAllocation runs what `gauntlet scan` and `gauntlet inspect`
// do on every file of the hostile corpus and measures the bytes allocated
// (runtime.MemStats.TotalAlloc, every allocation, freed or not): every
// file is flagged or refused, and nothing is allocated in proportion to a
// declared size. cmd/gauntlet's TestHostileModels checks the binary's
// messages, exit codes and peak RSS.
func TestHostileAllocation(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "hostile", "*.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 16 {
		t.Fatalf("%d hostile files, want 16 (docs/security.md)", len(files))
	}
	var most uint64
	for _, p := range files {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r, scanErr := File(p, Options{})
		if b, err := os.ReadFile(p); err == nil {
			if m, err := onnx.Parse(b); err == nil {
				m.Infer()
				autodiff.Inspect(m)
			}
		}
		runtime.ReadMemStats(&after)
		d := after.TotalAlloc - before.TotalAlloc
		if d > maxHostileAlloc {
			t.Errorf("%s: %d bytes allocated, want at most %d", p, d, maxHostileAlloc)
		}
		most = max(most, d)
		flagged := scanErr != nil
		if r != nil {
			n, _ := Count(r, "error")
			flagged = n > 0
		}
		if !flagged {
			t.Errorf("%s: neither refused nor flagged", p)
		}
	}
	t.Logf("at most %d bytes allocated for one file", most)
}

// TestDeepNestingIsLinear: a body nested 3,000 If levels deep (the
// protobuf decoder refuses about 3,333 and more: nested_10000.onnx), whose
// innermost node reads a name nothing defines. Before the scan looked
// names up a chain of scopes and bounded body locations, it copied every
// enclosing name into each body and spelt the whole path in every
// location: 1.5 GB allocated for a 3,300-deep nest of 165 KB, 1.0 GB of
// it the locations (measured); now 3 MB.
// The finding names the innermost nodes and a depth.
func TestDeepNestingIsLinear(t *testing.T) {
	const depth = 3000
	m := clean(17)
	leaf := &onnxpb.NodeProto{Name: proto.String("leaf"), OpType: proto.String("Identity"), Input: []string{"ghost"}, Output: []string{"o0"}}
	inner := &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{leaf}, Output: []*onnxpb.ValueInfoProto{{Name: proto.String("o0")}}}
	for i := 1; i <= depth; i++ {
		out := fmt.Sprintf("o%d", i)
		n := &onnxpb.NodeProto{Name: proto.String(fmt.Sprintf("n%d", i)), OpType: proto.String("If"), Input: []string{"x"}, Output: []string{out},
			Attribute: []*onnxpb.AttributeProto{onnx.AttrGraph("then_branch", inner)}}
		if i < depth {
			inner = &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{n}, Output: []*onnxpb.ValueInfoProto{{Name: proto.String(out)}}}
			continue
		}
		m.Proto.Graph.Node = append([]*onnxpb.NodeProto{n}, m.Proto.Graph.Node...)
	}
	var r *reports.ScanResult
	n := allocated(func() { r = Model(m, t.TempDir(), Options{}) })
	if n > maxHostileAlloc {
		t.Errorf("scan of a %d-deep nest: %d bytes allocated, want at most %d", depth, n, maxHostileAlloc)
	}
	// The location restarts from "body at depth k in" whenever it passes
	// maxLoc, so it names the innermost few nodes and stays short.
	want := `node n1 (If) attribute then_branch node leaf (Identity) reads "ghost", which nothing defines`
	if len(r.Findings) != 1 || !strings.HasPrefix(r.Findings[0].Message, "body at depth ") ||
		!strings.HasSuffix(r.Findings[0].Message, want) || len(r.Findings[0].Message) > 2*maxLoc {
		t.Errorf("findings %+v, want one, starting %q, ending %q, at most %d bytes", r.Findings, "body at depth ", want, 2*maxLoc)
	}
}

// allocated returns the bytes fn allocates (runtime.MemStats.TotalAlloc).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
