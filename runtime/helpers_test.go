package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// testLibrary returns the ONNX Runtime library for tests
// (internal/testutil.ORTLibrary: skips without it, fails under CI=true).
func testLibrary(t testing.TB) string {
	t.Helper()
	return testutil.ORTLibrary(t)
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

// mnistCNN returns the shared MNIST CNN fixture
// (internal/testutil.Shared: skips without ../shared, fails under CI=true).
func mnistCNN(t testing.TB) string {
	t.Helper()
	return testutil.Shared(t, "fixtures/vision/mnist_cnn.onnx")
}
