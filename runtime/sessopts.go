package runtime

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/errs"
)

// SessionSettings are what every ONNX Runtime session Gauntlet opens is
// built from: the classifier (Open), in-memory graphs (OpenGraph) and the
// gradient sessions of autodiff/ortexec.
type SessionSettings struct {
	// IntraOpThreads is ORT's intra-op thread count (0: ORT's default).
	IntraOpThreads int
	// Device is the execution provider to ask for (the zero value: CPU);
	// see cuda.Configure.
	Device cuda.Device
	// DisableOptimizations turns ORT's graph optimisations off (for
	// finite-difference checks that must see the graph as written).
	DisableOptimizations bool
	// Optimization is ORT's graph optimisation level: basic, extended, all
	// or disabled ("" is all, ORT's default); DisableOptimizations wins.
	// ParseOptimization checks a configured value.
	Optimization string
	// OptimizedModelPath, when set, makes ORT write the graph it runs,
	// after its optimisations and inserted Casts, to that file.
	OptimizedModelPath string
	// ProfilePrefix, when set, turns on ORT's profiler; the JSON trace is
	// written to a file starting with this prefix when the session closes.
	ProfilePrefix string
	// ModelDir, when set, is the folder of the model file: ORT resolves
	// the external data locations of a model given to it as bytes against
	// it (ONNX's rule: relative to the model's folder), not against the
	// working directory.
	ModelDir string
}

// externalDataFolder is ORT's session config key
// (kOrtSessionOptionsModelExternalInitializersFileFolderPath) for the
// folder external data of a model loaded from bytes is resolved against.
const externalDataFolder = "session.model_external_initializers_file_folder_path"

// NewSessionOptions builds the ORT session options of c, the one place
// they are built: every graph optimisation (ORT's default level, set
// explicitly) unless DisableOptimizations, IntraOpThreads when positive,
// one inter-op thread (sessions run sequentially; parallelism comes from
// Gauntlet's workers), the external data folder when ModelDir is set,
// the profiler when ProfilePrefix is set, and the
// execution provider of c.Device (cuda.Configure), which it returns as
// resolved. The caller destroys the options once the session is created.
// The errors of ORT calls start with what (the model or graph, for
// messages; none when empty), then "session options:"; those of
// cuda.Configure (exit code 2, naming runtime.device) are returned as they
// are.
func NewSessionOptions(what string, c SessionSettings) (*ort.SessionOptions, cuda.Resolved, error) {
	prefix := "session options: "
	if what != "" {
		prefix = what + ": " + prefix
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, cuda.Resolved{}, fmt.Errorf("%s%w", prefix, err)
	}
	fail := func(err error) (*ort.SessionOptions, cuda.Resolved, error) {
		so.Destroy()
		return nil, cuda.Resolved{}, err
	}
	level, err := optimizationLevel(c.Optimization)
	if err != nil {
		return fail(err)
	}
	if c.DisableOptimizations {
		level = ort.GraphOptimizationLevelDisableAll
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return fail(fmt.Errorf("%sset graph optimisation level: %w", prefix, err))
	}
	if c.OptimizedModelPath != "" {
		if err := so.SetOptimizedModelFilePath(c.OptimizedModelPath); err != nil {
			return fail(fmt.Errorf("%sset optimised model path: %w", prefix, err))
		}
	}
	if c.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(c.IntraOpThreads); err != nil {
			return fail(fmt.Errorf("%sset intra-op threads %d: %w", prefix, c.IntraOpThreads, err))
		}
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return fail(fmt.Errorf("%sset inter-op threads: %w", prefix, err))
	}
	if c.ModelDir != "" {
		if err := so.AddSessionConfigEntry(externalDataFolder, c.ModelDir); err != nil {
			return fail(fmt.Errorf("%sset the external data folder %s: %w", prefix, c.ModelDir, err))
		}
	}
	if c.ProfilePrefix != "" {
		if err := so.EnableProfiling(c.ProfilePrefix); err != nil {
			return fail(fmt.Errorf("%senable profiling: %w", prefix, err))
		}
	}
	resolved, err := cuda.Configure(so, c.Device)
	if err != nil {
		return fail(err)
	}
	return so, resolved, nil
}

// Graph optimisation levels of SessionSettings.Optimization.
const (
	OptimizeBasic    = "basic"
	OptimizeExtended = "extended"
	OptimizeAll      = "all"
	OptimizeDisabled = "disabled"
)

// ParseOptimization checks a graph optimisation level ("" is all); a bad
// one is an errs.Invalid error listing the levels.
func ParseOptimization(s string) error {
	_, err := optimizationLevel(s)
	return err
}

func optimizationLevel(s string) (ort.GraphOptimizationLevel, error) {
	switch s {
	case "", OptimizeAll:
		return ort.GraphOptimizationLevelEnableAll, nil
	case OptimizeExtended:
		return ort.GraphOptimizationLevelEnableExtended, nil
	case OptimizeBasic:
		return ort.GraphOptimizationLevelEnableBasic, nil
	case OptimizeDisabled:
		return ort.GraphOptimizationLevelDisableAll, nil
	}
	return 0, errs.Invalidf("graph optimisation level %q: want basic, extended, all or disabled", s)
}
