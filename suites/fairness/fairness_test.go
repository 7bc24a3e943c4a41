package fairness

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// handTol bounds float round-off on hand-computed ratios of small counts.
const handTol = 1e-15

// handTable is a 10-row, 2-group binary table worked by hand:
//
//	group A (y, score → pred at 0.5): (1,.9→1) (1,.8→1) (1,.3→0) (0,.6→1)
//	  TP 2, FN 1, FP 1, TN 0: SR 3/4, TPR 2/3, FPR 1/1, PPV 2/3, acc 2/4
//	group B: (1,.7→1) (1,.6→1) (1,.2→0) (0,.1→0) (0,.4→0) (0,.55→1)
//	  TP 2, FN 1, FP 1, TN 2: SR 3/6, TPR 2/3, FPR 1/3, PPV 2/3, acc 4/6
func handTable() (*Input, *Partition) {
	y := []int64{1, 1, 1, 0, 1, 1, 1, 0, 0, 0}
	s := []float64{.9, .8, .3, .6, .7, .6, .2, .1, .4, .55}
	g := []string{"A", "A", "A", "A", "B", "B", "B", "B", "B", "B"}
	pred := make([]int32, len(s))
	for i, v := range s {
		if v >= 0.5 {
			pred[i] = 1
		}
	}
	p, err := NewPartition([]string{"g"}, [][]string{g}, false)
	if err != nil {
		panic(err)
	}
	return &Input{Classes: 2, Positive: 1, Y: y, Pred: pred, Score: s}, p
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if !(math.Abs(got-want) <= tol) {
		t.Errorf("%s = %.17g, want %.17g", what, got, want)
	}
}

func TestHandTable(t *testing.T) {
	in, p := handTable()
	res, err := Compute(in, p, Options{Bins: 2, Level: 0.95, NBoot: 0})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Metrics
	// Between groups (Fairlearn): SR 3/4 vs 1/2; TPR equal; FPR 1 vs 1/3;
	// PPV equal; accuracy 1/2 vs 2/3.
	want := map[string]float64{
		"g.demographic_parity_difference": 0.25,
		"g.demographic_parity_ratio":      (1.0 / 2) / (3.0 / 4),
		"g.equalized_odds_difference":     2.0 / 3,
		"g.equalized_odds_ratio":          1.0 / 3,
		"g.equal_opportunity_difference":  0,
		"g.equal_opportunity_ratio":       1,
		"g.predictive_parity_difference":  0,
		"g.accuracy_difference":           2.0/3 - 1.0/2,
		// Reference = largest group B; unprivileged = A (AIF360):
		// DI (3/4)/(1/2); SPD 3/4 − 1/2; AOD ½[(1 − 1/3) + (2/3 − 2/3)].
		"g.disparate_impact":              1.5,
		"g.statistical_parity_difference": 0.25,
		"g.average_odds_difference":       1.0 / 3,
		// DP ratio 2/3 < 0.8.
		"g.four_fifths_passed": 0,
		// FN 2, FP 2, N 10: μ = 1, Theil = (6·1·ln 1 + 2·2·ln 2)/10.
		"theil_index": 0.4 * math.Ln2,
	}
	for k, v := range want {
		got, ok := m[k]
		if !ok {
			t.Errorf("%s undefined", k)
			continue
		}
		near(t, k, got, v, handTol)
	}
	if len(m) != len(want) || len(res.Undefined) != 0 {
		t.Errorf("metrics %v, undefined %v: want exactly %d metrics (n_boot 0: no intervals)", m, res.Undefined, len(want))
	}
	ad := res.Details["attributes"].(map[string]any)["g"].(map[string]any)
	if ad["reference_group"] != "B" || ad["reference_rule"] != "largest group" {
		t.Errorf("reference %v (%v), want B (largest group)", ad["reference_group"], ad["reference_rule"])
	}
	groups := ad["groups"].([]any)
	a, b := groups[0].(map[string]any), groups[1].(map[string]any)
	for k, v := range map[string]float64{
		"base_rate": 3.0 / 4, "selection_rate": 3.0 / 4, "accuracy": 0.5, "true_positive_rate": 2.0 / 3,
		"false_positive_rate": 1, "false_negative_rate": 1.0 / 3, "true_negative_rate": 0,
		"positive_predictive_value": 2.0 / 3, "false_discovery_rate": 1.0 / 3,
		// Balanced accuracy: mean(recall₁ 2/3, recall₀ 0/1).
		"balanced_accuracy": 1.0 / 3,
		// Mean score (.9+.8+.3+.6)/4. ECE, bins (0,.5] and (.5,1]:
		// bin 0 {.3 (y=1)}: |1 − .3|; bin 1 {.9, .8, .6}: |2/3 − 2.3/3|;
		// 1/4·0.7 + 3/4·0.1.
		"mean_score": 0.65, "ece": 0.25,
		// 4 of 10 rows; 3 of the 6 positive predictions (3 in A, 3 in B).
		"share": 0.4, "predicted_positive_share": 0.5,
	} {
		near(t, "A "+k, a[k].(float64), v, 1e-12)
	}
	// A's one predicted negative is a false negative: NPV 0/1, FOR 1/1.
	if a["negative_predictive_value"] != 0.0 || a["false_omission_rate"] != 1.0 {
		t.Errorf("A NPV %v, FOR %v: want 0, 1", a["negative_predictive_value"], a["false_omission_rate"])
	}
	// B: mean score 2.55/6; ECE bin 0 {.2 (1), .1, .4}: |1/3 − .7/3|, bin 1
	// {.7 (1), .6 (1), .55}: |2/3 − 1.85/3|; ½·0.1 + ½·0.05.
	near(t, "B mean_score", b["mean_score"].(float64), 2.55/6, 1e-12)
	near(t, "B ece", b["ece"].(float64), 0.075, 1e-12)
	near(t, "B balanced_accuracy", b["balanced_accuracy"].(float64), 2.0/3, handTol)
	if b["reference"] != true || a["reference"] != false {
		t.Errorf("reference flags A %v B %v", a["reference"], b["reference"])
	}
	// A vs B selection rate: ratio 1.5; 3/4 vs 3/6 with expected cells
	// below 5 → Fisher's exact test.
	sel := a["disparity"].(map[string]any)["selection_rate"].(map[string]any)
	near(t, "A/B selection ratio", sel["ratio"].(float64), 1.5, handTol)
	if sel["test"] != stats.FisherExactName {
		t.Errorf("test %v, want %s", sel["test"], stats.FisherExactName)
	}
}

