package cuda

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// gpuHint ends the error of an explicit GPU device that cannot be used.
const gpuHint = "use `runtime.device: auto` to fall back to the CPU, or point --ort-library at a CUDA build of ONNX Runtime (see docs/gpu.md)"

// Configure appends the execution providers for d to so and says what was
// chosen. ONNX Runtime must be initialised.
//
//   - cpu: nothing is appended; ONNX Runtime uses its CPU provider.
//   - cuda:N: the CUDA provider on device N.
//   - tensorrt:N: the TensorRT provider on device N, then the CUDA provider
//     on the same device as second choice for the nodes TensorRT does not
//     take.
//   - auto: cuda:0 when it can be appended, else the CPU, with the reason in
//     Resolved.Fallback.
//
// An explicit cuda or tensorrt device that cannot be appended is an
// errs.Invalid error that keeps ONNX Runtime's message (it usually names the
// missing libonnxruntime_providers_cuda.so).
//
// Appending only checks that the provider library loads; a provider that
// fails later, when the session is created, is reported by the caller.
func Configure(so *ort.SessionOptions, d Device) (Resolved, error) {
	r := Resolved{Requested: d.String()}
	switch d.Kind {
	case "", CPU:
		r.Provider, r.Device = CPUProvider, "cpu"
		return r, nil
	case CUDA:
		if err := appendCUDA(so, d.ID); err != nil {
			return r, errs.Invalidf("runtime.device %s: cannot use the CUDA execution provider: %w; %s", d, err, gpuHint)
		}
		r.Provider, r.Device = CUDAProvider, d.String()
		return r, nil
	case TensorRT:
		if err := appendTensorRT(so, d.ID); err != nil {
			return r, errs.Invalidf("runtime.device %s: cannot use the TensorRT execution provider: %w; %s", d, err, gpuHint)
		}
		if err := appendCUDA(so, d.ID); err != nil {
			return r, errs.Invalidf("runtime.device %s: TensorRT appended but its CUDA fallback provider is missing: %w; %s", d, err, gpuHint)
		}
		r.Provider, r.Device = TensorRTProvider, d.String()
		return r, nil
	case Auto:
		if err := appendCUDA(so, 0); err != nil {
			r.Provider, r.Device = CPUProvider, "cpu"
			r.Fallback = "CUDA execution provider unavailable: " + err.Error()
			return r, nil
		}
		r.Provider, r.Device = CUDAProvider, "cuda:0"
		return r, nil
	}
	return r, errs.Invalidf("runtime.device %q: unknown device kind (accepted: %s)", d.Kind, deviceForms)
}

func appendCUDA(so *ort.SessionOptions, id int) error {
	o, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return fmt.Errorf("create CUDA provider options: %w", err)
	}
	defer o.Destroy()
	if err := o.Update(map[string]string{"device_id": strconv.Itoa(id)}); err != nil {
		return fmt.Errorf("set CUDA device_id %d: %w", id, err)
	}
	if err := so.AppendExecutionProviderCUDA(o); err != nil {
		return fmt.Errorf("append CUDA provider: %w", err)
	}
	return nil
}

func appendTensorRT(so *ort.SessionOptions, id int) error {
	o, err := ort.NewTensorRTProviderOptions()
	if err != nil {
		return fmt.Errorf("create TensorRT provider options: %w", err)
	}
	defer o.Destroy()
	if err := o.Update(map[string]string{"device_id": strconv.Itoa(id)}); err != nil {
		return fmt.Errorf("set TensorRT device_id %d: %w", id, err)
	}
	if err := so.AppendExecutionProviderTensorRT(o); err != nil {
		return fmt.Errorf("append TensorRT provider: %w", err)
	}
	return nil
}

// ProviderStatus says whether one execution provider can be used with the
// loaded ONNX Runtime library.
type ProviderStatus struct {
	Provider  string // CPUExecutionProvider, CUDAExecutionProvider, TensorrtExecutionProvider
	Available bool
	Error     string // why it is not available; "" when it is
}

// Probe reports, for the CPU, CUDA and TensorRT providers, whether each can
// be appended to a session's options (device 0), for `gauntlet doctor`.
// ONNX Runtime must be initialised; if it is not, every provider is reported
// unavailable with that reason.
func Probe() []ProviderStatus {
	out := []ProviderStatus{
		{Provider: CPUProvider},
		{Provider: CUDAProvider},
		{Provider: TensorRTProvider},
	}
	if !ort.IsInitialized() {
		for i := range out {
			out[i].Error = "ONNX Runtime is not initialised"
		}
		return out
	}
	out[0].Available = true
	try := func(st *ProviderStatus, add func(*ort.SessionOptions, int) error) {
		so, err := ort.NewSessionOptions()
		if err != nil {
			st.Error = err.Error()
			return
		}
		defer so.Destroy()
		if err := add(so, 0); err != nil {
			st.Error = err.Error()
			return
		}
		st.Available = true
	}
	try(&out[1], appendCUDA)
	try(&out[2], appendTensorRT)
	return out
}

// GPUs lists the NVIDIA GPUs of this machine, one line each, from
// `nvidia-smi -L` when it runs, else from /proc/driver/nvidia/gpus; it is
// empty when neither shows any.
func GPUs() []string {
	if path, err := exec.LookPath("nvidia-smi"); err == nil {
		if b, err := exec.Command(path, "-L").Output(); err == nil {
			var out []string
			for _, l := range strings.Split(string(b), "\n") {
				if l = strings.TrimSpace(l); strings.HasPrefix(l, "GPU ") {
					out = append(out, l)
				}
			}
			if len(out) > 0 {
				return out
			}
		}
	}
	return procGPUs("/proc/driver/nvidia/gpus")
}

// procGPUs reads dir/<bus id>/information files and returns one line per GPU:
// "<bus id>: <Model>".
func procGPUs(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		model := ""
		if b, err := os.ReadFile(dir + "/" + e.Name() + "/information"); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "Model" {
					model = strings.TrimSpace(v)
				}
			}
		}
		if model == "" {
			model = "NVIDIA GPU"
		}
		out = append(out, e.Name()+": "+model)
	}
	return out
}
