package testutil

import (
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
