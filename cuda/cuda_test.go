package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/gauntlet-ml/gauntlet/errs"
)

func TestParseDevice(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Device
		str  string
	}{
		{"cpu", Device{Kind: CPU}, "cpu"},
		{"", Device{Kind: CPU}, "cpu"},
		{" CPU ", Device{Kind: CPU}, "cpu"},
		{"auto", Device{Kind: Auto}, "auto"},
		{"cuda", Device{Kind: CUDA}, "cuda:0"},
		{"cuda:0", Device{Kind: CUDA}, "cuda:0"},
		{"cuda:3", Device{Kind: CUDA, ID: 3}, "cuda:3"},
		{"tensorrt", Device{Kind: TensorRT}, "tensorrt:0"},
		{"TensorRT:1", Device{Kind: TensorRT, ID: 1}, "tensorrt:1"},
	} {
		got, err := ParseDevice(c.in)
		if err != nil || got != c.want || got.String() != c.str {
			t.Errorf("ParseDevice(%q) = %+v (%q), %v; want %+v (%q)", c.in, got, got.String(), err, c.want, c.str)
		}
	}
	for _, bad := range []string{"gpu", "cuda:-1", "cuda:x", "cpu:0", "auto:1", "cuda:", "rocm:0"} {
		_, err := ParseDevice(bad)
		if err == nil {
			t.Errorf("ParseDevice(%q) succeeded", bad)
			continue
		}
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), deviceForms) || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseDevice(%q) = %v; want an errs.Invalid error naming it and listing %s", bad, err, deviceForms)
		}
	}
	if s := (Device{}).String(); s != "cpu" {
		t.Errorf("zero Device prints %q, want cpu", s)
	}
}

func TestProcGPUs(t *testing.T) {
	dir := t.TempDir()
	if got := procGPUs(filepath.Join(dir, "none")); len(got) != 0 {
		t.Errorf("missing dir: %v", got)
	}
	// The layout of /proc/driver/nvidia/gpus/<bus id>/information.
	gpu := filepath.Join(dir, "0000:01:00.0")
	os.MkdirAll(gpu, 0o755)
	os.WriteFile(filepath.Join(gpu, "information"), []byte("Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   42\n"), 0o644)
	if got, want := procGPUs(dir), []string{"0000:01:00.0: NVIDIA H100 80GB HBM3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("procGPUs = %v, want %v", got, want)
	}
}

var initOnce sync.Once

// initORT initialises ONNX Runtime from internal/testutil.ORTLibrary
// ($ONNXRUNTIME_SHARED_LIBRARY_PATH or .ort/libonnxruntime.so.1), skipping
// when absent (failing when CI=true).
func initORT(t *testing.T) {
	t.Helper()
	p := testutil.ORTLibrary(t)
	var err error
	initOnce.Do(func() {
		ort.SetSharedLibraryPath(p)
		err = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	if err != nil || !ort.IsInitialized() {
		t.Fatalf("initialise onnx runtime from %s: %v", p, err)
	}
}

// cudaUsable says whether the loaded library can append the CUDA provider.
func cudaUsable(t *testing.T) bool {
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	return appendCUDA(so, 0) == nil
}

// TestConfigureCPUBuild runs the fallback paths against a CPU-only ONNX
// Runtime (the npm build that `make ort` fetches).
func TestConfigureCPUBuild(t *testing.T) {
	initORT(t)
	if cudaUsable(t) {
		t.Skip("this ONNX Runtime has a usable CUDA provider; see TestConfigureGPU")
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()

	r, err := Configure(so, Device{Kind: CPU})
	if err != nil || r != (Resolved{Requested: "cpu", Provider: CPUProvider, Device: "cpu"}) {
		t.Errorf("cpu: %+v, %v", r, err)
	}
	for _, d := range []Device{{Kind: CUDA}, {Kind: CUDA, ID: 1}, {Kind: TensorRT}} {
		_, err := Configure(so, d)
		if err == nil {
			t.Fatalf("%s succeeded on a CPU build", d)
		}
		msg := err.Error()
		t.Logf("%s: %v", d, err)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(msg, "runtime.device "+d.String()) || !strings.Contains(msg, "device: auto") ||
			!strings.Contains(msg, "libonnxruntime_providers_") {
			t.Errorf("%s: %v; want an errs.Invalid error naming the device and the missing provider library and suggesting auto", d, err)
		}
	}
	r, err = Configure(so, Device{Kind: Auto})
	if err != nil || r.Provider != CPUProvider || r.Device != "cpu" || r.Requested != "auto" || !strings.HasPrefix(r.Fallback, "CUDA execution provider unavailable: ") {
		t.Errorf("auto: %+v, %v; want the CPU with the fallback reason", r, err)
	}
	t.Logf("auto fallback: %s", r.Fallback)

	p := Probe()
	if len(p) != 3 || p[0] != (ProviderStatus{Provider: CPUProvider, Available: true}) ||
		p[1].Provider != CUDAProvider || p[1].Available || p[1].Error == "" ||
		p[2].Provider != TensorRTProvider || p[2].Available || p[2].Error == "" {
		t.Errorf("Probe = %+v", p)
	}
}

// TestConfigureGPU needs a CUDA build of ONNX Runtime and an NVIDIA GPU.
func TestConfigureGPU(t *testing.T) {
	if len(GPUs()) == 0 {
		t.Skip("no NVIDIA GPU on this machine")
	}
	initORT(t)
	if !cudaUsable(t) {
		t.Skip("GPU present but this ONNX Runtime has no usable CUDA provider (CPU build?)")
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	for _, d := range []Device{{Kind: CUDA}, {Kind: Auto}} {
		r, err := Configure(so, d)
		if err != nil || r.Provider != CUDAProvider || r.Device != "cuda:0" || r.Fallback != "" {
			t.Errorf("%s: %+v, %v", d, r, err)
		}
	}
	if p := Probe(); !p[1].Available {
		t.Errorf("Probe: CUDA unavailable: %+v", p[1])
	}
}

// TestGPUsMachine checks GPUs on this machine against what it can see
// itself: with neither nvidia-smi on PATH nor /proc/driver/nvidia/gpus
// there is no GPU to list (the CPU CI runner); otherwise every entry is
// nvidia-smi -L's "GPU <n>: <model> (UUID: ...)" or procGPUs'
// "<bus id>: <model>", and without nvidia-smi the list is exactly one entry
// per folder of /proc/driver/nvidia/gpus.
func TestGPUsMachine(t *testing.T) {
	got := GPUs()
	t.Logf("GPUs: %q", got)
	_, smiErr := exec.LookPath("nvidia-smi")
	procs, procErr := os.ReadDir("/proc/driver/nvidia/gpus")
	if smiErr != nil && procErr != nil {
		if len(got) != 0 {
			t.Errorf("GPUs = %q with neither nvidia-smi nor /proc/driver/nvidia/gpus", got)
		}
		return
	}
	for _, g := range got {
		if _, model, ok := strings.Cut(g, ": "); !ok || model == "" {
			t.Errorf("GPUs entry %q is not \"<id>: <model>\"", g)
		}
	}
	if smiErr != nil && len(got) != len(procs) {
		t.Errorf("GPUs = %q, /proc/driver/nvidia/gpus has %d entries", got, len(procs))
	}
}
