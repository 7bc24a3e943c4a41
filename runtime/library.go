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
// ExeDir (beside the binary), ExeDir/../.ort/ (bin/gauntlet in a checkout
// after `make ort`), ExeDir/../lib/gauntlet/ (`make install`), and last the
// system loader's own search by soname (LD_LIBRARY_PATH, the ldconfig
// cache, the default library folders). Empty fields are not searched.
type LibrarySearch struct {
	Flag    string
	Config  string
	Getenv  func(string) string // os.Getenv when nil
	WorkDir string
	ExeDir  string
	// Loader tries to load a library by soname as dlopen does (nil: the
	// platform's dlopen; tests replace it). It returns nil when it loads.
	Loader func(soname string) error
	// NoLoader skips the system loader's search (tests).
	NoLoader bool
}

// Version and digest of the ONNX Runtime build `make ort` fetches, for
// hints (FetchHint).
const (
	ORTVersion        = "1.30.0"
	ORTNpmPackage     = "onnxruntime-node@" + ORTVersion
	ORTNpmFile        = "package/bin/napi-v6/linux/x64/libonnxruntime.so.1"
	ORTLinuxX64SHA256 = "ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"
)

// FetchHint returns the shell commands that fetch the ONNX Runtime CPU
// library Gauntlet is tested with, from the npm registry, check its
// SHA-256 and point Gauntlet at it.
func FetchHint() string {
	return "# ONNX Runtime " + ORTVersion + " (CPU, linux x64) from the npm registry:\n" +
		"npm pack " + ORTNpmPackage + "\n" +
		"tar -xzf onnxruntime-node-" + ORTVersion + ".tgz " + ORTNpmFile + "\n" +
		"echo '" + ORTLinuxX64SHA256 + "  " + ORTNpmFile + "' | sha256sum -c\n" +
		"mkdir -p ~/.local/lib/gauntlet && mv " + ORTNpmFile + " ~/.local/lib/gauntlet/\n" +
		"export " + EnvGauntletLibrary + "=~/.local/lib/gauntlet/libonnxruntime.so.1"
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
	const hint = "run `make ort` in a Gauntlet checkout, or set --ort-library (runtime.ort_library, $" + EnvGauntletLibrary +
		"); `gauntlet doctor --fetch-hint` prints the commands that fetch the library"
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
		dirs = append(dirs, struct{ source, dir string }{"beside the binary", s.ExeDir},
			struct{ source, dir string }{"the checkout of the binary", filepath.Join(s.ExeDir, "..", ".ort")},
			struct{ source, dir string }{"the install prefix of the binary", filepath.Join(s.ExeDir, "..", "lib", "gauntlet")})
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
	if !s.NoLoader {
		load := s.Loader
		if load == nil {
			load = dlopen
		}
		for _, name := range LibraryNames {
			err := load(name)
			if err == nil {
				return name, nil
			}
			tried = append(tried, fmt.Sprintf("system loader (LD_LIBRARY_PATH, ldconfig): %s: %v", name, err))
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
