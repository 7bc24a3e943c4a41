package differential

import (
	"os"
	"path/filepath"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// ortGraph opens the model at path with o and returns the graph ONNX
// Runtime runs (its optimised model, with the Casts it inserts around
// operators its provider lacks in a type), read back with package onnx.
func ortGraph(t *suite.Target, path string, o runtime.Options) (*onnx.Model, error) {
	dir, err := os.MkdirTemp("", "gauntlet-ortgraph-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o.OptimizedModelPath = filepath.Join(dir, "optimized.onnx")
	s, err := runtime.Open(t.Env, path, o)
	if err != nil {
		return nil, err
	}
	s.Close()
	return onnx.Load(o.OptimizedModelPath)
}

// opCounts returns the histogram of m's operators as op → count.
func opCounts(m *onnx.Model) map[string]int {
	out := map[string]int{}
	for _, c := range m.OpHistogram() {
		out[c.Op] = c.Count
	}
	return out
}

// upcast lists the op types of m whose nodes ONNX Runtime's optimised
// graph g runs behind Casts it inserted (Cast nodes whose name is not a
// node of m) to float32: the operators its provider lacks in float16.
func upcast(m, g *onnx.Model) []string {
	own := map[string]bool{}
	ops := map[string]bool{}
	for _, n := range m.Proto.GetGraph().GetNode() {
		own[n.GetName()] = true
		ops[n.GetOpType()] = true
	}
	inserted := map[string]bool{} // outputs of inserted Casts to float32
	for _, n := range g.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "Cast" && !own[n.GetName()] && int32(onnx.AttrIntOr(n, "to", 0)) == onnx.Float32 {
			for _, o := range n.GetOutput() {
				inserted[o] = true
			}
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range g.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "Cast" || !ops[n.GetOpType()] || seen[n.GetOpType()] {
			continue
		}
		for _, in := range n.GetInput() {
			if inserted[in] {
				seen[n.GetOpType()] = true
				out = append(out, n.GetOpType())
				break
			}
		}
	}
	return out
}
