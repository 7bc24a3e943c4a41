package fairness

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// refTol is the agreement required with the Fairlearn 0.9 and AIF360 0.6
// figures of shared/fixtures/tabular/REFERENCE.json (the 1e-9).
// Predictions agree exactly (the smallest top-2 logit margin is 9.9e-5,
// logits_check in that file, far above the ~1e-6 spread between ORT
// builds), so every figure is a function of the same integer counts and
// the measured gap is a few ulps.
const refTol = 1e-9

type adultRef struct {
	Models struct {
		Adult struct {
			Accuracy  float64            `json:"test_accuracy"`
			Confusion map[string]int64   `json:"confusion_matrix_test"`
			Fairlearn map[string]flFrame `json:"fairlearn"`
			AIF360    []aifRef           `json:"aif360"`
		} `json:"adult_mlp"`
	} `json:"models"`
}

type flFrame struct {
	Sensitive []string           `json:"sensitive_features"`
	NGroups   int                `json:"n_groups"`
	Overall   map[string]float64 `json:"overall"`
	ByGroup   []map[string]any   `json:"by_group"`
	Undefined []any              `json:"rates_undefined_in_groups"`
	Figures   map[string]any     `json:"-"`
}

type aifRef struct {
	Attribute  string  `json:"protected_attribute"`
	Privileged string  `json:"privileged"`
	DI         float64 `json:"disparate_impact"`
	SPD        float64 `json:"statistical_parity_difference"`
	AOD        float64 `json:"average_odds_difference"`
	EOD        float64 `json:"equal_opportunity_difference"`
	Theil      float64 `json:"theil_index"`
}

// adultTarget is suitetest.Adult with batches of 512 and the fairness
// suite's seed derived from run seed 1.
func adultTarget(t *testing.T, workers int) *suite.Target {
	t.Helper()
	tg := suitetest.Adult(t)
	tg.BatchSize, tg.Pool, tg.Seed = 512, runtime.Pool{Workers: workers}, suite.DeriveSeed(1, "fairness")
	return tg
}

