package fairness

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// linearTarget writes a linear classifier logits = x·W + [0, −0.5] (W is
// F×2 with a zero first column, so logit₁ − logit₀ = x·w − 0.5) and the CSV
// text to a temp folder and opens both; the sex column is kept.
func linearTarget(t *testing.T, w []float64, csv string) *suite.Target {
	t.Helper()
	dir := t.TempDir()
	f := int64(len(w))
	m := onnx.NewModel("linear", 13)
	b := onnx.NewBuilder(m, "l/")
	b.AddInput("x", onnx.Float32, []int64{-1, f}, "N")
	wm := make([]float64, 0, 2*f)
	for _, v := range w {
		wm = append(wm, 0, v)
	}
	wn := b.ConstFloat("w", onnx.Float32, []int64{f, 2}, wm)
	cn := b.ConstFloat("c", onnx.Float32, []int64{2}, []float64{0, -0.5})
	b.NodeOut("Gemm", []string{"x", wn, cn}, []string{"logits"})
	b.AddOutput("logits", onnx.Float32, []int64{-1, 2}, "N")
	path := filepath.Join(dir, "linear.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	opt := suitetest.CPU()
	opt.OutputKind = runtime.Logits
	ds := suitetest.Load(t, data.Spec{CSV: "data.csv", Label: "label", Keep: []string{"sex"}}, dir)
	tg := suitetest.OpenWith(t, path, ds, opt)
	tg.Classes, tg.BatchSize, tg.Pool = 2, 4, runtime.Pool{Workers: 2}
	return tg
}

func runCfg(t *testing.T, tg *suite.Target, raw map[string]any) (*suite.Result, error) {
	t.Helper()
	cfg, err := Suite{}.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return Suite{}.Run(context.Background(), tg, cfg)
}

func TestCounterfactualOneHot(t *testing.T) {
	// logit₁ − logit₀ = x0 + cat_M − 0.5. Predictions and swaps by hand:
	//   x0=0 F: −0.5 → 0; as M 0.5 → 1 (flip)    x0=0 M: 0.5 → 1; as F −0.5 → 0 (flip)
	//   x0=1 F:  0.5 → 1; as M 1.5 → 1            x0=1 M: 1.5 → 1; as F 0.5 → 1
	//   x0=−2 F: −2.5 → 0; as M −1.5 → 0          x0=−2 M: −1.5 → 0; as F −2.5 → 0
	tg := linearTarget(t, []float64{1, 0, 1}, "x0,cat_F,cat_M,sex,label\n0,1,0,F,0\n1,1,0,F,1\n-2,1,0,F,0\n0,0,1,M,1\n1,0,1,M,1\n-2,0,1,M,0\n")
	res, err := runCfg(t, tg, map[string]any{"sensitive": []any{"sex"}, "n_boot": 0,
		"counterfactual": []any{map[string]any{"attribute": "sex", "one_hot": []any{"cat_F", "cat_M"}, "values": []any{"F", "M"}}}})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "flip rate", res.Metrics["sex.counterfactual_flip_rate"], 2.0/6, handTol)
	// Predictions equal the labels; selection rates F 1/3, M 2/3.
	near(t, "DP difference", res.Metrics["sex.demographic_parity_difference"], 1.0/3, handTol)
	near(t, "accuracy difference", res.Metrics["sex.accuracy_difference"], 0, 0)
	cf := res.Details["attributes"].(map[string]any)["sex"].(map[string]any)["counterfactual"].(map[string]any)
	for _, g := range cf["by_group"].([]any) {
		near(t, "group flip rate", g.(map[string]any)["flip_rate"].(float64), 1.0/3, handTol)
	}
	if cf["rows_with_mismatched_encoding"].(int) != 0 || len(res.Warnings) != 1 {
		t.Errorf("mismatches %v, warnings %v", cf["rows_with_mismatched_encoding"], res.Warnings)
	}
	// No group has a false positive: FPR 0 in both, so the FPR ratio is
	// 0/0 and equalized_odds_ratio undefined (the one warning).
	if len(res.Undefined) != 1 || res.Undefined[0] != "sex.equalized_odds_ratio" {
		t.Errorf("undefined %v, want [sex.equalized_odds_ratio]", res.Undefined)
	}
}

