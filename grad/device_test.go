package grad_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/grad"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// digitsCE computes the cross-entropy input gradients of the demo CNN on
// its first 64 evaluation images on device d.
func digitsCE(t *testing.T, d cuda.Device) (*grad.Result, error) {
	t.Helper()
	m, err := onnx.Load(testutil.Example(t, "digits_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.Load(data.Spec{X: "digits_eval_x.npy", Y: "digits_eval_y.npy"}, testutil.Example(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	ds.N, ds.X, ds.Y = 64, ds.X[:64*64], ds.Y[:64]
	return grad.Compute(context.Background(), m, ds, grad.Options{Device: d, Batch: 32})
}

// cudaUsable reports whether this ONNX Runtime can run on the CUDA
// provider here: a GPU and a CUDA build of the library.
func cudaUsable(t *testing.T) bool {
	t.Helper()
	if len(cuda.GPUs()) == 0 {
		return false
	}
	r, err := digitsCE(t, cuda.Device{Kind: cuda.Auto})
	return err == nil && r.Provider.Fallback == ""
}

// TestDeviceRecorded: the gradient graph runs where it is asked to and the
// result says where. With the CPU build of ONNX Runtime (the npm package
// the project tests with) an explicit CUDA device is an exit-2 error naming
// the provider, and auto falls back to the CPU and says why.
func TestDeviceRecorded(t *testing.T) {
	needORT(t)
	r, err := digitsCE(t, cuda.Device{Kind: cuda.CPU})
	if err != nil {
		t.Fatal(err)
	}
	if r.Provider.Provider != cuda.CPUProvider || r.Provider.Fallback != "" {
		t.Errorf("cpu: provider %+v", r.Provider)
	}
	if cudaUsable(t) {
		t.Skip("this ONNX Runtime can use CUDA here; TestGPUMatchesCPU covers it")
	}
	auto, err := digitsCE(t, cuda.Device{Kind: cuda.Auto})
	if err != nil {
		t.Fatal(err)
	}
	if auto.Provider.Provider != cuda.CPUProvider || auto.Provider.Fallback == "" {
		t.Errorf("auto without a usable GPU: provider %+v, want the CPU with a fallback reason", auto.Provider)
	}
	for i := range r.Grad {
		if r.Grad[i] != auto.Grad[i] {
			t.Fatalf("auto (CPU fallback) gradient %d = %v, cpu %v", i, auto.Grad[i], r.Grad[i])
		}
	}
	_, err = digitsCE(t, cuda.Device{Kind: cuda.CUDA})
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "CUDA") {
		t.Errorf("explicit cuda without a usable GPU: %v, want an exit-2 error naming CUDA", err)
	}
}

// gpuTol bounds the relative L2 difference between the CUDA and CPU
// gradients per sample: both are float32 with different kernels (cuDNN vs
// MLAS) and summation orders, about 1e-6 relative per operation.
const gpuTol = 1e-4

// TestGPUMatchesCPU runs the same gradient graph on the CUDA provider and
// on the CPU and compares them per sample. It needs an NVIDIA GPU and a
// CUDA build of ONNX Runtime named by $ONNXRUNTIME_SHARED_LIBRARY_PATH (the
// variable internal/testutil.ORTLibrary and autodiff/ortexec read; the
// gauntlet command's $GAUNTLET_ORT_LIBRARY is not read here; docs/gpu.md).
func TestGPUMatchesCPU(t *testing.T) {
	needORT(t)
	if len(cuda.GPUs()) == 0 {
		t.Skip("no NVIDIA GPU on this machine")
	}
	if !cudaUsable(t) {
		t.Skip("GPU present but this ONNX Runtime has no usable CUDA provider (CPU build?)")
	}
	cpu, err := digitsCE(t, cuda.Device{Kind: cuda.CPU})
	if err != nil {
		t.Fatal(err)
	}
	gpu, err := digitsCE(t, cuda.Device{Kind: cuda.CUDA})
	if err != nil {
		t.Fatal(err)
	}
	if gpu.Provider.Provider != cuda.CUDAProvider {
		t.Fatalf("provider %+v, want CUDA", gpu.Provider)
	}
	per := len(cpu.Grad) / 64
	for i := 0; i < 64; i++ {
		if e := relL2(gpu.Grad[i*per:(i+1)*per], cpu.Grad[i*per:(i+1)*per]); e > gpuTol {
			t.Errorf("sample %d: CUDA vs CPU relative L2 %.3g > %g", i, e, gpuTol)
		}
	}
}
