package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// Adaptation records how Open changed the model in memory so that Gauntlet
// can feed it float32 samples and read float32 class scores of shape
// [N, C]. The file itself is never changed. The zero value means the model
// ran as it is.
type Adaptation struct {
	// OutputRead says which tensor the class scores are read from, and
	// how, when that is not a float32 [N, C] graph output read as it is: a
	// ZipMap's input tensor (scikit-learn and onnxmltools classifiers), or
	// a float16 or float64 output cast to float32.
	OutputRead string
	// ClassLabels are the model's own class labels in score-column order,
	// when the model declares them: a ZipMap's classlabels_int64s or
	// classlabels_strings, or, for an output read as it is, those of the
	// ai.onnx.ml classifier (LinearClassifier, SVMClassifier,
	// TreeEnsembleClassifier) computing it (skl2onnx's zipmap=False form).
	// Data labels are class labels, not column indices, for such a model
	// (see data.Dataset.MapClassLabels).
	ClassLabels ClassLabels
	// IOConversion lists the Cast nodes added at the model's boundary, one
	// sentence each.
	IOConversion []string
	// InputShape is the input shape fed, batch axis first (-1 when
	// dynamic), when the model's input has dynamic non-batch dims that
	// Options.SampleShape (the data's sample shape) fixed; nil otherwise.
	InputShape []int64
}

// Changed reports whether Open rewrote the model in memory.
func (a Adaptation) Changed() bool {
	return a.OutputRead != "" || len(a.IOConversion) > 0
}

// ClassLabels are a classifier's class labels in score-column order: class
// index i is Ints[i] or Strings[i]. At most one of the two is set.
type ClassLabels struct {
	Ints    []int64
	Strings []string
}

// Len returns the number of labels.
func (c ClassLabels) Len() int { return len(c.Ints) + len(c.Strings) }

// Names returns the labels as strings (integers in decimal).
func (c ClassLabels) Names() []string {
	if c.Strings != nil {
		return append([]string(nil), c.Strings...)
	}
	if c.Ints == nil {
		return nil
	}
	out := make([]string, len(c.Ints))
	for i, v := range c.Ints {
		out[i] = strconv.FormatInt(v, 10)
	}
	return out
}

// zipMap is a ZipMap node of the ai.onnx.ml domain whose output is a
// graph output: in is the float32 [N, C] tensor it zips with labels.
type zipMap struct {
	node   *onnxpb.NodeProto
	in     string
	out    string
	labels ClassLabels
}

// zipMaps returns the graph's ZipMap nodes whose output is a graph output,
// by that output's name.
func zipMaps(m *onnx.Model) map[string]zipMap {
	out := map[string]zipMap{}
	for _, n := range m.Proto.GetGraph().GetNode() {
		if n.GetOpType() != "ZipMap" || n.GetDomain() != "ai.onnx.ml" || len(n.GetInput()) != 1 || len(n.GetOutput()) != 1 {
			continue
		}
		if !m.IsOutput(n.GetOutput()[0]) {
			continue
		}
		z := zipMap{node: n, in: n.GetInput()[0], out: n.GetOutput()[0]}
		if a := onnx.Attr(n, "classlabels_int64s"); a != nil && len(a.GetInts()) > 0 {
			z.labels.Ints = append([]int64{}, a.GetInts()...)
		} else if a := onnx.Attr(n, "classlabels_strings"); a != nil && len(a.GetStrings()) > 0 {
			for _, s := range a.GetStrings() {
				z.labels.Strings = append(z.labels.Strings, string(s))
			}
		}
		out[z.out] = z
	}
	return out
}

// classifierOps are the ai.onnx.ml classifiers whose second output holds
// class scores in the order of their class-label attributes.
var classifierOps = map[string]bool{"LinearClassifier": true, "SVMClassifier": true, "TreeEnsembleClassifier": true}

// classifierLabels returns the class labels of the ai.onnx.ml classifier
// node whose scores output name carries, looking back through Identity,
// Cast and Normalizer (skl2onnx's zipmap=False form), or none.
func classifierLabels(m *onnx.Model, name string) ClassLabels {
	for hops := 0; hops < 8; hops++ {
		n, _ := m.Producer(name)
		if n == nil {
			return ClassLabels{}
		}
		switch {
		case n.GetDomain() == "ai.onnx.ml" && classifierOps[n.GetOpType()]:
			if len(n.GetOutput()) < 2 || n.GetOutput()[1] != name {
				return ClassLabels{}
			}
			var cl ClassLabels
			for _, a := range []string{"classlabels_ints", "classlabels_int64s"} {
				if at := onnx.Attr(n, a); at != nil && len(at.GetInts()) > 0 {
					cl.Ints = append([]int64{}, at.GetInts()...)
				}
			}
			if at := onnx.Attr(n, "classlabels_strings"); cl.Ints == nil && at != nil {
				for _, s := range at.GetStrings() {
					cl.Strings = append(cl.Strings, string(s))
				}
			}
			return cl
		case n.GetOpType() == "Identity" || n.GetOpType() == "Cast" || (n.GetOpType() == "Normalizer" && n.GetDomain() == "ai.onnx.ml"):
			if len(n.GetInput()) == 0 {
				return ClassLabels{}
			}
			name = n.GetInput()[0]
		default:
			return ClassLabels{}
		}
	}
	return ClassLabels{}
}

// describeZipMap is Adaptation.OutputRead for scores read before a ZipMap.
func describeZipMap(z zipMap) string {
	return fmt.Sprintf("probabilities (ZipMap input tensor %q of output %q), classes [%s]",
		z.in, z.out, strings.Join(z.labels.Names(), " "))
}

