package quantize

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// TestFloat16Bits: the bits numpy gives for np.float32(v).astype(np.float16)
// (numpy 1.24, /usr/bin/python3), round to nearest even, the largest half,
// overflow, subnormals and their rounding ties.
func TestFloat16Bits(t *testing.T) {
	cases := []struct {
		v    float32
		want uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {0.1, 0x2e66}, {65504, 0x7bff}, {65519, 0x7bff}, {65520, 0x7c00},
		{1e-8, 0}, {5.960464477539063e-08, 1}, {2.9802322387695312e-08, 0}, {2.980232594040899e-08, 1},
		{6.103515625e-05, 0x400}, {6.097555160522461e-05, 0x3ff}, {0.33333334, 0x3555},
		{float32(math.Inf(1)), 0x7c00}, {float32(math.Copysign(0, -1)), 0x8000},
		{1.0009765625, 0x3c01}, {1.00048828125, 0x3c00}, {1.000732421875, 0x3c01},
	}
	for _, c := range cases {
		if got := Float16Bits(c.v); got != c.want {
			t.Errorf("Float16Bits(%v) = %#x; numpy %#x", c.v, got, c.want)
		}
	}
	if got := Float16Bits(float32(math.NaN())); got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
		t.Errorf("Float16Bits(NaN) = %#x; want a NaN", got)
	}
}

// TestWeightScales: per channel, scale max|w|/127 and round half to even,
// worked by hand; an all-zero channel gets scale 1.
func TestWeightScales(t *testing.T) {
	// dims [2, 3], axis 0: channel 0 = {127, −63.5, 0.5} (scale 1: the
	// ties are exact), channel 1 = 0
	w := []float64{127, -63.5, 0.5, 0, 0, 0}
	q, s := weightScales(w, []int64{2, 3}, 0)
	// −63.5 → −64 and 0.5 → 0: half to even
	if !slices.Equal(q, []int8{127, -64, 0, 0, 0, 0}) || s[0] != 1 || s[1] != 1 {
		t.Errorf("axis 0: q %v scales %v; want [127 -64 0 0 0 0] [1 1]", q, s)
	}
	// axis 1: channels are the columns {127, 0}, {−63.5, 0}, {0.5, 0},
	// each at full scale
	q, s = weightScales(w, []int64{2, 3}, 1)
	if !slices.Equal(q, []int8{127, -127, 127, 0, 0, 0}) || !slices.Equal(s, []float32{1, 0.5, float32(0.5 / 127)}) {
		t.Errorf("axis 1: q %v scales %v; want [127 -127 127 0 0 0] [1 0.5 0.5/127]", q, s)
	}
	// per tensor (axis −1): one scale, 1.27/127
	q, s = weightScales([]float64{127, -63.5}, []int64{2}, -1)
	if !slices.Equal(q, []int8{127, -64}) || !slices.Equal(s, []float32{1}) {
		t.Errorf("per tensor: q %v scales %v", q, s)
	}
}

// TestActivationParams: uint8 asymmetric parameters, worked by hand.
func TestActivationParams(t *testing.T) {
	for _, c := range []struct {
		r     Range
		scale float64
		zp    uint8
	}{
		{Range{0, 2.55}, 0.01, 0},         // ReLU output: zero point 0
		{Range{-1.275, 1.275}, 0.01, 128}, // −lo/scale = 127.5 → 128 (half to even)
		{Range{0.5, 1}, 1.0 / 255, 0},     // widened to hold 0
		{Range{-2, -1}, 2.0 / 255, 255},   // all negative: zero point at the top
		{Range{0, 0}, 1, 0},               // a constant zero tensor
	} {
		s, zp := ActivationParams(c.r)
		if math.Abs(float64(s)-c.scale) > 1e-7 || zp != c.zp {
			t.Errorf("ActivationParams(%v) = %v, %d; want %v, %d", c.r, s, zp, c.scale, c.zp)
		}
	}
}

// tinyModel builds x[N,4] → Gemm(W[3,4], b[3], transB=1) → Relu → y at
// opset.
func tinyModel(opset int64) *onnx.Model {
	m := onnx.NewModel("tiny", opset)
	b := onnx.NewBuilder(m, "")
	b.AddInput("x", onnx.Float32, []int64{-1, 4}, "N")
	w := b.Initializer(onnx.TensorF32("W", []int64{3, 4}, []float32{1, 2, 3, 4, -1, -2, -3, -4, 0.5, 0, 0, 0}))
	bias := b.Initializer(onnx.TensorF32("b", []int64{3}, []float32{0.1, 0.2, 0.3}))
	h := b.Op("Gemm", []string{"x", w, bias}, onnx.AttrInt("transB", 1))
	b.NodeOut("Relu", []string{h}, []string{"y"})
	b.AddOutput("y", onnx.Float32, []int64{-1, 3}, "N")
	return m
}

func ops(m *onnx.Model) []string {
	var out []string
	for _, n := range m.Proto.GetGraph().GetNode() {
		out = append(out, n.GetOpType())
	}
	return out
}

