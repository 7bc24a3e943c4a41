package onnx

import (
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gauntlet-ml/gauntlet/onnx/onnxpb"
)

// maxHostileAlloc bounds the bytes allocated by one call below: 1 MiB,
// far above what a graph of three nodes needs and far below the sizes the
// tensors declare (2^24 elements: 128 MiB of int64, small enough that a
// regression allocates it rather than failing to, and is measured).
const maxHostileAlloc = 1 << 20

// allocs returns the bytes fn allocates (runtime.MemStats.TotalAlloc).
func allocs(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDeclaredSizesAreNotAllocated: decoding and inference size their
// buffers by what a tensor stores, never by what its dims or a node's
// attributes declare. Before the fix, a Reshape whose shape input is
// declared [2^24] made Infer allocate and fill a shape of 2^24 dims (found
// reading Infer's allocations while a FuzzModel stall was examined; the
// stall itself was the fuzzer minimizing an input).
func TestDeclaredSizesAreNotAllocated(t *testing.T) {
	// An int64 tensor declaring 2^24 elements and storing one.
	big := &onnxpb.TensorProto{Name: proto.String("big"), DataType: proto.Int32(Int64), Dims: []int64{1 << 24}, Int64Data: []int64{7}}
	var err error
	if n := allocs(func() { _, err = TensorInts(big) }); err == nil || n > maxHostileAlloc {
		t.Errorf("TensorInts of [2^24] storing 1 value: err %v, %d bytes allocated", err, n)
	}
	if n := allocs(func() { _, err = TensorValues(big) }); err == nil || n > maxHostileAlloc {
		t.Errorf("TensorValues of [2^24] storing 1 value: err %v, %d bytes allocated", err, n)
	}
	// Dims whose product overflows int64 (2^32 · 2^32).
	over := &onnxpb.TensorProto{Name: proto.String("over"), DataType: proto.Int32(Int64), Dims: []int64{1 << 32, 1 << 32}}
	if _, err := TensorInts(over); err == nil {
		t.Error("TensorInts of [2^32 2^32] storing nothing: no error")
	}

	// y = Reshape(x, s) with s declared int64 [2^24] (values unknown), a
	// Split of x into 2^24 outputs by num_outputs with one output, and a
	// ConstantOfShape of an overflowing shape.
	m := NewModel("hostile", 18)
	b := NewBuilder(m, "")
	x := b.AddInput("x", Float32, []int64{2, 3})
	s := b.AddInput("s", Int64, []int64{1 << 24})
	b.NodeOut("Reshape", []string{x, s}, []string{"y"})
	b.NodeOut("Split", []string{x}, []string{"z"}, AttrInt("axis", 1), AttrInt("num_outputs", 1<<24))
	b.NodeOut("ConstantOfShape", []string{b.Initializer(over)}, []string{"c"}, AttrTensor("value", TensorI64("v", []int64{1}, []int64{1})))
	b.AddOutput("y", Float32, nil)
	var inf *Inference
	if n := allocs(func() { inf = m.Infer() }); n > maxHostileAlloc {
		t.Errorf("Infer: %d bytes allocated", n)
	}
	if sh := inf.Types["y"].Shape; sh != nil {
		t.Errorf("Reshape to an unknown shape of declared length 2^24: a shape of %d dims, want unknown", len(sh))
	}
	if _, ok := inf.Ints["c"]; ok {
		t.Error("ConstantOfShape of an overflowing shape was folded")
	}
}
