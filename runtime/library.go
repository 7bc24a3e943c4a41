package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// LibrarySearch says where to look for the ONNX Runtime shared library, in
// order: Flag (--ort-library), Config (runtime.ort_library),
// $GAUNTLET_ORT_LIBRARY, $ONNXRUNTIME_SHARED_LIBRARY_PATH, WorkDir/.ort/,
// ExeDir (beside the binary). Empty fields are not searched.
type LibrarySearch struct {
	Flag    string
	Config  string
	Getenv  func(string) string // os.Getenv when nil
	WorkDir string
	ExeDir  string
}

// Environment variables FindLibrary reads.
const (
	EnvGauntletLibrary = "GAUNTLET_ORT_LIBRARY"
	EnvORTLibrary      = "ONNXRUNTIME_SHARED_LIBRARY_PATH"
)

// LibraryNames are the file names FindLibrary tries in WorkDir/.ort and
// ExeDir, in order.
var LibraryNames = []string{"libonnxruntime.so.1", "libonnxruntime.so", "libonnxruntime.dylib"}

// DefaultSearch returns a LibrarySearch with the given flag and config
// values, the current directory as WorkDir and the directory of the running
// binary (symlinks resolved) as ExeDir.
func DefaultSearch(flag, config string) LibrarySearch {
	s := LibrarySearch{Flag: flag, Config: config}
	if wd, err := os.Getwd(); err == nil {
		s.WorkDir = wd
	}
	if exe, err := os.Executable(); err == nil {
		if r, err := filepath.EvalSymlinks(exe); err == nil {
			exe = r
		}
		s.ExeDir = filepath.Dir(exe)
	}
	return s
}

// FindLibrary returns the first candidate library path that exists and is a
// regular file (symlinks followed). A path the user named explicitly (Flag,
// Config or one of the two environment variables) that does not exist or is
// not a regular file is an error at once, not skipped. When no candidate
// works, the errs.Invalid error lists every place it looked and why each
// failed.
func FindLibrary(s LibrarySearch) (string, error) {
	getenv := s.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	const hint = "run `make ort` or set --ort-library (runtime.ort_library, $" + EnvGauntletLibrary + ")"
	explicit := []struct{ source, path string }{
		{"--ort-library", s.Flag},
		{"runtime.ort_library", s.Config},
		{"$" + EnvGauntletLibrary, getenv(EnvGauntletLibrary)},
		{"$" + EnvORTLibrary, getenv(EnvORTLibrary)},
	}
	var tried []string
	for _, c := range explicit {
		if c.path == "" {
			tried = append(tried, c.source+": not set")
			continue
		}
		if err := regularFile(c.path); err != nil {
			return "", errs.Invalidf("onnx runtime library from %s: %s: %v; %s", c.source, c.path, err, hint)
		}
		return c.path, nil
	}
	var dirs []struct{ source, dir string }
	if s.WorkDir != "" {
		dirs = append(dirs, struct{ source, dir string }{"working directory", filepath.Join(s.WorkDir, ".ort")})
	} else {
		tried = append(tried, "working directory .ort/: not searched (unknown working directory)")
	}
	if s.ExeDir != "" {
		dirs = append(dirs, struct{ source, dir string }{"beside the binary", s.ExeDir})
	} else {
		tried = append(tried, "beside the binary: not searched (unknown binary directory)")
	}
	for _, d := range dirs {
		for _, name := range LibraryNames {
			p := filepath.Join(d.dir, name)
			if err := regularFile(p); err != nil {
				tried = append(tried, fmt.Sprintf("%s: %s: %v", d.source, p, err))
				continue
			}
			return p, nil
		}
	}
	return "", errs.Invalidf("onnx runtime library not found; looked in:\n  %s\n%s", strings.Join(tried, "\n  "), hint)
}

// regularFile says why path is not a regular file, or nil if it is.
func regularFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		return fmt.Errorf("no such file")
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	return nil
}
