package cuda

import (
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// Kind is an execution-provider family.
type Kind string

// Device kinds accepted by runtime.device.
const (
	CPU      Kind = "cpu"
	CUDA     Kind = "cuda"
	TensorRT Kind = "tensorrt"
	Auto     Kind = "auto"
)

// Execution-provider names as ONNX Runtime spells them.
const (
	CPUProvider      = "CPUExecutionProvider"
	CUDAProvider     = "CUDAExecutionProvider"
	TensorRTProvider = "TensorrtExecutionProvider"
)

// deviceForms lists the accepted runtime.device values, for error messages.
const deviceForms = "cpu, cuda, cuda:N, tensorrt, tensorrt:N or auto"

// Device is a parsed runtime.device value: cpu | cuda[:N] | tensorrt[:N] | auto.
// The zero value is the CPU.
type Device struct {
	Kind Kind
	ID   int
}

// String formats the device as it is written in config: "cpu", "auto",
// "cuda:N" or "tensorrt:N". The zero Device prints as "cpu".
func (d Device) String() string {
	switch d.Kind {
	case "", CPU:
		return string(CPU)
	case Auto:
		return string(Auto)
	case CUDA, TensorRT:
		return string(d.Kind) + ":" + strconv.Itoa(d.ID)
	}
	return string(d.Kind)
}

// ParseDevice parses a runtime.device value, case-insensitively and ignoring
// surrounding space. The empty string means cpu. A bad value is an
// errs.Invalid error that lists the accepted forms.
func ParseDevice(s string) (Device, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	kind, id, hasID := strings.Cut(v, ":")
	switch Kind(kind) {
	case "", CPU, Auto:
		if hasID {
			break
		}
		if kind == "" {
			return Device{Kind: CPU}, nil
		}
		return Device{Kind: Kind(kind)}, nil
	case CUDA, TensorRT:
		if !hasID {
			return Device{Kind: Kind(kind)}, nil
		}
		n, err := strconv.Atoi(id)
		if err != nil || n < 0 {
			return Device{}, errs.Invalidf("runtime.device %q: device number %q is not a non-negative integer (accepted: %s)", s, id, deviceForms)
		}
		return Device{Kind: Kind(kind), ID: n}, nil
	}
	return Device{}, errs.Invalidf("runtime.device %q: unknown device (accepted: %s)", s, deviceForms)
}

// Resolved is the outcome of execution-provider selection for one session,
// recorded in the report.
type Resolved struct {
	Requested string // as configured, e.g. "auto", "cuda:0"
	Provider  string // provider actually used: CPUExecutionProvider, CUDAExecutionProvider, TensorrtExecutionProvider
	Device    string // human-readable device, e.g. "cpu", "cuda:0"
	Fallback  string // why a GPU was not used under auto; "" when none
}
