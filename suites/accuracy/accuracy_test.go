package accuracy

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Tolerances against examples/REFERENCE.json, whose figures come from the
// same float32 model run by torch. Predictions cannot differ (the smallest
// top-2 logit margin is 0.068, min_top2_logit_margin in the file), so counts
// and ratios of counts are exact; confidences differ by the ORT-vs-torch
// logit error (≤ 1e-5), which moves a softmax probability by ≤ 1e-5 and its
// mean by less.
const (
	confTol = 1e-6 // mean confidence and ECE (measured gap ≤ 7e-9)
)

type reference struct {
	N              int        `json:"n"`
	Accuracy       float64    `json:"accuracy"`
	Precision      []*float64 `json:"precision"`
	Recall         []*float64 `json:"recall"`
	Confusion      [][]int64  `json:"confusion_matrix"`
	MeanConfidence float64    `json:"mean_confidence"`
	ECE            float64    `json:"ece"`
}

// digitsTarget is suitetest.Digits run on workers in batches of batch.
func digitsTarget(t *testing.T, model string, workers, batch int) *suite.Target {
	t.Helper()
	tg := suitetest.Digits(t, model)
	tg.BatchSize, tg.Pool = batch, runtime.Pool{Workers: workers}
	return tg
}

func TestAgainstReference(t *testing.T) {
	b, err := os.ReadFile(testutil.Example(t, "REFERENCE.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	// The logits model and the same weights with a Softmax appended must
	// give the same figures: the suite reads probabilities directly.
	for _, model := range []string{"digits_cnn.onnx", "digits_cnn_softmax.onnx"} {
		t.Run(model, func(t *testing.T) {
			tg := digitsTarget(t, model, 2, 64)
			cfg, err := Suite{}.Decode(map[string]any{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := Suite{}.Run(context.Background(), tg, cfg)
			if err != nil {
				t.Fatal(err)
			}
			m := res.Metrics
			if m["accuracy"] != ref.Accuracy {
				t.Errorf("accuracy = %v, want %v", m["accuracy"], ref.Accuracy)
			}
			if d := math.Abs(m["mean_confidence"] - ref.MeanConfidence); d > confTol {
				t.Errorf("mean_confidence = %v, want %v (|Δ| %g > %g)", m["mean_confidence"], ref.MeanConfidence, d, confTol)
			}
			if d := math.Abs(m["ece"] - ref.ECE); d > confTol {
				t.Errorf("ece = %v, want %v (|Δ| %g > %g)", m["ece"], ref.ECE, d, confTol)
			}
			for k := range ref.Precision {
				key := "class." + strconv.Itoa(k)
				checkRate(t, res, key+".precision", ref.Precision[k])
				checkRate(t, res, key+".recall", ref.Recall[k])
			}
			got := res.Details["confusion_matrix"].([][]int64)
			for y := range ref.Confusion {
				for p := range ref.Confusion[y] {
					if got[y][p] != ref.Confusion[y][p] {
						t.Fatalf("confusion[%d][%d] = %d, want %d", y, p, got[y][p], ref.Confusion[y][p])
					}
				}
			}
		})
	}
}

func checkRate(t *testing.T, res *suite.Result, key string, want *float64) {
	t.Helper()
	got, ok := res.Metrics[key]
	if want == nil {
		if ok {
			t.Errorf("%s = %v, want undefined", key, got)
		}
		return
	}
	// Ratios of the same integer counts: exact up to the last bit of a
	// float64 division done in another language.
	if !ok || math.Abs(got-*want) > 1e-15 {
		t.Errorf("%s = %v (defined %v), want %v", key, got, ok, *want)
	}
}

func TestBin(t *testing.T) {
	// Bins are (k/n, (k+1)/n]; the edges below are exact in binary.
	for _, c := range []struct {
		conf float64
		want int
	}{{0, 0}, {0.25, 0}, {0.2500001, 1}, {0.5, 1}, {0.75, 2}, {1, 3}} {
		if got := Bin(c.conf, 4); got != c.want {
			t.Errorf("Bin(%v, 4) = %d, want %d", c.conf, got, c.want)
		}
	}
}

func TestTop(t *testing.T) {
	// max softmax of logits (0, ln 3): 3/(1+3) = 0.75.
	p, c := Top([]float32{0, float32(math.Log(3))}, false)
	if p != 1 || math.Abs(c-0.75) > 1e-7 {
		t.Errorf("Top = %d, %v; want 1, 0.75", p, c)
	}
	// Ties go to the lowest index, as numpy's argmax.
	if p, _ := Top([]float32{0.5, 0.5}, true); p != 0 {
		t.Errorf("Top tie = %d, want 0", p)
	}
	// Huge logits: no overflow.
	if _, c := Top([]float32{1e30, 0}, false); c != 1 {
		t.Errorf("Top huge = %v, want 1", c)
	}
}

func TestUndefinedPrecision(t *testing.T) {
	// Three classes, class 2 never predicted and never present: its
	// precision and recall are undefined (0/0), not 0.
	c := newCounts(3, DefaultBins)
	c.confusion[0*3+0] = 2
	c.confusion[1*3+0] = 1
	c.confusion[1*3+1] = 1
	res := summarise(c, 3, 4, DefaultBins, 0.95)
	for _, k := range []string{"class.2.precision", "class.2.recall"} {
		if _, ok := res.Metrics[k]; ok {
			t.Errorf("%s defined, want undefined", k)
		}
	}
	if len(res.Undefined) != 2 {
		t.Errorf("Undefined = %v, want the two class-2 rates", res.Undefined)
	}
	// accuracy 3/4; balanced accuracy mean(recall0=1, recall1=1/2) = 0.75;
	// macro precision mean(2/3, 1) = 5/6.
	if res.Metrics["accuracy"] != 0.75 || res.Metrics["balanced_accuracy"] != 0.75 || math.Abs(res.Metrics["macro_precision"]-5.0/6) > 1e-15 {
		t.Errorf("metrics = %v", res.Metrics)
	}
}

func TestDecodeRejectsUnknownKey(t *testing.T) {
	if _, err := (Suite{}).Decode(map[string]any{"binz": 3}); err == nil {
		t.Fatal("unknown key accepted")
	}
	if _, err := (Suite{}).Decode(map[string]any{"bins": 0}); err == nil {
		t.Fatal("bins 0 accepted")
	}
}
