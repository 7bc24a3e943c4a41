package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

func touch(t *testing.T, path string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("fake"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFindLibraryOrder(t *testing.T) {
	dir := t.TempDir()
	flag := touch(t, filepath.Join(dir, "flag", "lib.so"))
	conf := touch(t, filepath.Join(dir, "conf", "lib.so"))
	genv := touch(t, filepath.Join(dir, "genv", "lib.so"))
	oenv := touch(t, filepath.Join(dir, "oenv", "lib.so"))
	work := filepath.Join(dir, "work")
	workSo := filepath.Join(work, ".ort", "libonnxruntime.so")
	workSo1 := filepath.Join(work, ".ort", "libonnxruntime.so.1")
	exe := filepath.Join(dir, "bin")
	exeDylib := touch(t, filepath.Join(exe, "libonnxruntime.dylib"))
	touch(t, filepath.Join(exe, "libonnxruntime.so")) // .so before .dylib

	env := map[string]string{}
	s := LibrarySearch{Getenv: func(k string) string { return env[k] }, WorkDir: work, ExeDir: exe}
	want := func(name, w string) {
		t.Helper()
		got, err := FindLibrary(s)
		if err != nil || got != w {
			t.Fatalf("%s: FindLibrary = %q, %v; want %q", name, got, err, w)
		}
	}
	want("exe dir .so before .dylib", filepath.Join(exe, "libonnxruntime.so"))
	os.Remove(filepath.Join(exe, "libonnxruntime.so"))
	want("exe dir .dylib", exeDylib)
	touch(t, workSo)
	want("work dir before exe dir", workSo)
	touch(t, workSo1)
	want("work dir .so.1 before .so", workSo1)
	env[EnvORTLibrary] = oenv
	want("ONNXRUNTIME_SHARED_LIBRARY_PATH before work dir", oenv)
	env[EnvGauntletLibrary] = genv
	want("GAUNTLET_ORT_LIBRARY before ONNXRUNTIME_SHARED_LIBRARY_PATH", genv)
	s.Config = conf
	want("config before env", conf)
	s.Flag = flag
	want("flag before config", flag)
}

func TestFindLibraryExplicitMissing(t *testing.T) {
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	touch(t, filepath.Join(work, ".ort", "libonnxruntime.so.1"))
	for _, c := range []struct {
		name string
		s    LibrarySearch
		src  string
	}{
		{"flag", LibrarySearch{Flag: filepath.Join(dir, "nope.so")}, "--ort-library"},
		{"config", LibrarySearch{Config: filepath.Join(dir, "nope.so")}, "runtime.ort_library"},
		{"env", LibrarySearch{Getenv: func(k string) string {
			if k == EnvGauntletLibrary {
				return filepath.Join(dir, "nope.so")
			}
			return ""
		}}, "$GAUNTLET_ORT_LIBRARY"},
		{"directory", LibrarySearch{Flag: dir}, "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.s.WorkDir = work // would be found, but an explicit path wins or fails
			if c.s.Getenv == nil {
				c.s.Getenv = func(string) string { return "" }
			}
			p, err := FindLibrary(c.s)
			if err == nil {
				t.Fatalf("FindLibrary = %q, want an error", p)
			}
			if errs.Code(err, 0) != errs.Invalid {
				t.Errorf("exit code %d, want %d", errs.Code(err, 0), errs.Invalid)
			}
			if !strings.Contains(err.Error(), c.src) || !strings.Contains(err.Error(), "make ort") {
				t.Errorf("error %q does not name %q and the fix", err, c.src)
			}
		})
	}
}

func TestFindLibraryNone(t *testing.T) {
	dir := t.TempDir()
	s := LibrarySearch{Getenv: func(string) string { return "" }, WorkDir: filepath.Join(dir, "w"), ExeDir: filepath.Join(dir, "e"),
		Loader: func(n string) error { return fmt.Errorf("%s: cannot open shared object file", n) }}
	_, err := FindLibrary(s)
	if err == nil {
		t.Fatal("FindLibrary found a library in an empty directory")
	}
	if errs.Code(err, 0) != errs.Invalid {
		t.Errorf("exit code %d, want %d", errs.Code(err, 0), errs.Invalid)
	}
	msg := err.Error()
	for _, w := range []string{"--ort-library: not set", "runtime.ort_library: not set", "$GAUNTLET_ORT_LIBRARY: not set",
		"$ONNXRUNTIME_SHARED_LIBRARY_PATH: not set", filepath.Join(dir, "w", ".ort", "libonnxruntime.so.1"),
		filepath.Join(dir, "e", "libonnxruntime.dylib"), "no such file", "make ort", "--ort-library",
		filepath.Join(dir, "e", "..", ".ort", "libonnxruntime.so.1"), filepath.Join(dir, "e", "..", "lib", "gauntlet", "libonnxruntime.so.1"),
		"system loader (LD_LIBRARY_PATH, ldconfig): libonnxruntime.so.1: libonnxruntime.so.1: cannot open", "doctor --fetch-hint"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error does not mention %q:\n%s", w, msg)
		}
	}
}

// TestFindLibraryInstalledLayouts checks the places after the binary's own
// folder, in order: bin/../.ort (a checkout after `make ort`),
// bin/../lib/gauntlet (`make install PREFIX=…`), then the system loader by
// soname.
func TestFindLibraryInstalledLayouts(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "prefix", "bin")
	if err := os.MkdirAll(exe, 0o755); err != nil {
		t.Fatal(err)
	}
	var asked []string
	s := LibrarySearch{Getenv: func(string) string { return "" }, WorkDir: filepath.Join(dir, "elsewhere"), ExeDir: exe,
		Loader: func(n string) error { asked = append(asked, n); return nil }}
	got, err := FindLibrary(s)
	if err != nil || got != "libonnxruntime.so.1" || len(asked) != 1 {
		t.Fatalf("nothing on disk: FindLibrary = %q, %v (loader asked %v); want the soname from the system loader", got, err, asked)
	}
	inst := touch(t, filepath.Join(dir, "prefix", "lib", "gauntlet", "libonnxruntime.so.1"))
	if got, err := FindLibrary(s); err != nil || got != inst {
		t.Errorf("make install layout: FindLibrary = %q, %v; want %q", got, err, inst)
	}
	co := touch(t, filepath.Join(dir, "prefix", ".ort", "libonnxruntime.so.1"))
	if got, err := FindLibrary(s); err != nil || got != co {
		t.Errorf("checkout layout: FindLibrary = %q, %v; want %q (before the install layout)", got, err, co)
	}
}

// TestDlopenSoname loads a library every Linux system has by soname (the
// C library) and fails on a name no system has.
func TestDlopenSoname(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("the sonames below are Linux's")
	}
	if err := dlopen("libc.so.6"); err != nil {
		t.Errorf("dlopen(libc.so.6): %v", err)
	}
	if err := dlopen("libgauntlet-no-such-library.so.1"); err == nil {
		t.Error("dlopen of a missing library succeeded")
	}
}