func TestUndefinedRates(t *testing.T) {
	// Group C has no positive labels: its TPR is 0/0, so every metric
	// built from TPR is undefined (not 0, as fairlearn 0.9 would give);
	// selection-rate metrics stay defined.
	y := []int64{1, 0, 1, 0, 0, 0}
	pred := []int32{1, 0, 0, 1, 1, 0}
	g := []string{"A", "A", "B", "B", "C", "C"}
	p, err := NewPartition([]string{"g"}, [][]string{g}, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Compute(&Input{Classes: 2, Positive: 1, Y: y, Pred: pred, Score: make([]float64, 6)}, p, Options{Bins: 15, Level: 0.95, NBoot: 50, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"g.equal_opportunity_difference", "g.equal_opportunity_ratio", "g.equalized_odds_difference",
		"g.equalized_odds_ratio", "g.equal_opportunity_difference.ci_low"} {
		if !slices.Contains(res.Undefined, k) {
			t.Errorf("%s not undefined", k)
		}
		if _, ok := res.Metrics[k]; ok {
			t.Errorf("%s reported", k)
		}
	}
	why := res.Details["undefined_reasons"].(map[string]string)["g.equal_opportunity_difference"]
	if !strings.Contains(why, `"C"`) {
		t.Errorf("reason %q does not name group C", why)
	}
	// C's TPR and FNR are null in details.
	c := res.Details["attributes"].(map[string]any)["g"].(map[string]any)["groups"].([]any)[2].(map[string]any)
	if c["group"] != "C" || c["true_positive_rate"] != nil || c["false_negative_rate"] != nil {
		t.Errorf("group C: %v", c)
	}
	// Selection rates 1/2, 1/2, 1/2: DP difference 0, ratio 1.
	if res.Metrics["g.demographic_parity_difference"] != 0 || res.Metrics["g.demographic_parity_ratio"] != 1 {
		t.Errorf("DP = %v, %v", res.Metrics["g.demographic_parity_difference"], res.Metrics["g.demographic_parity_ratio"])
	}
}

func TestMinGroupSizeAndIntersections(t *testing.T) {
	// sex × race: (F,a) 3 rows, (F,b) 1, (M,a) 2, (M,b) 4. With
	// min_group_size 2, (F,b) is reported, flagged and left out.
	sex := []string{"F", "F", "F", "F", "M", "M", "M", "M", "M", "M"}
	race := []string{"a", "a", "a", "b", "a", "a", "b", "b", "b", "b"}
	y := []int64{1, 0, 1, 1, 0, 1, 1, 0, 0, 1}
	pred := []int32{1, 0, 0, 1, 1, 1, 1, 0, 1, 1}
	p, err := NewPartition([]string{"sex", "race"}, [][]string{sex, race}, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.NCells != 4 || len(p.Attrs) != 3 || p.Attrs[2].Name != "sex&race" {
		t.Fatalf("partition: %d cells, attrs %d", p.NCells, len(p.Attrs))
	}
	if want := []string{"F&a", "F&b", "M&a", "M&b"}; !slices.Equal(p.Attrs[2].Groups, want) {
		t.Fatalf("groups %v, want %v", p.Attrs[2].Groups, want)
	}
	res, err := Compute(&Input{Classes: 2, Positive: 1, Y: y, Pred: pred, Score: make([]float64, 10)}, p,
		Options{MinGroupSize: 2, Bins: 15, Level: 0.95, Reference: map[string]string{"sex&race": "M&a"}})
	if err != nil {
		t.Fatal(err)
	}
	ad := res.Details["attributes"].(map[string]any)["sex&race"].(map[string]any)
	if ex := ad["excluded_groups"].([]string); !slices.Equal(ex, []string{"F&b"}) {
		t.Errorf("excluded %v", ex)
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "sex&race: 1 group(s) under min_group_size 2 left out of the disparities: F&b") {
		t.Errorf("warnings %q do not name the excluded group", res.Warnings)
	}
	// Eligible selection rates: F&a 1/3, M&a 2/2, M&b 3/4 → DP diff 2/3,
	// ratio 1/3 (F&b's 1/1 does not count). Reference M&a (configured);
	// pooled unprivileged F&a + M&b: 4/7 selected → DI (4/7)/1.
	near(t, "DP diff", res.Metrics["sex&race.demographic_parity_difference"], 2.0/3, handTol)
	near(t, "DP ratio", res.Metrics["sex&race.demographic_parity_ratio"], 1.0/3, handTol)
	near(t, "DI", res.Metrics["sex&race.disparate_impact"], 4.0/7, handTol)
	// sex alone: F 2/4 selected, M 5/6 → DP diff 1/3.
	near(t, "sex DP diff", res.Metrics["sex.demographic_parity_difference"], 5.0/6-0.5, handTol)
	if _, err := Compute(&Input{Classes: 2, Positive: 1, Y: y, Pred: pred, Score: make([]float64, 10)}, p,
		Options{MinGroupSize: 2, Bins: 15, Level: 0.95, Reference: map[string]string{"sex&race": "F&b"}}); errs.Code(err, 0) != errs.Invalid {
		t.Errorf("small reference group: err %v, want exit 2", err)
	}
}

func TestMulticlass(t *testing.T) {
	// 3 classes, positive class 2. Group A predicts 0,1,2,2; group B
	// predicts 0,0,0,1. Per-class selection rates A (1/4, 1/4, 2/4),
	// B (3/4, 1/4, 0): class 0 DP diff 1/2, ratio 1/3; class 1 diff 0,
	// ratio 1; class 2 diff 1/2, ratio 0.
	y := []int64{0, 1, 2, 1, 0, 0, 2, 1}
	pred := []int32{0, 1, 2, 2, 0, 0, 0, 1}
	g := []string{"A", "A", "A", "A", "B", "B", "B", "B"}
	p, _ := NewPartition([]string{"g"}, [][]string{g}, false)
	res, err := Compute(&Input{Classes: 3, Positive: 2, Y: y, Pred: pred, Score: make([]float64, 8)}, p, Options{Bins: 15, Level: 0.95})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]float64{
		"g.class.0.demographic_parity_difference": 0.5, "g.class.0.demographic_parity_ratio": 1.0 / 3,
		"g.class.1.demographic_parity_difference": 0, "g.class.1.demographic_parity_ratio": 1,
		"g.class.2.demographic_parity_difference": 0.5, "g.class.2.demographic_parity_ratio": 0,
		// Accuracy: A 3/4 (y=1 predicted 2 is wrong), B 3/4 (y=2
		// predicted 0 is wrong) → difference 0.
		"g.accuracy_difference": 0,
	} {
		near(t, k, res.Metrics[k], v, handTol)
	}
	cfg, _ := Suite{}.Decode(map[string]any{"sensitive": []any{"g"}, "n_boot": 0})
	keys := Suite{}.Metrics(cfg, 3)
	if len(res.Metrics)+len(res.Undefined) != len(keys) {
		t.Errorf("%d metrics + %d undefined, Metrics lists %d", len(res.Metrics), len(res.Undefined), len(keys))
	}
}

func TestBootstrapDeterministic(t *testing.T) {
	in, p := handTable()
	opt := Options{Bins: 15, Level: 0.9, NBoot: 300, Seed: 42}
	r1, _ := Compute(in, p, opt)
	r2, _ := Compute(in, p, opt)
	if len(r1.Metrics) != len(r2.Metrics) {
		t.Fatal("metric sets differ")
	}
	for k, v := range r1.Metrics {
		if r2.Metrics[k] != v {
			t.Errorf("%s: %v then %v with the same seed", k, v, r2.Metrics[k])
		}
	}
	// Bounds are ordered and, for a difference of rates, inside [0, 1].
	for _, m := range disparityNames {
		k := "g." + m
		l, okl := r1.Metrics[k+".ci_low"]
		h, okh := r1.Metrics[k+".ci_high"]
		if okl != okh || (okl && l > h) {
			t.Errorf("%s interval [%v, %v]", k, l, h)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		raw  map[string]any
		want string
	}{
		{"no sensitive", map[string]any{}, "sensitive"},
		{"unknown key", map[string]any{"sensitive": []any{"sex"}, "treshold": 0.5}, "treshold"},
		{"threshold", map[string]any{"sensitive": []any{"sex"}, "threshold": 1.5}, "threshold: 1.5 is outside [0, 1]"},
		{"negative threshold", map[string]any{"sensitive": []any{"sex"}, "threshold": -0.1}, "threshold"},
		{"n_boot", map[string]any{"sensitive": []any{"sex"}, "n_boot": -1}, "n_boot"},
		{"min size", map[string]any{"sensitive": []any{"sex"}, "min_group_size": -3}, "min_group_size"},
		{"twice", map[string]any{"sensitive": []any{"sex", "sex"}}, "twice"},
		{"intersections of one", map[string]any{"sensitive": []any{"sex"}, "intersections": true}, "intersections"},
		{"reference of unknown attribute", map[string]any{"sensitive": []any{"sex"}, "reference_groups": map[string]any{"race": "White"}}, "reference_groups.race"},
		{"counterfactual attribute", map[string]any{"sensitive": []any{"sex"}, "counterfactual": []any{map[string]any{"attribute": "race", "column": "r", "values": []any{"0", "1"}}}}, "counterfactual[0].attribute"},
		{"counterfactual both", map[string]any{"sensitive": []any{"sex"}, "counterfactual": []any{map[string]any{"attribute": "sex", "column": "s", "one_hot": []any{"a", "b"}, "values": []any{"F", "M"}}}}, "exactly one"},
		{"counterfactual lengths", map[string]any{"sensitive": []any{"sex"}, "counterfactual": []any{map[string]any{"attribute": "sex", "one_hot": []any{"a"}, "values": []any{"F", "M"}}}}, "one_hot has 1"},
		{"counterfactual codes", map[string]any{"sensitive": []any{"sex"}, "counterfactual": []any{map[string]any{"attribute": "sex", "column": "s", "values": []any{"F", "M"}}}}, "give codes"},
	}
	for _, c := range cases {
		_, err := Suite{}.Decode(c.raw)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want exit 2 mentioning %q", c.name, err, c.want)
		}
	}
	// reference_groups keys may arrive lower-cased (viper): matched
	// ignoring case.
	cfg, err := Suite{}.Decode(map[string]any{"sensitive": []any{"Sex"}, "reference_groups": map[string]any{"sex": "Male"}})
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(Config)
	if g, ok := c.referenceFor("Sex"); !ok || g != "Male" {
		t.Errorf("referenceFor(Sex) = %q, %v", g, ok)
	}
}

// badTarget is a target whose Run fails before any inference.
func badTarget(y []int64, cols map[string][]string, labelNames []string) *suite.Target {
	return &suite.Target{Classes: 2, ConfidenceLevel: 0.95, BatchSize: 4,
		Data: &data.Dataset{N: len(y), Y: y, Columns: cols, LabelNames: labelNames, SampleShape: []int{1}, X: make([]float32, len(y))}}
}

func TestRunBadInput(t *testing.T) {
	cfg := func(raw map[string]any) any {
		c, err := Suite{}.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sexRace := map[string]any{"sensitive": []any{"sex", "race"}}
	y := []int64{0, 1, 0, 1}
	cases := []struct {
		name string
		tg   *suite.Target
		cfg  any
		want string
	}{
		{"missing column", badTarget(y, map[string][]string{"sex": {"F", "M", "F", "M"}}, nil), cfg(sexRace), `column "race" is not in the CSV data`},
		{"empty value", badTarget(y, map[string][]string{"sex": {"F", "", "F", "M"}, "race": {"a", "b", "a", "b"}}, nil), cfg(sexRace), `sensitive column "sex": 1 empty value(s); first at sample 1`},
		{"single group", badTarget(y, map[string][]string{"sex": {"F", "F", "F", "F"}, "race": {"a", "b", "a", "b"}}, nil), cfg(sexRace), `single group ("F")`},
		{"absent positive label", badTarget([]int64{0, 0, 0, 0}, map[string][]string{"sex": {"F", "M", "F", "M"}, "race": {"a", "b", "a", "b"}}, nil), cfg(sexRace), "class 1 does not occur"},
		{"unknown positive name", badTarget(y, map[string][]string{"sex": {"F", "M", "F", "M"}, "race": {"a", "b", "a", "b"}}, []string{"no", "yes"}),
			cfg(map[string]any{"sensitive": []any{"sex"}, "positive_label": "Yes"}), `"Yes" is not a label of the data (labels: no, yes)`},
		{"positive id out of range", badTarget(y, map[string][]string{"sex": {"F", "M", "F", "M"}}, nil),
			cfg(map[string]any{"sensitive": []any{"sex"}, "positive_label": 2}), `"2" is not a class id`},
		{"no labels", badTarget(nil, nil, nil), cfg(sexRace), "needs labels"},
		{"one label name", badTarget([]int64{0, 0, 0, 0}, map[string][]string{"sex": {"F", "M", "F", "M"}}, []string{"no"}),
			cfg(map[string]any{"sensitive": []any{"sex"}}), `the labels hold a single class ("no")`},
		{"numpy data", badTarget(y, nil, nil), cfg(sexRace), "needs CSV data (data.csv) with the sensitive columns sex, race; NumPy data"},
		{"unknown reference", badTarget(y, map[string][]string{"sex": {"F", "M", "F", "M"}}, nil),
			cfg(map[string]any{"sensitive": []any{"sex"}, "reference_groups": map[string]any{"sex": "X"}}), `"X" is not a value of sex (values: F, M)`},
	}
	for _, c := range cases {
		if c.name == "unknown reference" {
			continue // needs predictions: checked in TestComputeReferenceError
		}
		_, err := Suite{}.Run(context.Background(), c.tg, c.cfg)
		if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want exit 2 with %q", c.name, err, c.want)
		}
	}
}

func TestComputeReferenceError(t *testing.T) {
	in, p := handTable()
	_, err := Compute(in, p, Options{Bins: 15, Level: 0.95, Reference: map[string]string{"g": "X"}})
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), `"X" is not a value of g (values: A, B)`) {
		t.Errorf("err %v", err)
	}
}

