package autodiff_test

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// propertyMutations is how many mutated copies of each model the property
// test builds.
const propertyMutations = 40

// TestBuilderNeverPanics feeds every ONNX model in the repository (the
// generated test models, the exporter fixtures, the converter models, the
// examples) and mutated copies of each to the gradient builder and to
// Inspect: each must return an error or a graph, never panic. Mutations
// delete a node, rewire an input to another tensor, drop or scramble
// attributes, drop an initializer, make input dims dynamic or zero, and
// change the opset (seeded, so a failure names a reproducible case).
func TestBuilderNeverPanics(t *testing.T) {
	*autodiff.NoRecover = true
	defer func() { *autodiff.NoRecover = false }()
	var paths []string
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// scan/testdata/hostile holds files made not to load (scan's
		// TestHostileAllocation runs Inspect on those that do).
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "out" || d.Name() == ".ort" || p == filepath.Join("..", "scan", "testdata", "hostile")) {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".onnx") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 20 {
		t.Fatalf("found %d models in the repository, want at least 20 (the committed fixtures)", len(paths))
	}
	built := 0
	for i, p := range paths {
		m, err := onnx.Load(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if try(t, p+" (as committed)", m) {
			built++
		}
		r := rand.New(rand.NewPCG(uint64(i), 21))
		for k := 0; k < propertyMutations; k++ {
			mm := m.Clone()
			what := mutate(r, mm.Proto)
			try(t, fmt.Sprintf("%s mutation %d (%s)", p, k, what), mm)
		}
	}
	// most committed models are differentiable as they are
	if built < len(paths)/2 {
		t.Errorf("only %d of %d committed models built a gradient graph", built, len(paths))
	}
}

// try builds m's gradient graph and inspects it, failing t on a panic; it
// reports whether the graph built.
func try(t *testing.T, name string, m *onnx.Model) (ok bool) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: panic: %v\n%s", name, r, debug.Stack())
			ok = false
		}
	}()
	autodiff.Inspect(m)
	_, _, err := autodiff.BuildNamed(m, autodiff.Spec{})
	return err == nil
}

func mutate(r *rand.Rand, pb *onnxpb.ModelProto) string {
	g := pb.GetGraph()
	nodes := g.GetNode()
	switch r.IntN(7) {
	case 0:
		if len(nodes) > 1 {
			i := r.IntN(len(nodes))
			g.Node = append(nodes[:i:i], nodes[i+1:]...)
			return "delete node " + nodes[i].GetOpType()
		}
	case 1:
		var names []string
		for _, n := range nodes {
			names = append(names, n.GetOutput()...)
		}
		for _, t := range g.GetInitializer() {
			names = append(names, t.GetName())
		}
		if n := nodes[r.IntN(len(nodes))]; len(n.Input) > 0 && len(names) > 0 {
			j := r.IntN(len(n.Input))
			n.Input[j] = names[r.IntN(len(names))]
			return "rewire " + n.GetOpType()
		}
	case 2:
		n := nodes[r.IntN(len(nodes))]
		n.Attribute = nil
		return "drop attributes of " + n.GetOpType()
	case 3:
		n := nodes[r.IntN(len(nodes))]
		for _, a := range n.Attribute {
			if a.I != nil {
				a.I = proto.Int64(int64(r.IntN(9) - 3))
			}
			for k := range a.Ints {
				a.Ints[k] = int64(r.IntN(9) - 3)
			}
		}
		return "scramble attributes of " + n.GetOpType()
	case 4:
		if len(g.Initializer) > 0 {
			i := r.IntN(len(g.Initializer))
			g.Initializer = append(g.Initializer[:i:i], g.Initializer[i+1:]...)
			return "drop an initializer"
		}
	case 5:
		for _, in := range g.GetInput() {
			for _, d := range in.GetType().GetTensorType().GetShape().GetDim() {
				if r.IntN(2) == 0 {
					d.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(r.IntN(2) - 1)}
				}
			}
		}
		return "dims dynamic or zero"
	case 6:
		for _, o := range pb.GetOpsetImport() {
			if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
				o.Version = proto.Int64(int64(5 + r.IntN(20)))
			}
		}
		return "opset"
	}
	return "none"
}
