package autodiff_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// intTensor returns an int8 or uint8 initializer (values in int32_data, as
// ONNX stores them).
func intTensor(name string, elem onnxpb.TensorProto_DataType, dims []int64, v ...int32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(elem)), Dims: dims, Int32Data: v}
}

// qdqModel is x [N, 3] → QuantizeLinear (per-tensor scale 0.5, zero point
// zp of type elem) → DequantizeLinear (per-axis scales [0.25, 0.5, 1] on
// axis 1, the same zero point per channel) → Mul by [1, 2, 3]: the output
// y whose per-sample sum is the loss.
func qdqModel(t *testing.T, elem onnxpb.TensorProto_DataType, zp int32) *onnx.Model {
	t.Helper()
	m := onnx.NewModel("qdq", 13)
	b := onnx.NewBuilder(m, "q/")
	b.AddInput("x", onnx.Float32, []int64{-1, 3}, "N")
	q := b.Op("QuantizeLinear", []string{"x", b.ConstFloat("s", onnx.Float32, nil, []float64{0.5}), b.Initializer(intTensor("zp", elem, nil, zp))})
	dq := b.Op("DequantizeLinear", []string{q, b.ConstFloat("sc", onnx.Float32, []int64{3}, []float64{0.25, 0.5, 1}), b.Initializer(intTensor("zc", elem, []int64{3}, zp, zp, zp))}, onnx.AttrInt("axis", 1))
	b.NodeOut("Mul", []string{dq, b.ConstFloat("w", onnx.Float32, []int64{3}, []float64{1, 2, 3})}, []string{"y"})
	b.AddOutput("y", onnx.Float32, []int64{-1, 3}, "N")
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestQDQStraightThroughHandWorked checks the straight-through rules on
// qdqModel against a hand-worked example, in int8 (zero point 0) and uint8
// (zero point 128), which quantise x to the same levels: the unrounded
// value x/0.5 (+128) lies in the integer range exactly when x ∈
// [−64, 63.5]. With loss Σ y = Σ_j w_j·DQ(Q(x))_j, ∂loss/∂DQ = w = [1, 2, 3];
// DequantizeLinear multiplies by its per-axis scale: [0.25, 1, 3];
// QuantizeLinear divides by 0.5 where x is in range: [0.5, 2, 6], 0
// elsewhere. Rows: [0.3, −70, 70] (−70 and 70 saturate) → [0.5, 0, 0];
// [63.5, −64.2, 1.2] (63.5 sits on the upper end, inclusive; −64.2 is
// below) → [0.5, 0, 6]. The forward losses: row 1 quantises to levels
// [1, −128, 127] (round(0.6) = 1), dequantised [0.25, −64, 127], loss
// 0.25 − 128 + 381 = 253.25; row 2 to [127, −128, 2] (round(2.4) = 2):
// [31.75, −64, 2], loss 31.75 − 128 + 6 = −90.25. Every number is a
// multiple of a power of two, exact in float32.
func TestQDQStraightThroughHandWorked(t *testing.T) {
	needORT(t)
	x := []float32{0.3, -70, 70, 63.5, -64.2, 1.2}
	wantGrad := []float32{0.5, 0, 0, 0.5, 0, 6}
	wantLoss := []float32{253.25, -90.25}
	for _, c := range []struct {
		name string
		elem onnxpb.TensorProto_DataType
		zp   int32
	}{{"int8", onnxpb.TensorProto_INT8, 0}, {"uint8", onnxpb.TensorProto_UINT8, 128}} {
		m := qdqModel(t, c.elem, c.zp)
		if got := autodiff.StraightThroughOps(m); !slices.Equal(got, []string{"DequantizeLinear", "QuantizeLinear"}) {
			t.Errorf("%s: StraightThroughOps %v", c.name, got)
		}
		if info := autodiff.Inspect(m); !info.WhiteBox || !slices.Equal(info.StraightThrough, []string{"DequantizeLinear", "QuantizeLinear"}) {
			t.Errorf("%s: Inspect %+v", c.name, info)
		}
		s, _ := gradModel(t, m, autodiff.Spec{Loss: autodiff.LossReduce, Tensor: "y", ReduceOp: "sum"}, ortexec.Options{IntraOpThreads: 1})
		out, err := s.Run([]ortexec.Tensor{{Shape: []int64{2, 3}, F32: x}})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out[0].F32, wantLoss) {
			t.Errorf("%s: loss %v, want %v", c.name, out[0].F32, wantLoss)
		}
		if !slices.Equal(out[1].F32, wantGrad) {
			t.Errorf("%s: gradient %v, want %v", c.name, out[1].F32, wantGrad)
		}
	}
}

// TestQDQRefusals: blocked quantisation and a float8 output type are
// build errors naming the node, and a float model has no straight-through
// operators.
func TestQDQRefusals(t *testing.T) {
	m := onnx.NewModel("f", 13)
	b := onnx.NewBuilder(m, "f/")
	b.AddInput("x", onnx.Float32, []int64{-1, 3}, "N")
	b.NodeOut("Relu", []string{"x"}, []string{"y"})
	b.AddOutput("y", onnx.Float32, []int64{-1, 3}, "N")
	if got := autodiff.StraightThroughOps(m); got != nil {
		t.Errorf("float model: StraightThroughOps %v, want none", got)
	}
	qm := qdqModel(t, onnxpb.TensorProto_INT8, 0)
	for _, n := range qm.Proto.GetGraph().GetNode() {
		if n.GetOpType() == "DequantizeLinear" {
			n.Attribute = append(n.Attribute, onnx.AttrInt("block_size", 2))
		}
	}
	_, err := autodiff.Build(qm, autodiff.Spec{Loss: autodiff.LossReduce, Tensor: "y", ReduceOp: "sum"})
	if err == nil || !strings.Contains(err.Error(), "DequantizeLinear") || !strings.Contains(err.Error(), "block_size") {
		t.Errorf("block_size: %v, want an error naming the node and block_size", err)
	}
}
