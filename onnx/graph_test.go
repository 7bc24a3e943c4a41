package onnx_test

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// tiny builds x[N,4] → Gemm(W[3,4]ᵀ) → Relu → Softmax, opset 13.
func tiny(t *testing.T) *onnx.Model {
	t.Helper()
	m := onnx.NewModel("tiny", 13)
	b := onnx.NewBuilder(m, "t/")
	b.AddInput("x", onnx.Float32, []int64{-1, 4}, "N")
	w := b.ConstFloat("w", onnx.Float32, []int64{3, 4}, make([]float64, 12))
	h := b.Op("Gemm", []string{"x", w}, onnx.AttrInt("transB", 1))
	r := b.Op("Relu", []string{h})
	b.NodeOut("Softmax", []string{r}, []string{"probs"}, onnx.AttrInt("axis", 1))
	b.AddOutput("probs", onnx.Float32, []int64{-1, 3}, "N")
	return m
}

func TestCheck(t *testing.T) {
	m := tiny(t)
	if err := m.Check(); err != nil {
		t.Fatalf("valid model: %v", err)
	}
	cases := []struct {
		name, want string
		edit       func(m *onnx.Model)
	}{
		{"undefined input", `input "nope" is not defined`, func(m *onnx.Model) { m.Proto.Graph.Node[1].Input[0] = "nope" }},
		{"order", "not in topological order", func(m *onnx.Model) {
			n := m.Proto.Graph.Node
			n[0], n[1] = n[1], n[0]
		}},
		{"produced twice", "already defined", func(m *onnx.Model) { m.Proto.Graph.Node[1].Output[0] = m.Proto.Graph.Node[0].Output[0] }},
		{"undefined output", `graph output "probs" is not defined`, func(m *onnx.Model) { m.Proto.Graph.Node[2].Output[0] = "other" }},
		{"no op type", "no op type", func(m *onnx.Model) { m.Proto.Graph.Node[0].OpType = proto.String("") }},
	}
	for _, c := range cases {
		m := tiny(t)
		c.edit(m)
		err := m.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
			continue
		}
		if errs.Code(err, 0) != errs.Invalid {
			t.Errorf("%s: exit code %d, want %d", c.name, errs.Code(err, 0), errs.Invalid)
		}
	}
	// TopoSort repairs the order case.
	m = tiny(t)
	n := m.Proto.Graph.Node
	n[0], n[2] = n[2], n[0]
	if err := m.TopoSort(); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(); err != nil {
		t.Fatalf("after TopoSort: %v", err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m := tiny(t)
	p := filepath.Join(t.TempDir(), "tiny.onnx")
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	m2, err := onnx.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m.Proto, m2.Proto) {
		t.Fatal("loaded model differs from the saved one")
	}
	if m2.SHA256 != m.SHA256 || m2.Opset() != 13 {
		t.Fatalf("sha %s vs %s, opset %d", m2.SHA256, m.SHA256, m2.Opset())
	}
}

func TestExposeTensor(t *testing.T) {
	m := tiny(t)
	relu := m.Proto.Graph.Node[1].Output[0]
	if err := m.ExposeTensor(relu); err != nil {
		t.Fatal(err)
	}
	if err := m.ExposeTensor(relu); err != nil { // twice: no-op
		t.Fatal(err)
	}
	outs := m.Proto.Graph.Output
	if len(outs) != 2 || outs[1].GetName() != relu {
		t.Fatalf("outputs %v", outs)
	}
	vt := onnx.TypeOf(outs[1])
	if vt.Elem != onnx.Float32 || len(vt.Shape) != 2 || vt.Shape[0] != -1 || vt.Shape[1] != 3 {
		t.Fatalf("exposed type %+v, want float32 [-1 3]", vt)
	}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	err := m.ExposeTensor("missing")
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("missing tensor: %v", err)
	}
}

