package runtime

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/errs"
)

// TestNewSessionOptions builds the options of every setting the three
// callers use (Open, OpenGraph, autodiff/ortexec) and checks that a device
// error comes back as cuda.Configure wrote it: exit code 2, naming
// runtime.device, with no "session options" prefix.
func TestNewSessionOptions(t *testing.T) {
	testEnv(t)
	so, res, err := NewSessionOptions("model m.onnx", SessionSettings{IntraOpThreads: 2, DisableOptimizations: true,
		ProfilePrefix: filepath.Join(t.TempDir(), "prof")})
	if err != nil {
		t.Fatal(err)
	}
	so.Destroy()
	if res.Provider != cuda.CPUProvider || res.Device != "cpu" {
		t.Errorf("resolved %+v, want the CPU", res)
	}
	if cuda.Probe()[1].Available {
		t.Skip("this ONNX Runtime can use CUDA; the device error needs a CPU-only build")
	}
	_, _, err = NewSessionOptions("model m.onnx", SessionSettings{Device: cuda.Device{Kind: cuda.CUDA}})
	if errs.Code(err, 0) != errs.Invalid || !strings.HasPrefix(err.Error(), "runtime.device cuda:0") {
		t.Errorf("cuda: %v, want an errs.Invalid error starting with runtime.device cuda:0", err)
	}
}
