package runtime

import (
	"context"

	"github.com/gauntlet-ml/gauntlet/cuda"
)

// LibrarySearch says where to look for the ONNX Runtime shared library, in
// order: Flag (--ort-library), Config (runtime.ort_library),
// $GAUNTLET_ORT_LIBRARY, $ONNXRUNTIME_SHARED_LIBRARY_PATH, WorkDir/.ort/,
// ExeDir (beside the binary).
type LibrarySearch struct {
	Flag    string
	Config  string
	Getenv  func(string) string // os.Getenv when nil
	WorkDir string
	ExeDir  string
}

// FindLibrary returns the first library path that exists; the error lists
// every place it looked and why each failed.
func FindLibrary(s LibrarySearch) (string, error) { panic("todo") }

// Environment is the process-wide ONNX Runtime environment.
type Environment struct {
	LibraryPath string
	Version     string
}

// Init initialises ONNX Runtime once per process from libPath.
func Init(libPath string) (*Environment, error) { panic("todo") }

// OutputKind says whether a classifier's output holds logits or probabilities.
type OutputKind string

// Output kinds.
const (
	Logits        OutputKind = "logits"
	Probabilities OutputKind = "probabilities"
)

// TensorInfo describes a model input or output; dynamic dims are -1.
type TensorInfo struct {
	Name     string
	Type     string // "float32", "float64", "int64", ...
	Shape    []int64
	DimNames []string
}

// ModelInfo is the introspected signature of a model.
type ModelInfo struct {
	Path    string
	SHA256  string
	Opset   int64
	Inputs  []TensorInfo
	Outputs []TensorInfo
}

// Options configure a Session.
type Options struct {
	Device         cuda.Device
	IntraOpThreads int // 0: ORT default
}

// Session is one model loaded on one device, shared by all workers; Run is
// safe for concurrent use.
type Session struct{}

// Open loads a model.
func Open(env *Environment, modelPath string, opt Options) (*Session, error) { panic("todo") }

// Info returns the model signature.
func (s *Session) Info() ModelInfo { panic("todo") }

// Provider returns the execution provider actually used.
func (s *Session) Provider() cuda.Resolved { panic("todo") }

// Close releases the session.
func (s *Session) Close() error { panic("todo") }

// Runner runs batches on a Session with its own preallocated tensors; one
// per worker.
type Runner struct{}

// NewRunner allocates a Runner for batches of up to batch samples.
func (s *Session) NewRunner(batch int) (*Runner, error) { panic("todo") }

// Run runs n samples (x holds n*sampleSize values) and returns n*classes
// outputs, valid until the next call to Run.
func (r *Runner) Run(ctx context.Context, x []float32, n int) ([]float32, error) { panic("todo") }

// Close releases the Runner's tensors.
func (r *Runner) Close() error { panic("todo") }
