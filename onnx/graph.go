package onnx

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Marshal serialises the model and refreshes m.Bytes and m.SHA256.
func (m *Model) Marshal() ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Proto)
	if err != nil {
		return nil, fmt.Errorf("marshal model: %w", err)
	}
	sum := sha256.Sum256(b)
	m.Bytes, m.SHA256 = b, hex.EncodeToString(sum[:])
	return b, nil
}

// Save writes the model to path (0644). The error names the file.
func (m *Model) Save(path string) error {
	b, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	m.Path = path
	return nil
}

// Clone returns a deep copy of the model (Bytes and SHA256 are not copied:
// they describe the original file).
func (m *Model) Clone() *Model {
	return &Model{Proto: proto.Clone(m.Proto).(*onnxpb.ModelProto), Path: m.Path}
}

// nodeRef names a node in errors: its index, op type and name.
func nodeRef(i int, n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return fmt.Sprintf("node %d (%s %q)", i, n.GetOpType(), n.GetName())
	}
	return fmt.Sprintf("node %d (%s)", i, n.GetOpType())
}

// Check runs structural checks on the main graph: every node has an op
// type, every node input is defined (graph input, initializer or an
// earlier node's output) before the node, no tensor is produced twice, and
// every graph output is defined. Subgraphs are not entered. The error, with
// exit code 2, names the node and the tensor.
func (m *Model) Check() error {
	g := m.Proto.GetGraph()
	if g == nil {
		return errs.Invalidf("model has no graph")
	}
	defined := map[string]string{}
	for _, v := range g.GetInput() {
		if v.GetName() == "" {
			return errs.Invalidf("graph input with an empty name")
		}
		defined[v.GetName()] = "graph input"
	}
	for _, t := range g.GetInitializer() {
		defined[t.GetName()] = "initializer"
	}
	producer := map[string]int{}
	for i, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				if _, ok := producer[o]; !ok {
					producer[o] = i
				}
			}
		}
	}
	for i, n := range g.GetNode() {
		if n.GetOpType() == "" {
			return errs.Invalidf("%s: no op type", nodeRef(i, n))
		}
		for _, in := range n.GetInput() {
			if in == "" {
				continue
			}
			if _, ok := defined[in]; ok {
				continue
			}
			if j, ok := producer[in]; ok {
				return errs.Invalidf("%s: input %q is used before %s produces it (nodes are not in topological order)", nodeRef(i, n), in, nodeRef(j, g.GetNode()[j]))
			}
			return errs.Invalidf("%s: input %q is not defined", nodeRef(i, n), in)
		}
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if what, ok := defined[o]; ok {
				return errs.Invalidf("%s: output %q is already defined (by a %s)", nodeRef(i, n), o, what)
			}
			defined[o] = nodeRef(i, n)
		}
	}
	seen := map[string]bool{}
	for _, v := range g.GetOutput() {
		if _, ok := defined[v.GetName()]; !ok {
			return errs.Invalidf("graph output %q is not defined", v.GetName())
		}
		if seen[v.GetName()] {
			return errs.Invalidf("graph output %q is listed twice", v.GetName())
		}
		seen[v.GetName()] = true
	}
	return nil
}

// TopoSort reorders the main graph's nodes into a topological order,
// keeping the original order where it is free. It fails on a cycle or an
// undefined input.
func (m *Model) TopoSort() error {
	g := m.Proto.GetGraph()
	nodes := g.GetNode()
	avail := map[string]bool{"": true}
	for _, v := range g.GetInput() {
		avail[v.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		avail[t.GetName()] = true
	}
	done := make([]bool, len(nodes))
	out := make([]*onnxpb.NodeProto, 0, len(nodes))
	for len(out) < len(nodes) {
		progress := false
		for i, n := range nodes {
			if done[i] {
				continue
			}
			ready := true
			for _, in := range n.GetInput() {
				if !avail[in] {
					ready = false
					break
				}
			}
			if !ready {
				continue
			}
			done[i], progress = true, true
			out = append(out, n)
			for _, o := range n.GetOutput() {
				avail[o] = true
			}
		}
		if !progress {
			for i, n := range nodes {
				if !done[i] {
					return errs.Invalidf("%s: inputs never become available (cycle or undefined tensor)", nodeRef(i, n))
				}
			}
		}
	}
	g.Node = out
	return nil
}

// Producer returns the node producing tensor name and its index, or nil, -1.
func (m *Model) Producer(name string) (*onnxpb.NodeProto, int) {
	for i, n := range m.Proto.GetGraph().GetNode() {
		for _, o := range n.GetOutput() {
			if o == name {
				return n, i
			}
		}
	}
	return nil, -1
}

// IsOutput reports whether name is a graph output.
func (m *Model) IsOutput(name string) bool {
	for _, v := range m.Proto.GetGraph().GetOutput() {
		if v.GetName() == name {
			return true
		}
	}
	return false
}

// Initializer returns the initializer called name, or nil.
func (m *Model) Initializer(name string) *onnxpb.TensorProto {
	for _, t := range m.Proto.GetGraph().GetInitializer() {
		if t.GetName() == name {
			return t
		}
	}
	return nil
}

// Inputs returns the graph inputs that are not initializers (the inputs a
// caller feeds).
func (m *Model) Inputs() []*onnxpb.ValueInfoProto {
	inits := map[string]bool{}
	for _, t := range m.Proto.GetGraph().GetInitializer() {
		inits[t.GetName()] = true
	}
	var out []*onnxpb.ValueInfoProto
	for _, v := range m.Proto.GetGraph().GetInput() {
		if !inits[v.GetName()] {
			out = append(out, v)
		}
	}
	return out
}

// ExposeTensor adds the intermediate tensor name as an extra graph output,
// typed from the graph's value_info or, where that is missing, from Infer.
// Exposing a tensor that is already an output does nothing. The error (exit
// code 2) says when the tensor does not exist or its type is unknown.
func (m *Model) ExposeTensor(name string) error {
	if m.IsOutput(name) {
		return nil
	}
	g := m.Proto.GetGraph()
	for _, vi := range g.GetValueInfo() {
		if vi.GetName() == name && vi.GetType().GetTensorType() != nil {
			g.Output = append(g.Output, proto.Clone(vi).(*onnxpb.ValueInfoProto))
			return nil
		}
	}
	inf := m.Infer()
	vt, ok := inf.Types[name]
	if !ok {
		return errs.Invalidf("expose tensor %q: no node, input or initializer of the graph defines it", name)
	}
	if vt.Elem == 0 {
		return errs.Invalidf("expose tensor %q: its element type could not be inferred", name)
	}
	g.Output = append(g.Output, ValueInfo(name, vt.Elem, vt.Shape))
	return nil
}

// TensorNames lists every tensor the main graph's nodes produce, in node
// order (for `inspect` and for choosing a tensor to expose).
func (m *Model) TensorNames() []string {
	var out []string
	for _, n := range m.Proto.GetGraph().GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				out = append(out, o)
			}
		}
	}
	return out
}
