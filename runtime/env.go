package runtime

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// Environment is the process-wide ONNX Runtime environment.
type Environment struct {
	LibraryPath string
	Version     string
}

var (
	envMu sync.Mutex
	env   *Environment
)

// Init initialises ONNX Runtime once per process from libPath (a path, or a
// bare soname that the system loader searches for), with its log
// level at "error" so that it does not write warnings to stderr. A second
// call with the same path (compared after filepath.Abs and Clean) returns
// the same *Environment; a call with another path is an error, since a
// process can hold only one ONNX Runtime. A failed Init leaves nothing
// initialised and may be retried. A path that is missing or is not an ONNX
// Runtime library is an errs.Invalid error naming it.
func Init(libPath string) (*Environment, error) {
	// a bare soname (FindLibrary's system-loader result) is loaded by the
	// system loader's search; a path is made absolute
	abs := libPath
	soname := !strings.ContainsRune(libPath, filepath.Separator)
	if !soname {
		var err error
		if abs, err = filepath.Abs(libPath); err != nil {
			return nil, errs.Invalidf("onnx runtime library %s: %w", libPath, err)
		}
	}
	envMu.Lock()
	defer envMu.Unlock()
	if env != nil {
		if env.LibraryPath == abs {
			return env, nil
		}
		return nil, fmt.Errorf("onnx runtime already initialised from %s; cannot load %s as well in one process", env.LibraryPath, abs)
	}
	if !soname {
		if err := regularFile(abs); err != nil {
			return nil, errs.Invalidf("onnx runtime library %s: %v", libPath, err)
		}
	}
	ort.SetSharedLibraryPath(abs)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return nil, errs.Invalidf("onnx runtime library %s: cannot load it as ONNX Runtime: %w", libPath, err)
	}
	env = &Environment{LibraryPath: abs, Version: ort.GetVersion()}
	return env, nil
}
