package cuda

// Kind is an execution-provider family.
type Kind string

// Device kinds accepted by runtime.device.
const (
	CPU      Kind = "cpu"
	CUDA     Kind = "cuda"
	TensorRT Kind = "tensorrt"
	Auto     Kind = "auto"
)

// Device is a parsed runtime.device value: cpu | cuda[:N] | tensorrt[:N] | auto.
type Device struct {
	Kind Kind
	ID   int
}

// String formats the device as it is written in config.
func (d Device) String() string { panic("todo") }

// ParseDevice parses a runtime.device value.
func ParseDevice(s string) (Device, error) { panic("todo") }

// Resolved is the outcome of execution-provider selection for one session,
// recorded in the report.
type Resolved struct {
	Requested string // as configured, e.g. "auto", "cuda:0"
	Provider  string // provider actually used: CPUExecutionProvider, CUDAExecutionProvider, TensorrtExecutionProvider
	Device    string // human-readable device, e.g. "cpu", "cuda:0"
	Fallback  string // why a GPU was not used under auto; "" when none
}