func readAdultRef(t *testing.T) (adultRef, map[string]map[string]any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.Shared(t, "fixtures/tabular"), "REFERENCE.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref adultRef
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	// The scalar figures of each fairlearn frame, read generically.
	var raw struct {
		Models struct {
			Adult struct {
				Fairlearn map[string]map[string]any `json:"fairlearn"`
			} `json:"adult_mlp"`
		} `json:"models"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	return ref, raw.Models.Adult.Fairlearn
}

func runAdult(t *testing.T, tg *suite.Target, raw map[string]any) *suite.Result {
	t.Helper()
	return suitetest.Run(t, Suite{}, tg, raw)
}

// TestAgainstFairlearnAIF360 checks every figure of the adult_mlp entry of
// REFERENCE.json: Fairlearn's MetricFrame by group and overall and its
// between-groups differences and ratios for sex, race and sex×race, and
// AIF360's metrics for sex (privileged Male) and race (privileged White,
// every other race unprivileged).
func TestAgainstFairlearnAIF360(t *testing.T) {
	ref, frames := readAdultRef(t)
	tg := adultTarget(t, 2)
	res := runAdult(t, tg, map[string]any{
		"sensitive": []any{"sex", "race"}, "intersections": true, "n_boot": 200,
		"reference_groups": map[string]any{"sex": "Male", "race": "White"},
	})
	near := func(what string, got any, want float64) {
		t.Helper()
		g, ok := got.(float64)
		if !ok {
			t.Errorf("%s = %v (%T), want %v", what, got, got, want)
			return
		}
		if d := math.Abs(g - want); !(d <= refTol) {
			t.Errorf("%s = %.17g, want %.17g (|Δ| %g > %g)", what, g, want, d, refTol)
		}
	}
	a := ref.Models.Adult
	attrs := res.Details["attributes"].(map[string]any)
	overall := res.Details["overall"].(map[string]any)
	near("overall accuracy", overall["accuracy"], a.Accuracy)
	cm := overall["confusion"].(map[string]any)
	for _, c := range []string{"tp", "fp", "fn", "tn"} {
		if cm[c].(int64) != a.Confusion[c] {
			t.Errorf("overall %s = %v, want %d", c, cm[c], a.Confusion[c])
		}
	}
	// Coverage: how many reference figures each loop compared, so that a
	// renamed REFERENCE.json key (the loops would then run zero times)
	// fails instead of passing silently.
	var nOverall, nGroup, nBetween, nAIF int
	for frame, attr := range map[string]string{"sex": "sex", "race": "race", "sex_x_race": "sex&race"} {
		fl := a.Fairlearn[frame]
		for k, v := range fl.Overall {
			if k == "count" {
				if int64(v) != overall["count"].(int64) {
					t.Errorf("%s overall count = %v, want %v", frame, overall["count"], v)
				}
				continue
			}
			near(frame+" overall "+k, overall[k], v)
			nOverall++
		}
		ad := attrs[attr].(map[string]any)
		groups := ad["groups"].([]any)
		if len(groups) != fl.NGroups || len(fl.ByGroup) != fl.NGroups {
			t.Fatalf("%s: %d groups, want %d", attr, len(groups), fl.NGroups)
		}
		for i, want := range fl.ByGroup {
			got := groups[i].(map[string]any)
			if !reflect.DeepEqual(got["values"], want["group"]) {
				t.Fatalf("%s group %d = %v, want %v (same sorted order as fairlearn)", attr, i, got["values"], want["group"])
			}
			for k, v := range want {
				switch k {
				case "group":
				case "count":
					if float64(got["count"].(int64)) != v.(float64) {
						t.Errorf("%s %v count = %v, want %v", attr, want["group"], got["count"], v)
					}
				default:
					near(attr+" "+got["group"].(string)+" "+k, got[k], v.(float64))
					nGroup++
				}
			}
		}
		for k, v := range frames[frame] {
			f, ok := v.(float64)
			if !ok || k == "n_groups" {
				continue
			}
			key := attr + "." + k
			near(key, any(res.Metrics[key]), f)
			if _, ok := res.Metrics[key]; !ok {
				t.Errorf("%s undefined", key)
			}
			nBetween++
		}
	}
	for _, w := range a.AIF360 {
		ad := attrs[w.Attribute].(map[string]any)
		if ad["reference_group"] != w.Privileged {
			t.Fatalf("%s reference group %v, want %s", w.Attribute, ad["reference_group"], w.Privileged)
		}
		m := res.Metrics
		near(w.Attribute+".disparate_impact", m[w.Attribute+".disparate_impact"], w.DI)
		near(w.Attribute+".statistical_parity_difference", m[w.Attribute+".statistical_parity_difference"], w.SPD)
		near(w.Attribute+".average_odds_difference", m[w.Attribute+".average_odds_difference"], w.AOD)
		aif := ad["aif360"].(map[string]any)
		near(w.Attribute+" aif360.equal_opportunity_difference", aif["equal_opportunity_difference"], w.EOD)
		near("theil_index", m["theil_index"], w.Theil)
		nAIF += 5
	}
	// The figures of models.adult_mlp in shared/fixtures/tabular/
	// REFERENCE.json, counted in that file: fairlearn.<frame>.overall has 5
	// rates besides count for each of the 3 frames (15); by_group has 5
	// rates per group for 2 + 5 + 10 groups (85); each frame has 7 scalar
	// between-groups figures besides n_groups (21); aif360 has 5 figures
	// for each of sex and race (10).
	for _, c := range []struct {
		what      string
		got, want int
	}{{"fairlearn overall", nOverall, 15}, {"fairlearn by_group", nGroup, 85}, {"fairlearn between-groups", nBetween, 21}, {"aif360", nAIF, 10}} {
		if c.got < c.want {
			t.Errorf("%s: compared %d reference figures, REFERENCE.json has %d (renamed keys?)", c.what, c.got, c.want)
		}
	}
	t.Logf("%d reference figures within %g", nOverall+nGroup+nBetween+nAIF, refTol)

	// Every metric Run wrote is one Metrics announced.
	cfg, _ := Suite{}.Decode(map[string]any{"sensitive": []any{"sex", "race"}, "intersections": true, "n_boot": 200})
	known := map[string]bool{}
	for _, k := range (Suite{}).Metrics(cfg, tg.Classes) {
		known[k] = true
	}
	for k := range res.Metrics {
		if !known[k] {
			t.Errorf("metric %s not listed by Metrics", k)
		}
	}
	for _, k := range res.Undefined {
		if !known[k] {
			t.Errorf("undefined metric %s not listed by Metrics", k)
		}
	}
	if len(res.Metrics)+len(res.Undefined) != len(known) {
		t.Errorf("%d metrics + %d undefined, Metrics lists %d", len(res.Metrics), len(res.Undefined), len(known))
	}
	// The bootstrap interval brackets the point estimate here (every
	// group has hundreds of rows, so the percentile interval is not
	// degenerate).
	for _, k := range []string{"sex.demographic_parity_difference", "race.equalized_odds_difference", "theil_index"} {
		lo, hi, v := res.Metrics[k+".ci_low"], res.Metrics[k+".ci_high"], res.Metrics[k]
		if !(lo < v && v < hi) {
			t.Errorf("%s = %v outside its interval [%v, %v]", k, v, lo, hi)
		}
	}
	if _, err := json.Marshal(res.Details); err != nil {
		t.Errorf("details are not JSON: %v", err)
	}
}

// TestDeterministicAcrossWorkers runs the suite with 1 and 3 workers and
// different batch sizes: every metric, bound and detail must be identical.
func TestDeterministicAcrossWorkers(t *testing.T) {
	raw := map[string]any{"sensitive": []any{"sex", "race"}, "intersections": true, "n_boot": 100, "min_group_size": 50,
		"counterfactual": []any{map[string]any{"attribute": "sex", "one_hot": []any{"cat_sex_Female", "cat_sex_Male"}, "values": []any{"Female", "Male"}}}}
	a := adultTarget(t, 1)
	r1 := runAdult(t, a, raw)
	b := adultTarget(t, 3)
	b.BatchSize = 97
	r2 := runAdult(t, b, raw)
	if !reflect.DeepEqual(r1.Metrics, r2.Metrics) {
		t.Errorf("metrics differ between 1 and 3 workers")
	}
	j1, _ := json.Marshal(r1.Details)
	j2, _ := json.Marshal(r2.Details)
	if string(j1) != string(j2) {
		t.Errorf("details differ between 1 and 3 workers")
	}
	// min_group_size 50 leaves the intersectional groups (Female, Other)
	// (39 rows) out: REFERENCE.json's by_group counts.
	ex := r1.Details["attributes"].(map[string]any)["sex&race"].(map[string]any)["excluded_groups"].([]string)
	if !reflect.DeepEqual(ex, []string{"Female&Other"}) {
		t.Errorf("excluded groups %v, want [Female&Other]", ex)
	}
	cf := r1.Details["attributes"].(map[string]any)["sex"].(map[string]any)["counterfactual"].(map[string]any)
	// The fixture's one-hot sex columns match its raw sex column on every
	// row (README.md: both are written from the same value).
	if cf["rows_with_mismatched_encoding"].(int) != 0 {
		t.Errorf("mismatched encodings: %v", cf["rows_with_mismatched_encoding"])
	}
	t.Logf("sex counterfactual flip rate %v (%v of %v rows)", r1.Metrics["sex.counterfactual_flip_rate"], cf["flipped"], cf["rows"])
}
