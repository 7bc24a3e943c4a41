package corruption

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// mnistTol is the allowed gap in accuracy per family and severity: one
// sample of the 500. The five families give the reference's pixels
// (TestPixelsAgainstReference), but Gauntlet feeds the model float32 of a
// float64 computed from float32 inputs and the reference float32 of its
// float64 from uint8 inputs, so inputs differ by ~1e-7, and ONNX Runtime's
// logits differ from PyTorch's by ≤ 6e-6 (../shared/fixtures/vision/README.md):
// a sample whose top-2 margin is that small may flip.
const mnistTol = 1.0/500 + 1e-12

func TestMNISTAccuracyAgainstReference(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	b, err := os.ReadFile(filepath.Join("testdata", "reference_mnist.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Samples       int                  `json:"samples"`
		CleanAccuracy float64              `json:"clean_accuracy"`
		Accuracy      map[string][]float64 `json:"accuracy"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	ds := suitetest.Load(t, data.Spec{X: "mnist_test_x.npy", Y: "mnist_test_y.npy"}, dir)
	tg := suitetest.Open(t, filepath.Join(dir, "mnist_cnn.onnx"), ds)
	tg.Seed, tg.Range, tg.BatchSize, tg.Pool = 1, [2]float64{0, 1}, 128, runtime.Pool{Workers: 2}
	var fams []any
	for f := range ref.Accuracy {
		fams = append(fams, f)
	}
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"samples": ref.Samples, "families": fams})
	if got := res.Metrics["clean_accuracy"]; got != ref.CleanAccuracy {
		t.Errorf("clean_accuracy %v, PyTorch %v", got, ref.CleanAccuracy)
	}
	compared, maxGap := 0, 0.0
	for f, accs := range ref.Accuracy {
		for s, want := range accs {
			key := f + "." + sevKey(s+1) + ".accuracy"
			got, ok := res.Metrics[key]
			maxGap = max(maxGap, math.Abs(got-want))
			if !ok || math.Abs(got-want) > mnistTol {
				t.Errorf("%s = %v (defined %v), reference %v", key, got, ok, want)
			}
			compared++
		}
	}
	t.Logf("largest gap %v over %d figures", maxGap, compared)
	if compared != 25 {
		t.Errorf("compared %d figures, want 25 (5 families × 5 severities)", compared)
	}
}