func TestDecide(t *testing.T) {
	// Logits (0, ln 3): softmax (1/4, 3/4).
	d := decider{k: 2, pos: 1, thr: -1}
	p, s := d.decide([]float32{0, float32(math.Log(3))})
	if p != 1 || math.Abs(s-0.75) > 1e-7 {
		t.Errorf("argmax: %d, %v", p, s)
	}
	d.thr = 0.8
	if p, _ := d.decide([]float32{0, float32(math.Log(3))}); p != 0 {
		t.Errorf("threshold 0.8 on 0.75 predicted %d", p)
	}
	// Probabilities, 3 classes, positive 0 at 0.3: threshold 0.25 picks 0;
	// without it the arg max 2.
	d = decider{k: 3, pos: 0, probs: true, thr: 0.25}
	if p, s := d.decide([]float32{0.3, 0.2, 0.5}); p != 0 || math.Abs(s-0.3) > 1e-7 {
		t.Errorf("threshold: %d, %v", p, s)
	}
	d.thr = 0.5
	if p, _ := d.decide([]float32{0.3, 0.2, 0.5}); p != 2 {
		t.Errorf("below threshold: %d, want the arg max of the others (2)", p)
	}
}

func TestMetricsKeys(t *testing.T) {
	cfg, _ := Suite{}.Decode(map[string]any{"sensitive": []any{"sex", "race"}, "intersections": true,
		"counterfactual": []any{map[string]any{"attribute": "sex", "column": "s", "values": []any{"0", "1"}}}})
	keys := Suite{}.Metrics(cfg, 2)
	for _, k := range []string{"sex.demographic_parity_difference", "sex.demographic_parity_difference.ci_low",
		"sex&race.equalized_odds_ratio.ci_high", "race.four_fifths_passed", "sex.counterfactual_flip_rate.ci_high", "theil_index.ci_low"} {
		if !slices.Contains(keys, k) {
			t.Errorf("Metrics lacks %s", k)
		}
	}
	// 3 attributes × (11 disparities × 3 + four_fifths) + flip rate ×3 +
	// theil ×3.
	if len(keys) != 3*(11*3+1)+3+3 {
		t.Errorf("%d keys", len(keys))
	}
}

