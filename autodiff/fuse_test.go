package autodiff_test

import (
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// TestBatchNormFoldingMatchesPlain compares the CE gradient of res_cnn
// (six Conv→BatchNormalization pairs) with the BatchNorm scale folded
// into the Conv weights (rules_fuse.go) against the plain per-node rules,
// on the 8 images of its reference: the two differ only by float32
// rounding of the scale's product (measured: relative L2 difference 1.3e-7
// to 1.7e-7 per sample, and not 0), so the bound is 1e-5.
func TestBatchNormFoldingMatchesPlain(t *testing.T) {
	needORT(t)
	const bound = 1e-5
	dir := filepath.Join("testdata", "exporters")
	m, err := onnx.Load(filepath.Join(dir, "res_cnn_op13.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	ref := readRef(t, filepath.Join(dir, "gradients_res_cnn.npz"))
	n := int64(len(ref.y))
	in := []ortexec.Tensor{{Shape: []int64{n, 3, 32, 32}, F32: ref.x}, {Shape: []int64{n}, I64: ref.y}}
	run := func(plain bool) []float32 {
		*autodiff.DisableBNFusion = plain
		defer func() { *autodiff.DisableBNFusion = false }()
		s, _ := gradModel(t, m, autodiff.Spec{Loss: "ce"}, ortexec.Options{IntraOpThreads: 1})
		out, err := s.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		return out[1].F32
	}
	fused, plain := run(false), run(true)
	per := len(fused) / int(n)
	compared := 0
	for i := 0; i < int(n); i++ {
		if e := relL2(fused[i*per:(i+1)*per], plain[i*per:(i+1)*per], nil); e > bound {
			t.Errorf("sample %d: folded vs plain relative L2 %.3g > %g", i, e, bound)
		}
		compared++
	}
	if compared != 8 {
		t.Fatalf("compared %d samples, want 8", compared)
	}
}
