package evasion

import (
	"context"
	"math"
	"testing"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// fusedGPUTol bounds |robust accuracy on CUDA − on the CPU| for the fused
// PGD: CUDA's convolutions round differently, which can flip the sign of
// near-zero gradient entries and so a few borderline samples; 0.01 is 4 of
// the 400 digits samples (a bound chosen, not yet measured on a GPU).
const fusedGPUTol = 0.01

// TestFusedPGDCUDA runs PGD through the fused loop on the CUDA provider
// (fuse: auto picks it there) and per step on the CPU, and compares the
// robust accuracies and the recorded paths. It needs an NVIDIA GPU and a
// CUDA build of ONNX Runtime ($ONNXRUNTIME_SHARED_LIBRARY_PATH,
// docs/gpu.md); it skips without one and says which is missing.
func TestFusedPGDCUDA(t *testing.T) {
	if len(cuda.GPUs()) == 0 {
		t.Skip("no NVIDIA GPU on this machine")
	}
	env, err := runtime.Init(testutil.ORTLibrary(t))
	if err != nil {
		t.Fatal(err)
	}
	gpuOpt := runtime.Options{Device: cuda.Device{Kind: cuda.CUDA}, IntraOpThreads: 1}
	probe, err := runtime.Open(env, testutil.Example(t, "digits_cnn.onnx"), gpuOpt)
	if err != nil {
		t.Skipf("GPU present but this ONNX Runtime has no usable CUDA provider (CPU build?): %v", err)
	}
	probe.Close()
	raw := map[string]any{"attacks": []any{
		map[string]any{"name": "pgd", "norm": "linf", "eps": []any{0.1}, "steps": 20, "random_start": true},
		map[string]any{"name": "pgd", "label": "pgd-l2", "norm": "l2", "eps": []any{0.5}, "steps": 20},
	}}
	var res [2]*suite.Result
	for k, opt := range []runtime.Options{suitetest.CPU(), gpuOpt} {
		tg := withSettings(t, suitetest.OpenWith(t, testutil.Example(t, "digits_cnn.onnx"), suitetest.Digits(t, "digits_cnn.onnx").Data, opt), 1, 64)
		r, err := Suite{}.Run(context.Background(), tg, decode(t, raw))
		if err != nil {
			t.Fatal(err)
		}
		res[k] = r
	}
	for k, want := range []string{"per_step", "fused_loop"} {
		if got := res[k].Details["fuse"].(map[string]any)["pgd_path"]; got != want {
			t.Fatalf("run %d: details.fuse.pgd_path %v, want %s", k, got, want)
		}
	}
	for _, key := range []string{"pgd.linf.eps=0.1.robust_accuracy", "pgd-l2.l2.eps=0.5.robust_accuracy"} {
		c, g := res[0].Metrics[key], res[1].Metrics[key]
		t.Logf("%s: CPU per step %.4f, CUDA fused %.4f", key, c, g)
		if math.Abs(c-g) > fusedGPUTol {
			t.Errorf("%s: CPU %.4f, CUDA fused %.4f (tolerance %v)", key, c, g, fusedGPUTol)
		}
	}
}
