package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot returns the repository root (the folder holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate testutil source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CI reports whether the tests run under CI=true, where nothing that can
// run may skip: a missing ONNX Runtime library or ../shared fixture is a
// failure there (.ci/run also fails on any skip outside .ci/allowed-skips).
func CI() bool { return os.Getenv("CI") == "true" }

// EnvORTLibrary is the environment variable tests read for the ONNX Runtime
// library, the same one autodiff/ortexec.FindLibrary reads.
const EnvORTLibrary = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// ORTLibrary returns the ONNX Runtime library path from
// $ONNXRUNTIME_SHARED_LIBRARY_PATH or <repo>/.ort/libonnxruntime.so.1 as an
// absolute path. When neither exists the test is skipped, except under
// CI=true, where a missing library is a failure (run `make ort`).
func ORTLibrary(t testing.TB) string {
	t.Helper()
	candidates := []string{os.Getenv(EnvORTLibrary), filepath.Join(RepoRoot(t), ".ort", "libonnxruntime.so.1")}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	missing(t, "ONNX Runtime library not found (looked at $%s=%q and %s); run `make ort`", EnvORTLibrary, candidates[0], candidates[1])
	return ""
}

// SharedDir returns <repo>/../shared, the read-only reference fixtures
// (figures from ART, Fairlearn, AIF360, scikit-learn and PyTorch).
func SharedDir(t testing.TB) string {
	t.Helper()
	return filepath.Clean(filepath.Join(RepoRoot(t), "..", "shared"))
}

// Shared returns <repo>/../shared/<rel>. When it is absent the test is
// skipped, except under CI=true, where it fails naming the path: CI must
// have the shared fixtures beside the checkout.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(SharedDir(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		missing(t, "shared fixture %s absent (CI needs ../shared beside the repository): %v", p, err)
	}
	return p
}

// SharedIfPresent returns <repo>/../shared/<rel> and whether it exists, for
// benchmarks that fall back to a committed fixture without it.
func SharedIfPresent(t testing.TB, rel string) (string, bool) {
	t.Helper()
	p := filepath.Join(SharedDir(t), filepath.FromSlash(rel))
	_, err := os.Stat(p)
	return p, err == nil
}

// missing fails the test under CI=true and skips it elsewhere.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Example returns <repo>/examples/<rel>.
func Example(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "examples", rel)
}

// Golden compares got with testdata/<name> of the calling package's folder,
// rewriting the file first when update is set (each test binary defines its
// own -update flag).
func Golden(t testing.TB, name string, got []byte, update bool) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (rerun the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended); got:\n%s", path, got)
	}
}