// TestCountBootstrapMatchesRowBootstrap: resampling each group's counts
// multinomially is the same distribution as resampling its rows with
// replacement. A row-level stratified bootstrap, written here directly
// (draw n_g row indices per group, recount, recompute), must give the same
// percentile bounds up to Monte Carlo error. With R rounds, the 2.5%
// quantile of a near-normal statistic with bootstrap SD s has standard
// error sqrt(.025·.975/R)/φ(1.96)·s ≈ 0.019·s at R = 20,000, so the gap
// between two independent estimates has SE ≈ 0.027·s; the tolerance
// 0.15·s is 5.5 of those.
func TestCountBootstrapMatchesRowBootstrap(t *testing.T) {
	const rounds, tolSD = 20000, 0.15
	in, cols := synthetic(3000)
	p, err := NewPartition([]string{"race"}, [][]string{cols[1]}, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Compute(in, p, Options{NBoot: rounds, Bins: 15, Seed: 24, Level: 0.95, Interval: IntervalPercentile})
	if err != nil {
		t.Fatal(err)
	}
	a := p.Attrs[0]
	ng := len(a.Groups)
	rows := make([][]int, ng)
	for i, c := range p.Cell {
		g := a.Of[c]
		rows[g] = append(rows[g], i)
	}
	elig := make([]int, ng)
	ref := 0
	for g := range ng {
		elig[g] = g
		if len(rows[g]) > len(rows[ref]) {
			ref = g
		}
	}
	names := metricNames(2)
	reps := make([][]float64, len(names))
	r := rand.New(rand.NewPCG(34, 11))
	cells := make([]int64, ng*nKinds*2)
	vec := make([]float64, len(names))
	for range rounds {
		clear(cells)
		for g, idx := range rows {
			for range idx {
				i := idx[r.IntN(len(idx))]
				kind := kindOther
				if in.Y[i] == 1 {
					kind = kindPos
				} else if int32(in.Y[i]) == in.Pred[i] {
					kind = kindHit
				}
				cells[(g*2+int(in.Pred[i]))*nKinds+kind]++
			}
		}
		disparities(vec, cells, 2, 1, elig, ref)
		for m, v := range vec {
			reps[m] = append(reps[m], v)
		}
	}
	var worst float64 // largest gap in bootstrap SDs
	for m, name := range names {
		var sum, sq float64
		for _, v := range reps[m] {
			sum += v
			sq += v * v
		}
		mean := sum / rounds
		sd := math.Sqrt(sq/rounds - mean*mean)
		lo, hi, _ := stats.PercentileCI(reps[m], 0.95)
		key := "race." + name
		near(t, key+".ci_low", res.Metrics[key+".ci_low"], lo, tolSD*sd)
		near(t, key+".ci_high", res.Metrics[key+".ci_high"], hi, tolSD*sd)
		worst = math.Max(worst, math.Max(math.Abs(res.Metrics[key+".ci_low"]-lo), math.Abs(res.Metrics[key+".ci_high"]-hi))/sd)
	}
	t.Logf("largest gap between count and row bootstrap bounds: %.3f bootstrap SDs", worst)
}
