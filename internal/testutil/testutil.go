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

// ORTLibrary returns the ONNX Runtime library path from
// $ONNXRUNTIME_SHARED_LIBRARY_PATH or <repo>/.ort/libonnxruntime.so.1. When
// neither exists the test is skipped, except under CI=true, where a missing
// library is a failure (run `make ort`).
func ORTLibrary(t testing.TB) string {
	t.Helper()
	candidates := []string{os.Getenv("ONNXRUNTIME_SHARED_LIBRARY_PATH"), filepath.Join(RepoRoot(t), ".ort", "libonnxruntime.so.1")}
	for _, p := range candidates {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("ONNX Runtime library not found (looked at %v); run `make ort`", candidates)
	}
	t.Skipf("ONNX Runtime library not found (looked at %v); run `make ort`", candidates)
	return ""
}

// Shared returns <repo>/../shared/<rel>, skipping the test when it is absent.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(RepoRoot(t), "..", "shared", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared fixture %s absent: %v", p, err)
	}
	return p
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
