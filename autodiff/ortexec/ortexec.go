package ortexec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/gauntlet-ml/gauntlet/cuda"
	gruntime "github.com/gauntlet-ml/gauntlet/runtime"
)

// EnvLibrary is the environment variable naming the ONNX Runtime library.
const EnvLibrary = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// ErrNoLibrary means no ONNX Runtime shared library was found.
var ErrNoLibrary = errors.New("onnx runtime library not found")

// FindLibrary returns the ONNX Runtime library path: $ONNXRUNTIME_SHARED_LIBRARY_PATH
// if set, else .ort/libonnxruntime.so.1 in the module root (searched upward
// from the working directory). The error wraps ErrNoLibrary.
func FindLibrary() (string, error) {
	if p := os.Getenv(EnvLibrary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: $%s=%s: %v", ErrNoLibrary, EnvLibrary, p, err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoLibrary, err)
	}
	for {
		p := filepath.Join(dir, ".ort", "libonnxruntime.so.1")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return "", fmt.Errorf("%w: $%s is unset and %s does not exist", ErrNoLibrary, EnvLibrary, p)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: $%s is unset and no .ort/ folder was found", ErrNoLibrary, EnvLibrary)
		}
		dir = parent
	}
}

var (
	initOnce sync.Once
	initErr  error
	initPath string
)

// Init initialises the ONNX Runtime environment once per process from
// libPath ("" means FindLibrary) through runtime.Init, or adopts an
// environment that is already initialised. Later calls return the first
// result.
func Init(libPath string) error {
	initOnce.Do(func() {
		if libPath == "" {
			libPath, initErr = FindLibrary()
			if initErr != nil {
				return
			}
		}
		initPath = libPath
		if ort.IsInitialized() {
			return
		}
		// runtime.Init owns the process-wide environment, so that the
		// CLI's other sessions and these share one initialisation.
		if _, err := gruntime.Init(libPath); err != nil {
			initErr = fmt.Errorf("initialise onnx runtime: %w", err)
		}
	})
	return initErr
}

// Tensor is a host tensor of one of three element types: exactly one of
// F32, F64 and I64 is set.
type Tensor struct {
	Shape []int64
	F32   []float32
	F64   []float64
	I64   []int64
}

// Len returns the number of elements the shape holds.
func (t Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= int(d)
	}
	return n
}

// Options configure a Session.
type Options struct {
	// IntraOpThreads is ORT's intra-op thread count (0: ORT's default).
	IntraOpThreads int
	// DisableOptimizations turns ORT's graph optimisations off (for
	// finite-difference checks that must see the graph as written).
	DisableOptimizations bool
	// ProfilePrefix, when set, turns on ORT's profiler; the JSON trace is
	// written to a file starting with this prefix when the session closes.
	ProfilePrefix string
	// Device is the execution provider to ask for (the zero value: CPU),
	// configured as runtime sessions are (cuda.Configure): an explicit GPU
	// that cannot be used is an error, auto falls back to the CPU and the
	// session's Provider says so.
	Device cuda.Device
}

// Session is one in-memory model loaded in ONNX Runtime.
type Session struct {
	s        *ort.DynamicAdvancedSession
	inputs   []string
	outputs  []string
	provider cuda.Resolved
}

// Provider is the execution provider the session runs on, with the
// reason for a fallback under device auto.
func (s *Session) Provider() cuda.Resolved { return s.provider }

// NewSession loads the serialised model with the given input and output
// names. Init must have succeeded.
func NewSession(model []byte, inputs, outputs []string, opt Options) (*Session, error) {
	if err := Init(""); err != nil {
		return nil, err
	}
	so, prov, err := gruntime.NewSessionOptions("", gruntime.SessionSettings{IntraOpThreads: opt.IntraOpThreads,
		DisableOptimizations: opt.DisableOptimizations, ProfilePrefix: opt.ProfilePrefix, Device: opt.Device})
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, inputs, outputs, so)
	if err != nil {
		return nil, fmt.Errorf("onnx runtime session: %w", err)
	}
	return &Session{s: s, inputs: inputs, outputs: outputs, provider: prov}, nil
}

// Close releases the session.
func (s *Session) Close() error {
	if s == nil || s.s == nil {
		return nil
	}
	err := s.s.Destroy()
	s.s = nil
	return err
}

func toValue(t Tensor) (ort.Value, error) {
	sh := ort.NewShape(t.Shape...)
	switch {
	case t.F32 != nil:
		return ort.NewTensor(sh, t.F32)
	case t.F64 != nil:
		return ort.NewTensor(sh, t.F64)
	case t.I64 != nil:
		return ort.NewTensor(sh, t.I64)
	}
	return nil, fmt.Errorf("tensor with shape %v holds no data", t.Shape)
}

// Run feeds the inputs (in the session's input order) and returns copies
// of the outputs (in the session's output order). The input slices are
// used by ONNX Runtime without copying and must not change during Run.
func (s *Session) Run(in []Tensor) ([]Tensor, error) {
	if len(in) != len(s.inputs) {
		return nil, fmt.Errorf("run: %d inputs given, the session has %d (%v)", len(in), len(s.inputs), s.inputs)
	}
	vals := make([]ort.Value, len(in))
	defer func() {
		for _, v := range vals {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	for i, t := range in {
		v, err := toValue(t)
		if err != nil {
			return nil, fmt.Errorf("run: input %q: %w", s.inputs[i], err)
		}
		vals[i] = v
	}
	outs := make([]ort.Value, len(s.outputs))
	err := s.s.Run(vals, outs)
	defer func() {
		for _, v := range outs {
			if v != nil {
				v.Destroy()
			}
		}
	}()
	runtime.KeepAlive(in)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	res := make([]Tensor, len(outs))
	for i, v := range outs {
		t := Tensor{Shape: append([]int64{}, v.GetShape()...)}
		switch x := v.(type) {
		case *ort.Tensor[float32]:
			t.F32 = append([]float32{}, x.GetData()...)
		case *ort.Tensor[float64]:
			t.F64 = append([]float64{}, x.GetData()...)
		case *ort.Tensor[int64]:
			t.I64 = append([]int64{}, x.GetData()...)
		default:
			return nil, fmt.Errorf("run: output %q has an element type this helper does not read", s.outputs[i])
		}
		res[i] = t
	}
	return res, nil
}
