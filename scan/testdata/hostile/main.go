// Command hostile writes the hostile-model corpus of scan/testdata/hostile:
// ONNX files shaped to attack a model loader (docs/security.md lists each
// file, what it tries and what Gauntlet answers). Run it from the repository
// root with `go run ./scan/testdata/hostile`; it rewrites every file in the
// folder. The files are committed, so tests never run it.
package main

import (
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

const dir = "scan/testdata/hostile"

// base returns a valid classifier y = Softmax(x·W), x [N, 4], W [4, 3]
// float32 (zeros).
func base(opset int64) *onnx.Model {
	m := onnx.NewModel("hostile", opset)
	b := onnx.NewBuilder(m, "")
	x := b.AddInput("x", onnx.Float32, []int64{-1, 4}, "batch", "")
	w := b.Initializer(onnx.TensorF32("W", []int64{4, 3}, make([]float32, 12)))
	h := b.Op("MatMul", []string{x, w})
	b.NodeOut("Softmax", []string{h}, []string{"y"}, onnx.AttrInt("axis", 1))
	b.AddOutput("y", onnx.Float32, []int64{-1, 3})
	return m
}

// external makes initializer W read its 48 bytes from location.
func external(location string, kv ...string) *onnx.Model {
	m := base(17)
	w := m.Proto.Graph.Initializer[0]
	w.RawData = nil
	w.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	w.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(location)}}
	for i := 0; i+1 < len(kv); i += 2 {
		w.ExternalData = append(w.ExternalData, &onnxpb.StringStringEntryProto{Key: proto.String(kv[i]), Value: proto.String(kv[i+1])})
	}
	return m
}

// nested puts a node at the head of the graph whose body is depth levels
// of If and Loop bodies (alternating). The inner Ifs have no else branch,
// so that each level costs a few bytes.
func nested(depth int) *onnx.Model {
	m := base(17)
	g := m.Proto.Graph
	cond := onnx.TensorBool("cond", nil, []bool{true})
	g.Initializer = append(g.Initializer, cond)
	inner := leaf()
	for i := 1; i < depth; i++ {
		out := fmt.Sprintf("o%d", i)
		n := &onnxpb.NodeProto{Name: proto.String(fmt.Sprintf("n%d", i)), Input: []string{"cond"}, Output: []string{out}}
		if i%2 == 1 {
			n.OpType = proto.String("If")
			n.Attribute = []*onnxpb.AttributeProto{onnx.AttrGraph("then_branch", inner)}
		} else {
			n.OpType = proto.String("Loop")
			n.Input = []string{"", "cond"}
			n.Attribute = []*onnxpb.AttributeProto{onnx.AttrGraph("body", inner)}
		}
		inner = &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{n}, Output: []*onnxpb.ValueInfoProto{{Name: proto.String(out)}}}
	}
	top := &onnxpb.NodeProto{Name: proto.String("top"), OpType: proto.String("If"), Input: []string{"cond"}, Output: []string{"deep"},
		Attribute: []*onnxpb.AttributeProto{onnx.AttrGraph("then_branch", inner), onnx.AttrGraph("else_branch", leaf())}}
	g.Node = append([]*onnxpb.NodeProto{top}, g.Node...)
	return m
}

// leaf is a body that passes the outer graph's x through.
func leaf() *onnxpb.GraphProto {
	return &onnxpb.GraphProto{
		Name:   proto.String("leaf"),
		Node:   []*onnxpb.NodeProto{{Name: proto.String("leaf"), OpType: proto.String("Identity"), Input: []string{"x"}, Output: []string{"leaf_out"}}},
		Output: []*onnxpb.ValueInfoProto{onnx.ValueInfo("leaf_out", onnx.Float32, nil)},
	}
}

func save(name string, m *onnx.Model) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Proto)
	if err != nil {
		log.Fatalf("%s: %v", name, err)
	}
	write(name, b)
}

