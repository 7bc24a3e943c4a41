package corruption

import (
	"context"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

func adult(t *testing.T) *suite.Target {
	dir := testutil.Example(t, "adult")
	ds := suitetest.Load(t, data.Spec{CSV: "adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, dir)
	tg := suitetest.Open(t, filepath.Join(dir, "adult_mlp.onnx"), ds)
	tg.Range = [2]float64{0, 1}
	return tg
}

func TestImagesDoNotDependOnWorkersOrBatch(t *testing.T) {
	// Each sample draws from its own stream (suite.BatchRand of the
	// family/severity seed and the sample index).
	var first *suite.Result
	for _, c := range []struct{ workers, batch int }{{1, 64}, {3, 17}} {
		tg := suitetest.Digits(t, "digits_cnn.onnx")
		tg.Seed, tg.Range, tg.Pool, tg.BatchSize = 5, [2]float64{0, 1}, runtime.Pool{Workers: c.workers}, c.batch
		res := suitetest.Run(t, Suite{}, tg, map[string]any{"samples": 100})
		// The 8×8 digits are images: every image family is defined and
		// the two table-only families are undefined.
		for _, k := range res.Undefined {
			if !strings.HasPrefix(k, "category_swap.") && !strings.HasPrefix(k, "missing_values.") {
				t.Errorf("image run: %s undefined", k)
			}
		}
		if got := res.Details["parameters"]; got != "cifar" {
			t.Errorf("8×8 images: parameters %v, want cifar", got)
		}
		if first == nil {
			first = res
			continue
		}
		if !reflect.DeepEqual(res.Metrics, first.Metrics) {
			t.Errorf("workers %d batch %d: metrics differ from the first run", c.workers, c.batch)
		}
	}
	// Per-severity accuracies are shares of the 100 images.
	n := 0
	for k, v := range first.Metrics {
		if strings.Contains(k, ".severity=") {
			n++
			if v < 0 || v > 1 || math.Abs(v*100-math.Round(v*100)) > 1e-9 {
				t.Errorf("%s = %v: not a share of 100", k, v)
			}
		}
	}
	if n != 15*5 {
		t.Errorf("%d per-severity accuracies, want 75", n)
	}
}

func TestTable(t *testing.T) {
	tg := adult(t)
	tg.Seed, tg.Pool, tg.BatchSize = 5, runtime.Pool{Workers: 2}, 100
	res := suitetest.Run(t, Suite{}, tg, map[string]any{})
	// adult_eval.csv's header: 5 num_ columns and 6 one-hot groups
	// (workclass 8, marital_status 7, occupation 14, relationship 6, race 5,
	// sex 2 columns).
	cont := res.Details["continuous_features"].([]string)
	if want := []string{"num_age", "num_education_num", "num_capital_gain", "num_capital_loss", "num_hours_per_week"}; !reflect.DeepEqual(cont, want) {
		t.Errorf("continuous features %v, want %v", cont, want)
	}
	var sizes []int
	for _, g := range res.Details["categorical_groups"].([][]string) {
		sizes = append(sizes, len(g))
	}
	if want := []int{8, 7, 14, 6, 5, 2}; !slices.Equal(sizes, want) {
		t.Errorf("one-hot group sizes %v, want %v", sizes, want)
	}
	// The Adult MLP has no imputer: a NaN input gives NaN logits, so
	// missing_values does not apply and is undefined.
	na := res.Details["not_applicable"].(map[string]string)
	if !strings.Contains(na["missing_values"], "non-finite") {
		t.Errorf("missing_values: %q, want not applicable (non-finite outputs)", na["missing_values"])
	}
	for _, f := range []string{"gaussian_noise", "category_swap"} {
		if _, ok := res.Metrics[f+".accuracy"]; !ok {
			t.Errorf("%s.accuracy undefined on a table", f)
		}
	}
	if _, ok := res.Metrics["glass_blur.accuracy"]; ok {
		t.Error("glass_blur defined on a table")
	}
	// Category swaps at severity 5 (half of the groups of every row) cost
	// more than at severity 1 (one in twenty).
	if m := res.Metrics; m["category_swap.severity=5.accuracy"] >= m["category_swap.severity=1.accuracy"] {
		t.Errorf("category_swap: severity 5 accuracy %v ≥ severity 1 %v", m["category_swap.severity=5.accuracy"], m["category_swap.severity=1.accuracy"])
	}
}

func TestSummarise(t *testing.T) {
	// Two families, severities 1 and 2, 10 samples, 8 clean-correct; the
	// figures below are worked by hand.
	cfg := Config{Families: []string{"fog", "contrast"}, Severities: []int{1, 2},
		Baseline: &Baseline{CleanError: 0.1, Errors: map[string][]float64{
			"fog": {0.3, 0.5, 1, 1, 1}, "contrast": {0.2, 0.4, 1, 1, 1}}}}
	acc := map[string]map[int]float64{"fog": {1: 0.7, 2: 0.5}, "contrast": {1: 0.8, 2: 0.6}}
	res := suite.NewResult()
	details := map[string]any{}
	summarise(res, details, cfg, cfg.Baseline, 8, 10, cfg.Families, acc, 0.95)
	m := res.Metrics
	for k, want := range map[string]float64{
		"clean_accuracy":        0.8,
		"fog.accuracy":          0.6,  // (0.7 + 0.5) / 2
		"contrast.accuracy":     0.7,  // (0.8 + 0.6) / 2
		"fog.accuracy_drop":     0.2,  // 0.8 − 0.6
		"mean_accuracy":         0.65, // (0.6 + 0.7) / 2
		"mean_corruption_error": 0.35,
		"mean_accuracy_drop":    0.15,
		"worst.accuracy":        0.6,
		"fog.ce":                0.8 / 0.8,                 // (0.3 + 0.5) / (0.3 + 0.5)
		"contrast.ce":           0.6 / 0.6,                 // (0.2 + 0.4) / (0.2 + 0.4)
		"fog.relative_ce":       (0.1 + 0.3) / (0.2 + 0.4), // Σ(E − 0.2) / Σ(E_b − 0.1)
		"contrast.relative_ce":  (0 + 0.2) / (0.1 + 0.3),
		"mce":                   1,
		"relative_mce":          ((0.1+0.3)/(0.2+0.4) + (0+0.2)/(0.1+0.3)) / 2,
	} {
		if math.Abs(m[k]-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if details["worst_family"] != "fog" {
		t.Errorf("worst family %v, want fog", details["worst_family"])
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"families": []any{"rain"}}, `families[0]: unknown family "rain"`},
		{map[string]any{"families": []any{}}, "families: empty list"},
		{map[string]any{"severities": []any{0}}, "severities[0]: 0 is outside 1..5"},
		{map[string]any{"parameters": "mnist"}, `parameters: "mnist" is not auto`},
		{map[string]any{"samples": 0}, "samples: 0 must be at least 1"},
		{map[string]any{"baseline": map[string]any{"clean_error": 0.1, "errors": map[string]any{"fog": []any{0.1}}}}, "baseline.errors.fog: want 5 errors"},
		{map[string]any{"one_hot": []any{[]any{"a"}}}, "one_hot[0]: a group needs at least two columns"},
	} {
		_, err := Suite{}.Decode(c.raw)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%v) = %v, want exit code 2 and %q", c.raw, err, c.want)
		}
	}
}

func TestRunErrors(t *testing.T) {
	cfg, err := Suite{}.Decode(map[string]any{"samples": 10})
	if err != nil {
		t.Fatal(err)
	}
	// Images without data.range.
	tg := suitetest.Digits(t, "digits_cnn.onnx")
	tg.BatchSize, tg.Pool = 16, runtime.Pool{Workers: 1}
	if _, err := (Suite{}).Run(context.Background(), tg, cfg); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "data.range") {
		t.Errorf("images without range: %v, want errs.Invalid naming data.range", err)
	}
	// A one-hot group naming a column the data lacks.
	cfg2, err := Suite{}.Decode(map[string]any{"samples": 10, "one_hot": []any{[]any{"cat_sex_Female", "cat_sex_Other"}}})
	if err != nil {
		t.Fatal(err)
	}
	ta := adult(t)
	ta.BatchSize, ta.Pool = 16, runtime.Pool{Workers: 1}
	if _, err := (Suite{}).Run(context.Background(), ta, cfg2); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), `"cat_sex_Other"`) {
		t.Errorf("unknown one-hot column: %v, want errs.Invalid naming it", err)
	}
}

