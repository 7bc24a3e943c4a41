package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

func TestInitOnce(t *testing.T) {
	lib := testLibrary(t)
	e1 := testEnv(t)
	if e1.Version == "" {
		t.Error("Version is empty")
	}
	// The Makefile fetches ORT 1.30.0 into .ort; another library may be
	// named through the environment, so only the prefix is checked.
	if !strings.HasPrefix(e1.Version, "1.") {
		t.Errorf("Version = %q, want 1.x", e1.Version)
	}
	e2, err := Init(lib)
	if err != nil || e2 != e1 {
		t.Fatalf("second Init(%s) = %p, %v; want the same environment %p", lib, e2, err, e1)
	}
	other := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(other); err == nil || !strings.Contains(err.Error(), "already initialised") {
		t.Errorf("Init with another path: %v, want an 'already initialised' error", err)
	}
}

// TestInitNotLibrary loads a text file as ONNX Runtime. ONNX Runtime is
// once per process, so the load runs in a child process of this test
// binary that has not initialised it.
func TestInitNotLibrary(t *testing.T) {
	if p := os.Getenv("GAUNTLET_TEST_INIT_BAD"); p != "" {
		_, err := Init(p)
		if err == nil {
			t.Fatalf("Init(%s) succeeded", p)
		}
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), p) {
			t.Fatalf("Init(%s) = %v (code %d); want exit code 2 naming the path", p, err, errs.Code(err, 0))
		}
		if _, err := Init(filepath.Join(filepath.Dir(p), "missing.so")); err == nil || !strings.Contains(err.Error(), "missing.so") {
			t.Fatalf("Init(missing) = %v, want an error naming it", err)
		}
		return
	}
	bad := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	if err := os.WriteFile(bad, []byte("not a shared library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestInitNotLibrary$", "-test.v")
	cmd.Env = append(os.Environ(), "GAUNTLET_TEST_INIT_BAD="+bad)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