// TestStaticGraph: the QDQ graph Static writes for one Gemm: the
// activation's pair, int8 weights per output channel (axis 0 under
// transB), an int32 bias with scale s_x·s_w, the Gemm's output pair (it
// is not a graph output: Relu's is), and nothing left unused.
func TestStaticGraph(t *testing.T) {
	m := tinyModel(13)
	acts := Activations(m)
	if len(acts) != 2 || acts[0] != "x" {
		t.Fatalf("activations %v; want x and the Gemm's output", acts)
	}
	q, rep, err := Static(m, map[string]Range{acts[0]: {-1, 1}, acts[1]: {0, 10}})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Check(); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, op := range ops(q) {
		count[op]++
	}
	if count["QuantizeLinear"] != 2 || count["DequantizeLinear"] != 4 || count["Gemm"] != 1 || count["Relu"] != 1 {
		t.Errorf("ops %v; want 2 QuantizeLinear, 4 DequantizeLinear (x, y, W, b), Gemm, Relu", count)
	}
	if !rep.PerChannel || !slices.Equal(rep.Quantized, []string{"Gemm " + m.Proto.GetGraph().GetNode()[0].GetName()}) {
		t.Errorf("report %+v", rep)
	}
	for _, init := range q.Proto.GetGraph().GetInitializer() {
		if init.GetName() == "W" || init.GetName() == "b" {
			t.Errorf("float initializer %s left in the graph", init.GetName())
		}
		if strings.HasPrefix(init.GetName(), "W_scale") {
			v, _ := onnx.TensorValues(init)
			// max|row|/127: 4/127, 4/127, 0.5/127
			want := []float64{4.0 / 127, 4.0 / 127, 0.5 / 127}
			for i := range want {
				if math.Abs(v[i]-want[i]) > 1e-8 {
					t.Errorf("W scales %v; want %v", v, want)
					break
				}
			}
		}
	}
	if _, _, err := Static(m, map[string]Range{acts[0]: {-1, 1}}); err == nil || !strings.Contains(err.Error(), acts[1]) {
		t.Errorf("missing range: error %v; want it to name %s", err, acts[1])
	}
	// the argument is untouched
	if !slices.Equal(ops(m), []string{"Gemm", "Relu"}) {
		t.Errorf("Static changed its argument: %v", ops(m))
	}
}

// TestOpsets: below opset 13 the weights are per tensor (no axis
// attribute), below 10 there is no QuantizeLinear: exit code 2.
func TestOpsets(t *testing.T) {
	q, rep, err := WeightsOnly(tinyModel(11))
	if err != nil {
		t.Fatal(err)
	}
	if rep.PerChannel {
		t.Error("opset 11: per channel; want per tensor")
	}
	for _, n := range q.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "DequantizeLinear" && onnx.Attr(n, "axis") != nil {
			t.Error("opset 11: DequantizeLinear has an axis")
		}
	}
	if _, _, err := WeightsOnly(tinyModel(9)); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "opset 9") {
		t.Errorf("opset 9: error %v; want exit code 2 naming the opset", err)
	}
}

// TestFP16Graph: FP16 keeps the float32 signature (a Cast after the input,
// one before the output), stores the initializers of converted nodes in
// float16, and runs a kept op type in float32 between Casts with its
// float32 initializers.
func TestFP16Graph(t *testing.T) {
	m := tinyModel(13)
	q, _, err := FP16(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Check(); err != nil {
		t.Fatal(err)
	}
	g := q.Proto.GetGraph()
	if g.GetInput()[0].GetType().GetTensorType().GetElemType() != onnx.Float32 || g.GetOutput()[0].GetType().GetTensorType().GetElemType() != onnx.Float32 {
		t.Error("FP16 changed the graph's float32 input or output")
	}
	if got := ops(q); !slices.Equal(got, []string{"Cast", "Gemm", "Relu", "Cast"}) {
		t.Errorf("ops %v; want Cast Gemm Relu Cast", got)
	}
	for _, init := range g.GetInitializer() {
		if init.GetDataType() != onnx.Float16 {
			t.Errorf("initializer %s is %s; want float16", init.GetName(), onnx.ElemName(init.GetDataType()))
		}
	}
	q, rep, err := FP16(m, []string{"Gemm"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ops(q); !slices.Equal(got, []string{"Gemm", "Cast", "Relu", "Cast"}) {
		t.Errorf("Gemm kept: ops %v; want Gemm (on the float32 input) Cast Relu Cast", got)
	}
	for _, init := range q.Proto.GetGraph().GetInitializer() {
		if init.GetDataType() != onnx.Float32 {
			t.Errorf("Gemm kept: initializer %s is %s; want float32", init.GetName(), onnx.ElemName(init.GetDataType()))
		}
	}
	if !slices.Equal(rep.KeptFloat32, []string{"Gemm"}) {
		t.Errorf("kept %v", rep.KeptFloat32)
	}
}