// TestInferMNIST checks the static shapes inferred for mnist_cnn against
// the architecture in ../shared/fixtures/vision/README.md: valid 3×3
// convolutions and 2×2 pools take 28 → 26 → 13 → 11 → 5, and Flatten gives
// 64·5·5 = 1600 features (Linear(1600→128)).
func TestInferMNIST(t *testing.T) {
	p := testutil.Shared(t, "fixtures/vision/mnist_cnn.onnx")
	m, err := onnx.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	inf := m.Infer()
	want := map[string][]int64{
		"/conv1/Conv_output_0":      {-1, 32, 26, 26},
		"/pool1/MaxPool_output_0":   {-1, 32, 13, 13},
		"/conv2/Conv_output_0":      {-1, 64, 11, 11},
		"/pool2/MaxPool_output_0":   {-1, 64, 5, 5},
		"/flatten/Flatten_output_0": {-1, 1600},
		"/relu3/Relu_output_0":      {-1, 128},
		"logits":                    {-1, 10},
	}
	for name, s := range want {
		got := inf.Types[name]
		if got.Elem != onnx.Float32 || len(got.Shape) != len(s) {
			t.Errorf("%s: %+v, want float32 %v", name, got, s)
			continue
		}
		for i := range s {
			if got.Shape[i] != s[i] {
				t.Errorf("%s: shape %v, want %v", name, got.Shape, s)
				break
			}
		}
	}
}

func TestBuilderOpsetForms(t *testing.T) {
	for _, tc := range []struct {
		opset      int64
		axesInput  bool
		reduceMean bool
	}{{11, false, false}, {13, true, false}, {18, true, true}} {
		m := onnx.NewModel("f", tc.opset)
		b := onnx.NewBuilder(m, "")
		b.AddInput("x", onnx.Float32, []int64{2, 3})
		b.ReduceSum("x", []int64{1}, true)
		b.Reduce("ReduceMean", "x", []int64{1}, true)
		b.Unsqueeze("x", 0)
		n := m.Proto.Graph.Node
		if got := len(n[0].Input) == 2; got != tc.axesInput {
			t.Errorf("opset %d: ReduceSum axes as input = %v", tc.opset, got)
		}
		if got := len(n[1].Input) == 2; got != tc.reduceMean {
			t.Errorf("opset %d: ReduceMean axes as input = %v", tc.opset, got)
		}
		if got := len(n[2].Input) == 2; got != tc.axesInput {
			t.Errorf("opset %d: Unsqueeze axes as input = %v", tc.opset, got)
		}
		if err := m.Check(); err != nil {
			t.Errorf("opset %d: %v", tc.opset, err)
		}
	}
}