func TestSetFor(t *testing.T) {
	for side, want := range map[int]string{8: "cifar", 28: "cifar", 32: "cifar", 45: "cifar", 46: "tiny", 64: "tiny", 119: "tiny", 120: "imagenet", 224: "imagenet", 512: "imagenet"} {
		if got := SetFor(side).Name; got != want {
			t.Errorf("SetFor(%d) = %s, want %s", side, got, want)
		}
	}
}

func TestLayout(t *testing.T) {
	for _, c := range []struct {
		shape []int
		k     kind
		nhwc  bool
		ok    bool
	}{
		{[]int{1, 28, 28}, images, false, true},
		{[]int{3, 32, 32}, images, false, true},
		{[]int{224, 224, 3}, images, true, true},
		{[]int{28, 28, 1}, images, true, true},
		{[]int{47}, table, false, true},
		{[]int{5, 8, 8}, 0, false, false},
		{[]int{28, 28}, 0, false, false},
	} {
		k, nhwc, err := layout(c.shape)
		if (err == nil) != c.ok || (c.ok && (k != c.k || nhwc != c.nhwc)) {
			t.Errorf("layout(%v) = %v, %v, %v", c.shape, k, nhwc, err)
		}
	}
}

func TestNHWCMatchesNCHW(t *testing.T) {
	// The same RGB image in both layouts, corrupted from the same seed,
	// gives the same pixels.
	m := loadImages(t, "inputs_rgb.npy")[0]
	h, w := m.H, m.W
	nchw := make([]float32, 3*h*w)
	nhwc := make([]float32, 3*h*w)
	for px := 0; px < h*w; px++ {
		for c := 0; c < 3; c++ {
			nchw[c*h*w+px] = float32(m.P[px*3+c])
			nhwc[px*3+c] = float32(m.P[px*3+c])
		}
	}
	a := &imageCorrupter{p: Sets[0], c: 3, h: h, w: w, lo: 0, hi: 1}
	b := &imageCorrupter{p: Sets[0], c: 3, h: h, w: w, nhwc: true, lo: 0, hi: 1}
	da := &data.Dataset{X: nchw, N: 1, SampleShape: []int{3, h, w}}
	db := &data.Dataset{X: nhwc, N: 1, SampleShape: []int{h, w, 3}}
	for _, fam := range []string{"fog", "glass_blur", "jpeg_compression"} {
		oa, ob := make([]float32, 3*h*w), make([]float32, 3*h*w)
		if err := a.corrupt(new(scratch), oa, da, 0, fam, 3, suite.BatchRand(1, 0)); err != nil {
			t.Fatal(err)
		}
		if err := b.corrupt(new(scratch), ob, db, 0, fam, 3, suite.BatchRand(1, 0)); err != nil {
			t.Fatal(err)
		}
		for px := 0; px < h*w; px++ {
			for c := 0; c < 3; c++ {
				if oa[c*h*w+px] != ob[px*3+c] {
					t.Fatalf("%s: pixel %d channel %d: NCHW %v, NHWC %v", fam, px, c, oa[c*h*w+px], ob[px*3+c])
				}
			}
		}
	}
}