// rewrite returns a copy of m changed as planned in s: the ZipMap input
// exposed as a graph output, Casts at a float16 input and after a float16
// or float64 output. It returns m itself when nothing is planned.
func (s *Session) rewrite(m *onnx.Model) (*onnx.Model, error) {
	if s.plan.zip == nil && s.plan.inElem == 0 && s.plan.outElem == 0 {
		return m, nil
	}
	rm := m.Clone()
	g := rm.Proto.GetGraph()
	names := tensorNames(g)
	if z := s.plan.zip; z != nil && !rm.IsOutput(z.in) {
		g.Output = append(g.Output, onnx.ValueInfo(z.in, onnx.Float32, []int64{-1, int64(z.labels.Len())}))
	}
	if s.plan.inElem != 0 || s.plan.outElem != 0 {
		ensureDefaultOpset(rm)
	}
	if e := s.plan.inElem; e != 0 {
		x := s.input.Name
		inner := unique(names, x+"_gauntlet_"+onnx.ElemName(e))
		renameUses(g, x, inner)
		for _, vi := range g.GetValueInfo() {
			if vi.GetName() == x {
				vi.Name = proto.String(inner)
			}
		}
		for _, vi := range g.GetInput() {
			if vi.GetName() == x {
				vi.GetType().GetTensorType().ElemType = proto.Int32(onnx.Float32)
			}
		}
		cast := &onnxpb.NodeProto{OpType: proto.String("Cast"), Name: proto.String(inner + "_cast"),
			Input: []string{x}, Output: []string{inner}, Attribute: []*onnxpb.AttributeProto{onnx.AttrInt("to", int64(e))}}
		g.Node = append([]*onnxpb.NodeProto{cast}, g.Node...)
		s.adapt.IOConversion = append(s.adapt.IOConversion, fmt.Sprintf(
			"input %q: fed as float32, cast to %s (a Cast node after the new float32 input)", x, onnx.ElemName(e)))
	}
	if e := s.plan.outElem; e != 0 {
		y := s.output.Name
		inner := unique(names, y+"_gauntlet_"+onnx.ElemName(e))
		prod, _ := rm.Producer(y)
		if prod == nil {
			return nil, fmt.Errorf("output %q: no node computes it, so it cannot be cast to float32", y)
		}
		for i, o := range prod.GetOutput() {
			if o == y {
				prod.Output[i] = inner
			}
		}
		renameUses(g, y, inner)
		for _, vi := range g.GetValueInfo() {
			if vi.GetName() == y {
				vi.Name = proto.String(inner)
			}
		}
		for _, vi := range g.GetOutput() {
			if vi.GetName() == y {
				vi.GetType().GetTensorType().ElemType = proto.Int32(onnx.Float32)
			}
		}
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: proto.String("Cast"), Name: proto.String(inner + "_cast"),
			Input: []string{inner}, Output: []string{y}, Attribute: []*onnxpb.AttributeProto{onnx.AttrInt("to", int64(onnx.Float32))}})
		s.adapt.IOConversion = append(s.adapt.IOConversion, fmt.Sprintf(
			"output %q: %s, cast to float32 (a Cast node before the output)", y, onnx.ElemName(e)))
	}
	if err := rm.TopoSort(); err != nil {
		return nil, fmt.Errorf("rewritten model: %w", err)
	}
	if _, err := rm.Marshal(); err != nil {
		return nil, err
	}
	rm.Path = m.Path
	return rm, nil
}

// tensorNames returns every name the graph uses for a tensor, subgraphs
// included.
func tensorNames(g *onnxpb.GraphProto) map[string]bool {
	names := map[string]bool{}
	var walk func(g *onnxpb.GraphProto)
	walk = func(g *onnxpb.GraphProto) {
		for _, v := range g.GetInput() {
			names[v.GetName()] = true
		}
		for _, v := range g.GetOutput() {
			names[v.GetName()] = true
		}
		for _, t := range g.GetInitializer() {
			names[t.GetName()] = true
		}
		for _, n := range g.GetNode() {
			for _, s := range append(append([]string(nil), n.GetInput()...), n.GetOutput()...) {
				names[s] = true
			}
			for _, a := range n.GetAttribute() {
				if a.GetG() != nil {
					walk(a.GetG())
				}
				for _, sg := range a.GetGraphs() {
					walk(sg)
				}
			}
		}
	}
	walk(g)
	return names
}

// unique returns name, or name with a numeric suffix, so that it is not in
// names, and adds it.
func unique(names map[string]bool, name string) string {
	n := name
	for i := 2; names[n]; i++ {
		n = fmt.Sprintf("%s_%d", name, i)
	}
	names[n] = true
	return n
}

// renameUses makes every node of g that reads tensor from read to instead,
// in subgraphs too (which may read outer-scope tensors).
func renameUses(g *onnxpb.GraphProto, from, to string) {
	for _, n := range g.GetNode() {
		for i, in := range n.GetInput() {
			if in == from {
				n.Input[i] = to
			}
		}
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				renameUses(a.GetG(), from, to)
			}
			for _, sg := range a.GetGraphs() {
				renameUses(sg, from, to)
			}
		}
	}
}

// ensureDefaultOpset adds an ai.onnx opset import (13, where Cast has its
// current form) to a model that has none, so that added Cast nodes resolve.
func ensureDefaultOpset(m *onnx.Model) {
	if m.HasOpset("") {
		return
	}
	m.Proto.OpsetImport = append(m.Proto.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(""), Version: proto.Int64(13)})
}