func write(name string, b []byte) {
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		log.Fatal(err)
	}
}

func main() {
	// The 48 bytes W reads, in the folder (an honest target for offsets).
	write("weights.bin", make([]byte, 48))
	// A file outside the folder that the symbolic link leads to.
	if err := os.WriteFile(filepath.Join(dir, "..", "outside.bin"), make([]byte, 48), 0o644); err != nil {
		log.Fatal(err)
	}
	link := filepath.Join(dir, "escape_link.bin")
	os.Remove(link)
	if err := os.Symlink("../outside.bin", link); err != nil {
		log.Fatal(err)
	}

	save("external_dotdot.onnx", external("../outside.bin"))
	save("external_absolute.onnx", external("/etc/passwd"))
	save("external_symlink.onnx", external("escape_link.bin"))
	save("external_huge_offset.onnx", external("weights.bin", "offset", "1099511627776", "length", "48"))
	save("external_huge_length.onnx", external("weights.bin", "offset", "8", "length", "9223372036854775800"))
	save("external_bad_length.onnx", external("weights.bin", "length", "-1e99"))

	m := base(17)
	m.Proto.OpsetImport = append(m.Proto.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("evil.ops"), Version: proto.Int64(1)})
	g := m.Proto.Graph
	g.Node[1].OpType, g.Node[1].Domain = proto.String("Exfiltrate"), proto.String("evil.ops")
	save("custom_domain.onnx", m)

	save("opset_99.onnx", base(99))

	// y = Softmax(x), x [N, 2^40]: consistent shapes, so that only the
	// declared size stands between the loader and a 4 TiB batch.
	m = onnx.NewModel("hostile", 17)
	bd := onnx.NewBuilder(m, "")
	x := bd.AddInput("x", onnx.Float32, []int64{-1, 1 << 40}, "batch", "")
	bd.NodeOut("Softmax", []string{x}, []string{"y"}, onnx.AttrInt("axis", 1))
	bd.AddOutput("y", onnx.Float32, []int64{-1, 1 << 40})
	save("input_dim_2e40.onnx", m)

	// W [4, 2^40] float32 (4 TiB declared, 48 bytes stored): the shapes
	// agree, the data does not.
	m = base(17)
	w := m.Proto.Graph.Initializer[0]
	w.Dims = []int64{4, 1 << 40}
	m.Proto.Graph.Output[0] = onnx.ValueInfo("y", onnx.Float32, []int64{-1, 1 << 40})
	save("initializer_dim_2e40.onnx", m)

	m = base(17)
	w = m.Proto.Graph.Initializer[0]
	w.RawData = w.RawData[:8]
	save("initializer_short.onnx", m)

	// Softmax reads z, which Relu writes from Softmax's own output y.
	m = base(17)
	g = m.Proto.Graph
	g.Node[1].Input = []string{"z"}
	g.Node = append(g.Node, &onnxpb.NodeProto{Name: proto.String("loop_back"), OpType: proto.String("Relu"), Input: []string{"y"}, Output: []string{"z"}})
	save("graph_cycle.onnx", m)

	m = base(17)
	m.Proto.Graph.Node[1].Input = []string{"ghost"}
	save("dangling_name.onnx", m)

	m = base(17)
	g = m.Proto.Graph
	g.Node = append(g.Node, &onnxpb.NodeProto{Name: proto.String("second_writer"), OpType: proto.String("Relu"), Input: []string{"x"}, Output: []string{"y"}})
	save("duplicate_name.onnx", m)

	save("nested_10000.onnx", nested(10000))

	// ModelProto field 7 (graph), wire type 2, declared 2 GiB long, then
	// 16 bytes.
	b := []byte{0x08, 0x08, 7<<3 | 2}
	b = binary.AppendUvarint(b, 1<<31)
	write("length_prefix_2gib.onnx", append(b, make([]byte, 16)...))
}
