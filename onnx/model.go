package onnx

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Model is a parsed ONNX model with the bytes it was read from.
type Model struct {
	Proto  *onnxpb.ModelProto
	Path   string
	SHA256 string
	Bytes  []byte
}

// Load reads and parses an ONNX file. The error names the file.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w", path, err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	m.Path = path
	return m, nil
}

// Parse parses ONNX bytes and checks that they hold a graph.
func Parse(b []byte) (*Model, error) {
	var pb onnxpb.ModelProto
	if err := proto.Unmarshal(b, &pb); err != nil {
		if why := overlong(b); why != "" {
			return nil, fmt.Errorf("not an ONNX model: %s (protobuf: %w)", why, err)
		}
		return nil, fmt.Errorf("not an ONNX model (protobuf: %w)", err)
	}
	if pb.GetGraph() == nil || len(pb.GetGraph().GetNode()) == 0 {
		return nil, fmt.Errorf("not an ONNX model: no graph or no nodes")
	}
	sum := sha256.Sum256(b)
	return &Model{Proto: &pb, SHA256: hex.EncodeToString(sum[:]), Bytes: b}, nil
}

// modelFields names ModelProto's length-delimited fields, for messages.
var modelFields = map[protowire.Number]string{2: "producer_name", 3: "producer_version", 4: "domain", 6: "doc_string", 7: "graph", 8: "opset_import", 14: "metadata_props", 20: "training_info", 25: "functions"}

// overlong walks the top-level fields of a ModelProto encoding and names
// the first length-delimited one that declares more bytes than the file
// has left (a forged length prefix); "" when there is none. It reads
// lengths only and allocates nothing in proportion to them.
func overlong(b []byte) string {
	for off := 0; off < len(b); {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return ""
		}
		if typ == protowire.BytesType {
			l, m := protowire.ConsumeVarint(b[off+n:])
			if m < 0 {
				return ""
			}
			if left := uint64(len(b) - off - n - m); l > left {
				name := modelFields[num]
				if name == "" {
					name = "field " + strconv.Itoa(int(num))
				}
				return fmt.Sprintf("%s at byte %d declares %d bytes, but the file has %d left", name, off, l, left)
			}
		}
		k := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if k < 0 {
			return ""
		}
		off += n + k
	}
	return ""
}

// Opset returns the opset version of the default (ai.onnx) domain, whether
// the model spells it "" or "ai.onnx", or 0 if the model imports none (a
// model of ai.onnx.ml operators only, for example: see HasOpset and
// Opsets).
func (m *Model) Opset() int64 {
	v, _ := m.OpsetOf("")
	return v
}

// OpsetOf returns the opset version the model imports for domain ("" and
// "ai.onnx" both name the default domain) and whether it imports one.
func (m *Model) OpsetOf(domain string) (int64, bool) {
	if domain == "ai.onnx" {
		domain = ""
	}
	for _, o := range m.Proto.GetOpsetImport() {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		if d == domain {
			return o.GetVersion(), true
		}
	}
	return 0, false
}

// HasOpset reports whether the model imports an opset of domain ("" and
// "ai.onnx" both name the default domain).
func (m *Model) HasOpset(domain string) bool {
	_, ok := m.OpsetOf(domain)
	return ok
}

// Opsets returns the model's opset imports by domain, the default domain
// spelt "ai.onnx".
func (m *Model) Opsets() map[string]int64 {
	out := map[string]int64{}
	for _, o := range m.Proto.GetOpsetImport() {
		d := o.GetDomain()
		if d == "" {
			d = "ai.onnx"
		}
		out[d] = o.GetVersion()
	}
	return out
}

// OpCount is how many nodes of one operator type a graph has.
type OpCount struct {
	Domain string `json:"domain,omitempty"`
	Op     string `json:"op"`
	Count  int    `json:"count"`
}

// OpHistogram counts the main graph's nodes by domain and operator type,
// sorted by descending count, then name.
func (m *Model) OpHistogram() []OpCount {
	counts := map[[2]string]int{}
	for _, n := range m.Proto.GetGraph().GetNode() {
		counts[[2]string{n.GetDomain(), n.GetOpType()}]++
	}
	out := make([]OpCount, 0, len(counts))
	for k, c := range counts {
		out = append(out, OpCount{Domain: k[0], Op: k[1], Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		if out[i].Op != out[j].Op {
			return out[i].Op < out[j].Op
		}
		return out[i].Domain < out[j].Domain
	})
	return out
}

// LastOp returns the op type of the node that produces the graph output
// named out, or "" if no node does.
func (m *Model) LastOp(out string) string {
	for _, n := range m.Proto.GetGraph().GetNode() {
		for _, o := range n.GetOutput() {
			if o == out {
				return n.GetOpType()
			}
		}
	}
	return ""
}