// TestInferTileConvTranspose checks the shapes inferred through the
// elementwise trigonometric ops, Tile and ConvTranspose. Expected sizes:
// Tile multiplies [2,3,5,7] by repeats [1,2,1,3]; ConvTranspose with 3×3
// kernels, stride 2, pads 1 and output_padding 1 gives
// (in−1)·2 − 2·1 + 3 + 1 (PyTorch's ConvTranspose2d formula): 5 → 10,
// 7 → 14, with the weights' 4 output channels.
func TestInferTileConvTranspose(t *testing.T) {
	m := onnx.NewModel("f", 13)
	b := onnx.NewBuilder(m, "")
	x := b.AddInput("x", onnx.Float32, []int64{2, 3, 5, 7})
	s := b.Op("Sin", []string{x})
	tile := b.Op("Tile", []string{s, b.ConstI64(1, 2, 1, 3)})
	w := b.ConstFloat("w", onnx.Float32, []int64{3, 4, 3, 3}, make([]float64, 3*4*9))
	ct := b.Op("ConvTranspose", []string{s, w}, onnx.AttrInts("strides", 2, 2),
		onnx.AttrInts("pads", 1, 1, 1, 1), onnx.AttrInts("output_padding", 1, 1))
	inf := m.Infer()
	for name, want := range map[string][]int64{s: {2, 3, 5, 7}, tile: {2, 6, 5, 21}, ct: {2, 4, 10, 14}} {
		if got := inf.Types[name].Shape; !slices.Equal(got, want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
}

// TestInferScalarConstantExpand checks the two cases of a torch.onnx
// ViT export (cls token expanded to the batch, scale by a scalar
// Constant): a 0-D Constant node has rank 0, not an unknown shape, and
// Expand to a shape whose values are unknown but whose length is known has
// that rank. Shapes by the ONNX broadcasting rules: [1,1,8] expanded to a
// 3-element shape is [?,?,8]; [?,5,8] times a scalar is [?,5,8].
func TestInferScalarConstantExpand(t *testing.T) {
	m := onnx.NewModel("f", 17)
	b := onnx.NewBuilder(m, "")
	x := b.AddInput("x", onnx.Float32, []int64{-1, 5, 8}, "N")
	sc := b.Op("Constant", nil, onnx.AttrTensor("value", onnx.TensorF32("c", nil, []float32{0.5})))
	mul := b.Op("Mul", []string{x, sc})
	cls := b.ConstFloat("cls", onnx.Float32, []int64{1, 1, 8}, make([]float64, 8))
	shp := b.Op("Shape", []string{x}) // [N, 5, 8]: N dynamic, 5 and 8 known
	ex := b.Op("Expand", []string{cls, shp})
	inf := m.Infer()
	for name, want := range map[string][]int64{sc: {}, mul: {-1, 5, 8}, ex: {-1, 5, 8}} {
		if got := inf.Types[name].Shape; got == nil || !slices.Equal(got, want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
}

// TestInferSelectionRearrangeEinsum checks the shapes inferred for the
// operators of autodiff's newer rules, by their ONNX definitions: TopK
// keeps x's shape with K on the axis; GatherElements has the indices'
// shape; DepthToSpace with blocksize 2 maps [2,8,3,5] to [2,2,6,10] and
// SpaceToDepth back; CumSum and LpNormalization keep the shape; a 1-D
// MatMul drops the vector's axis (a dot product is 0-D); Einsum takes each
// output index's size from an operand ("bhid,bhjd->bhij", an ellipsis,
// and the implicit output "ik" of "ij,jk"); and an open slice's end
// INT64_MAX is read exactly (x[..., 1::2] of 5 columns has 2); Resize
// with scales 2 and 1.5 gives floor(3·2) = 6 and floor(5·1.5) = 7.
func TestInferSelectionRearrangeEinsum(t *testing.T) {
	m := onnx.NewModel("f", 17)
	b := onnx.NewBuilder(m, "")
	x := b.AddInput("x", onnx.Float32, []int64{2, 8, 3, 5})
	tk := b.Node("TopK", []string{x, b.ConstI64(2)}, 2, onnx.AttrInt("axis", 2))
	ge := b.Op("GatherElements", []string{x, b.Initializer(onnx.TensorI64("i", []int64{2, 8, 1, 5}, make([]int64, 80)))}, onnx.AttrInt("axis", 2))
	d2s := b.Op("DepthToSpace", []string{x}, onnx.AttrInt("blocksize", 2), onnx.AttrString("mode", "CRD"))
	s2d := b.Op("SpaceToDepth", []string{d2s}, onnx.AttrInt("blocksize", 2))
	cs := b.Op("CumSum", []string{x, b.ScalarI64(1)})
	lp := b.Op("LpNormalization", []string{x})
	v := b.ConstFloat("v", onnx.Float32, []int64{5}, make([]float64, 5))
	mv := b.Op("MatMul", []string{x, v})
	dot := b.Op("MatMul", []string{v, v})
	att := b.Op("Einsum", []string{x, x}, onnx.AttrString("equation", "bhid,bhjd->bhij"))
	ell := b.Op("Einsum", []string{x, b.ConstFloat("w", onnx.Float32, []int64{5, 4}, make([]float64, 20))}, onnx.AttrString("equation", "...ij,jk->...ik"))
	imp := b.Op("Einsum", []string{b.ConstFloat("a", onnx.Float32, []int64{3, 5}, make([]float64, 15)), b.ConstFloat("c", onnx.Float32, []int64{5, 4}, make([]float64, 20))}, onnx.AttrString("equation", "ij,jk"))
	sl := b.Op("Slice", []string{x, b.ConstI64(1), b.ConstI64(math.MaxInt64), b.ConstI64(3), b.ConstI64(2)})
	rs := b.Op("Resize", []string{x, "", b.ConstFloat("s", onnx.Float32, []int64{4}, []float64{1, 1, 2, 1.5})}, onnx.AttrString("mode", "nearest"))
	inf := m.Infer()
	for name, want := range map[string][]int64{
		tk[0]: {2, 8, 2, 5}, tk[1]: {2, 8, 2, 5}, ge: {2, 8, 1, 5}, d2s: {2, 2, 6, 10}, s2d: {2, 8, 3, 5},
		cs: {2, 8, 3, 5}, lp: {2, 8, 3, 5}, mv: {2, 8, 3}, dot: {}, att: {2, 8, 3, 3}, ell: {2, 8, 3, 4},
		imp: {3, 4}, sl: {2, 8, 3, 2}, rs: {2, 8, 6, 7},
	} {
		if got := inf.Types[name].Shape; got == nil || !slices.Equal(got, want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
	if got := inf.Types[tk[1]].Elem; got != onnx.Int64 {
		t.Errorf("TopK indices: element type %d, want int64", got)
	}
}

// TestEinsumTerms checks equation parsing: an ellipsis becomes letters the
// equation does not use, right-aligned across operands of different
// ranks; the implicit output is the ellipsis letters then the letters that
// occur once, sorted; malformed equations and operand counts fail.
func TestEinsumTerms(t *testing.T) {
	terms, out, err := onnx.EinsumTerms("...ij, jk -> ...ik", []int{4, 2})
	if err != nil || !slices.Equal(terms, []string{"ABij", "jk"}) || out != "ABik" {
		t.Errorf("ellipsis: %v %q %v", terms, out, err)
	}
	terms, out, err = onnx.EinsumTerms("...i,...i", []int{3, 2})
	if err != nil || !slices.Equal(terms, []string{"ABi", "Bi"}) || out != "AB" {
		t.Errorf("implicit ellipsis: %v %q %v", terms, out, err)
	}
	if _, out, err = onnx.EinsumTerms("bij,jk", []int{3, 2}); err != nil || out != "bik" {
		t.Errorf("implicit: %q %v", out, err)
	}
	for _, bad := range []struct {
		eq    string
		ranks []int
	}{{"ij,jk->ik", []int{2}}, {"i.j->ij", []int{2}}, {"...ij->ij", []int{-1}}, {"i1->i", []int{2}}} {
		if _, _, err := onnx.EinsumTerms(bad.eq, bad.ranks); err == nil {
			t.Errorf("%q %v: no error", bad.eq, bad.ranks)
		}
	}
}

// TestTensorIntsExact: INT64_MAX, the end torch.onnx writes for an open
// slice, survives decoding (a float64 round trip would turn it into
// INT64_MIN), in raw and in int64_data form.
func TestTensorIntsExact(t *testing.T) {
	const big = math.MaxInt64
	for _, tp := range []*onnxpb.TensorProto{
		onnx.TensorI64("ends", []int64{2}, []int64{big, -big}),
		{Name: proto.String("e"), DataType: proto.Int32(onnx.Int64), Dims: []int64{2}, Int64Data: []int64{big, 3}},
	} {
		v, err := onnx.TensorInts(tp)
		if err != nil {
			t.Fatal(err)
		}
		if v[0] != big {
			t.Errorf("%s: decoded %v, want %d first", tp.GetName(), v, int64(big))
		}
	}
}

// TestInferDynamicBatchShapeValues checks the values of the shape
// sub-graphs exporters write around a dynamic batch axis, worked by hand
// for x [N, 6, 4, 4]: ShuffleNet's x.chunk(2, dim=1) takes its bounds
// from Shape(x)[1] = 6 (Slice ends (6+1)/2·1 = 3 and (6+1)/2·2 = 6), a
// channel shuffle reshapes to [N, 2, -1, 4, 4] (−1 = 6/2 = 3) and back to
// [N, -1, 4, 4] (−1 = 2·3 = 6); values that read N stay unknown.
func TestInferDynamicBatchShapeValues(t *testing.T) {
	m := onnx.NewModel("f", 13)
	b := onnx.NewBuilder(m, "")
	x := b.AddInput("x", onnx.Float32, []int64{-1, 6, 4, 4}, "N")
	shp := b.Op("Shape", []string{x})
	c := b.Op("Gather", []string{shp, b.ScalarI64(1)}, onnx.AttrInt("axis", 0))
	half := b.Op("Div", []string{b.Op("Add", []string{c, b.ScalarI64(1)}), b.ScalarI64(2)})
	end1 := b.Op("Mul", []string{half, b.ScalarI64(1)})
	end2 := b.Op("Mul", []string{half, b.ScalarI64(2)})
	n := b.Op("Gather", []string{shp, b.ScalarI64(0)}, onnx.AttrInt("axis", 0))
	un := func(v string) string { return b.Op("Unsqueeze", []string{v, b.ConstI64(0)}) }
	tgt := b.Op("Concat", []string{un(n), b.ConstI64(2, -1, 4, 4)}, onnx.AttrInt("axis", 0))
	r5 := b.Op("Reshape", []string{x, tgt})
	back := b.Op("Reshape", []string{b.Op("Transpose", []string{r5}, onnx.AttrInts("perm", 0, 2, 1, 3, 4)),
		b.Op("Concat", []string{un(n), b.ConstI64(-1, 4, 4)}, onnx.AttrInt("axis", 0))})
	inf := m.Infer()
	for name, want := range map[string][]int64{end1: {3}, end2: {6}, c: {6}} {
		if got, ok := inf.Ints[name]; !ok || !slices.Equal(got, want) {
			t.Errorf("%s: value %v (known %v), want %v", name, got, ok, want)
		}
	}
	if v, ok := inf.Ints[n]; ok {
		t.Errorf("Shape(x)[0] = %v is known; N is dynamic", v)
	}
	if p := inf.Partial[tgt]; len(p) != 5 || p[0] != onnx.Unknown || !slices.Equal(p[1:], []int64{2, -1, 4, 4}) {
		t.Errorf("reshape target: partial value %v, want [Unknown 2 -1 4 4]", p)
	}
	for name, want := range map[string][]int64{r5: {-1, 2, 3, 4, 4}, back: {-1, 6, 4, 4}} {
		if got := inf.Types[name].Shape; !slices.Equal(got, want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
}

// TestInferSwinShapeOps checks the shapes of the operators torchvision's
// Swin-T exports on its mask and padding side, worked by hand: Mod
// broadcasts like Add; Range(0, 7, 2) has ⌈7/2⌉ = 4 elements, with float
// bounds too; ScatterND keeps its data's shape.
func TestInferSwinShapeOps(t *testing.T) {
	m := onnx.NewModel("f", 16)
	b := onnx.NewBuilder(m, "")
	x := b.AddInput("x", onnx.Int64, []int64{-1, 3})
	mod := b.Op("Mod", []string{x, b.ConstI64(2, 3, 4)})
	r := b.Op("Range", []string{b.ScalarI64(0), b.ScalarI64(7), b.ScalarI64(2)})
	rf := b.Op("Range", []string{b.Scalar(0, onnx.Float32), b.Scalar(7, onnx.Float32), b.Scalar(2, onnx.Float32)})
	data := b.ConstFloat("d", onnx.Float32, []int64{5, 5}, make([]float64, 25))
	sc := b.Op("ScatterND", []string{data, b.Initializer(onnx.TensorI64("i", []int64{1, 2}, []int64{0, 0})), b.ConstFloat("u", onnx.Float32, []int64{1}, []float64{1})})
	inf := m.Infer()
	for name, want := range map[string][]int64{mod: {-1, 3}, r: {4}, rf: {4}, sc: {5, 5}} {
		if got := inf.Types[name].Shape; !slices.Equal(got, want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
}