func TestCounterfactualColumnThreshold(t *testing.T) {
	// logit₁ − logit₀ = x0 + s − 0.5; s codes F 0, M 1; threshold 0.65 on
	// P(1) = σ(x0 + s − 0.5) (σ(0.5) = 0.622 < 0.65 < σ(0.7) = 0.668):
	//   x0=0 F: σ(−.5) → 0; as M σ(.5) → 0          x0=0 M: σ(.5) → 0; as F → 0
	//   x0=1 F: σ(.5) → 0; as M σ(1.5) → 1 (flip)   x0=1 M: σ(1.5) → 1; as F σ(.5) → 0 (flip)
	//   x0=−2 F, M: 0 either way
	//   x0=0.2, s=1 but sex F (a mismatched row): σ(.7) → 1; as M: s stays 1
	// Flips: F 1 of 4, M 1 of 3, all 2 of 7.
	tg := linearTarget(t, []float64{1, 1}, "x0,s,sex,label\n0,0,F,0\n1,0,F,1\n-2,0,F,0\n0,1,M,1\n1,1,M,1\n-2,1,M,0\n0.2,1,F,1\n")
	res, err := runCfg(t, tg, map[string]any{"sensitive": []any{"sex"}, "n_boot": 20, "threshold": 0.65,
		"counterfactual": []any{map[string]any{"attribute": "sex", "column": "s", "values": []any{"F", "M"}, "codes": []any{0, 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "flip rate", res.Metrics["sex.counterfactual_flip_rate"], 2.0/7, handTol)
	cf := res.Details["attributes"].(map[string]any)["sex"].(map[string]any)["counterfactual"].(map[string]any)
	g := cf["by_group"].([]any)
	near(t, "F flip rate", g[0].(map[string]any)["flip_rate"].(float64), 1.0/4, handTol)
	near(t, "M flip rate", g[1].(map[string]any)["flip_rate"].(float64), 1.0/3, handTol)
	// Warnings: the mismatched row; (no false positives in either group)
	// the undefined equalized_odds_ratio; bootstrap rounds in which 3- and
	// 4-row groups lose every positive label.
	want := []string{"1 of 7 rows have an encoding in s", "1 metric(s) are undefined", "interval(s) of sex rest on fewer than 90% of the 20 rounds"}
	if cf["rows_with_mismatched_encoding"].(int) != 1 || len(res.Warnings) != len(want) {
		t.Errorf("mismatches %v, warnings %q", cf["rows_with_mismatched_encoding"], res.Warnings)
	}
	for _, w := range want {
		if !slices.ContainsFunc(res.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("no warning %q in %q", w, res.Warnings)
		}
	}
	// Selection rates at the threshold: F 1/4 (the x0=0.2 row), M 1/3.
	near(t, "DP difference", res.Metrics["sex.demographic_parity_difference"], 1.0/3-1.0/4, handTol)
	// The mean score of M is (σ(.5) + σ(1.5) + σ(−1.5))/3.
	sig := func(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
	m := res.Details["attributes"].(map[string]any)["sex"].(map[string]any)["groups"].([]any)[1].(map[string]any)
	near(t, "M mean score", m["mean_score"].(float64), (sig(.5)+sig(1.5)+sig(-1.5))/3, 1e-7)
}

func TestCounterfactualBadConfig(t *testing.T) {
	tg := linearTarget(t, []float64{1, 1}, "x0,s,sex,label\n0,0,F,0\n1,1,M,1\n")
	for _, c := range []struct {
		cf   map[string]any
		want string
	}{
		{map[string]any{"attribute": "sex", "column": "t", "values": []any{"F", "M"}, "codes": []any{0, 1}}, `column "t" is not a model feature`},
		{map[string]any{"attribute": "sex", "column": "s", "values": []any{"F", "X"}, "codes": []any{0, 1}}, `value "M" of column "sex" (sample 1) is not listed`},
	} {
		_, err := runCfg(t, tg, map[string]any{"sensitive": []any{"sex"}, "n_boot": 0, "counterfactual": []any{c.cf}})
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err %v, want exit 2 with %q", err, c.want)
		}
	}
}
