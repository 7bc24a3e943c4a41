package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// testLibrary returns the ONNX Runtime library for tests: from
// $ONNXRUNTIME_SHARED_LIBRARY_PATH or ../.ort/libonnxruntime.so.1. When
// neither exists the test skips, or fails when CI=true.
func testLibrary(t testing.TB) string {
	t.Helper()
	p := os.Getenv(EnvORTLibrary)
	if p == "" {
		p = filepath.Join("..", ".ort", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("onnx runtime library %s: %v (CI=true: run `make ort`)", p, err)
		}
		t.Skipf("onnx runtime library %s not available: %v (run `make ort`)", p, err)
	}
	return p
}

// testEnv initialises ONNX Runtime once for the test binary.
func testEnv(t testing.TB) *Environment {
	t.Helper()
	e, err := Init(testLibrary(t))
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return e
}

// expected holds testdata/expected.json, written by testdata/gen_models.py:
// the test input X and torch's outputs for it with each fixture.
type expected struct {
	X        []float32 `json:"x"`
	N        int       `json:"n"`
	Features int       `json:"features"`
	Classes  int       `json:"classes"`

	Logits     []float32 `json:"mlp_logits"`
	Softmax    []float32 `json:"mlp_softmax"`
	LogSoftmax []float32 `json:"mlp_logsoftmax"`
	Float64    []float32 `json:"mlp_float64"`
	Fixed      []float32 `json:"fixed_batch4"`
}

func loadExpected(t testing.TB) expected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("testdata/expected.json: %v", err)
	}
	return e
}

// torchTol is the largest difference allowed between ONNX Runtime's and
// torch's float32 outputs for the fixtures: both evaluate a 4→8→3 MLP with
// values below 2 in float32 and differ only in summation order, a few ulps
// (about 1e-7); 1e-5 leaves margin yet catches a wrong row or weight.
const torchTol = 1e-5

func closeTo(t testing.TB, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := float64(got[i]) - float64(want[i]); d > tol || d < -tol {
			t.Fatalf("%s[%d] = %v, want %v (tol %g)", what, i, got[i], want[i], tol)
		}
	}
}

func fixture(name string) string { return filepath.Join("testdata", name) }

// mnistCNN returns the shared MNIST CNN fixture, skipping when ../shared is
// absent.
func mnistCNN(t testing.TB) string {
	t.Helper()
	p := filepath.Join("..", "..", "shared", "fixtures", "vision", "mnist_cnn.onnx")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared fixture %s not available: %v", p, err)
	}
	return p
}
