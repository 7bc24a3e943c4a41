package groups

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// tol is the tolerance of the hand-computed figures (exact fractions).
const tol = 1e-12

// TestWriteWorstAndGap checks worst group, gap, the min_group_size rule and
// the details on ten rows counted by hand:
//
//	sex: F rows 0-3 (hits 0, 1: 2/4), M rows 4-9 (hits 4-8: 5/6)
//	race: a rows 0, 4, 5, 6, 7, 8, 9 (hits 0, 4-8: 6/7); b rows 1, 2 (hits 1: 1/2); c row 3 (0/1)
//
// With min_group_size 2, race c (1 row) is left out: sex gap 5/6 − 1/2 =
// 1/3, race gap 6/7 − 1/2 = 5/14 (the largest), worst group F or b at 1/2
// (F first: attribute order).
func TestWriteWorstAndGap(t *testing.T) {
	sex := []string{"F", "F", "F", "F", "M", "M", "M", "M", "M", "M"}
	race := []string{"a", "b", "b", "c", "a", "a", "a", "a", "a", "a"}
	hit := []bool{true, true, false, false, true, true, true, true, true, false}
	p, err := NewPartition("by column", []string{"sex", "race"}, [][]string{sex, race}, false)
	if err != nil {
		t.Fatal(err)
	}
	b := By{Columns: []string{"sex", "race"}, MinGroupSize: 2}
	res := suite.NewResult()
	b.Write(res, "accuracy", p, Proportions(p, hit, 0.95), LowerIsWorse, Options{Bounds: true, Seed: 1, Level: 0.95})
	want := map[string]float64{
		"accuracy.worst_group":      0.5,
		"accuracy.gap":              6.0/7 - 0.5,
		"accuracy.sex.worst_group":  0.5,
		"accuracy.sex.gap":          5.0/6 - 0.5,
		"accuracy.race.worst_group": 0.5,
		"accuracy.race.gap":         6.0/7 - 0.5,
	}
	for k, v := range want {
		if got, ok := res.Metrics[k]; !ok || math.Abs(got-v) > tol {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	keys := b.Keys("accuracy", true)
	if len(keys) != 18 {
		t.Errorf("Keys: %d keys, want 18 (3 scopes × worst_group and gap, each with two bounds): %v", len(keys), keys)
	}
	for _, k := range keys {
		if _, ok := res.Metrics[k]; !ok {
			t.Errorf("listed key %s not written", k)
		}
	}
	if len(res.Metrics) != len(keys) {
		t.Errorf("wrote %d metrics, Keys lists %d", len(res.Metrics), len(keys))
	}
	det := res.Details[DetailsKey].(map[string]any)["accuracy"].(map[string]any)
	if w := det["worst_group"].(map[string]any); w["attribute"] != "sex" || w["group"] != "F" {
		t.Errorf("worst group %v, want sex F", w)
	}
	if det["gap_attribute"] != "race" {
		t.Errorf("gap attribute %v, want race", det["gap_attribute"])
	}
	rc := det["attributes"].(map[string]any)["race"].(map[string]any)
	if ex := rc["excluded_groups"].([]string); !slices.Equal(ex, []string{"c"}) {
		t.Errorf("excluded %v, want [c]", ex)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "race=c") {
		t.Errorf("warnings %q, want one naming race=c", res.Warnings)
	}
	// Higher is worse: the worst group is the highest, race a at 6/7
	// (above M's 5/6).
	res = suite.NewResult()
	b.Write(res, "x", p, Proportions(p, hit, 0.95), HigherIsWorse, Options{})
	if got := res.Metrics["x.worst_group"]; math.Abs(got-6.0/7) > tol {
		t.Errorf("higher is worse: worst %v, want 6/7", got)
	}
	if _, ok := res.Metrics["x.worst_group.ci_low"]; ok {
		t.Error("ci false wrote bounds")
	}
}

// TestWriteUndefined: one eligible group per attribute gives no gap.
func TestWriteUndefined(t *testing.T) {
	p, err := NewPartition("by column", []string{"g"}, [][]string{{"a", "a", "b"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	res := suite.NewResult()
	By{Columns: []string{"g"}, MinGroupSize: 2}.Write(res, "m", p, Proportions(p, []bool{true, false, true}, 0.95), LowerIsWorse, Options{})
	if !slices.Contains(res.Undefined, "m.gap") || !slices.Contains(res.Undefined, "m.g.gap") {
		t.Errorf("undefined %v, want m.gap and m.g.gap", res.Undefined)
	}
	if got := res.Metrics["m.worst_group"]; got != 0.5 {
		t.Errorf("worst %v, want 0.5 (group a, 1 of 2)", got)
	}
}

// TestCheckMissingColumn: a by column the data lacks is errs.Invalid
// naming the key and the column.
func TestCheckMissingColumn(t *testing.T) {
	d := &data.Dataset{N: 2, Features: []string{"x"}, Columns: map[string][]string{"sex": {"F", "M"}}}
	err := By{Columns: []string{"sex", "race"}}.Check("accuracy", "data", d)
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), `suites.accuracy.by[1]: column "race" is not in the CSV data`) {
		t.Fatalf("err %v, want errs.Invalid naming by[1] and race", err)
	}
	if err := (By{Columns: []string{"sex", "sex"}}).Validate("evasion"); err == nil || !strings.Contains(err.Error(), `by[1]: "sex" is listed twice`) {
		t.Errorf("duplicate: %v", err)
	}
}

// TestGapInterval checks the gap's bootstrap interval on two groups of
// 10,000 rows with 5,000 and 6,000 hits: the gap 0.1 is 14 standard
// errors from 0, so max − min is the difference of the two proportions and
// its interval is close to the normal one, 0.1 ± 1.96·√(0.25/10⁴ +
// 0.24/10⁴) = 0.1 ± 0.01372. Tolerance 0.002: the Monte Carlo error of a
// 2.5 % quantile of 1000 rounds is about 0.0015 here. The same seed gives
// the same interval; n_boot 0 gives none.
func TestGapInterval(t *testing.T) {
	const n = 10000
	g := make([]string, 2*n)
	hit := make([]bool, 2*n)
	for i := range n {
		g[i], g[n+i] = "a", "b"
		hit[i], hit[n+i] = i < 5000, i < 6000
	}
	p, err := NewPartition("by column", []string{"g"}, [][]string{g}, false)
	if err != nil {
		t.Fatal(err)
	}
	run := func(b By) *suite.Result {
		res := suite.NewResult()
		b.Write(res, "m", p, Proportions(p, hit, 0.95), LowerIsWorse, Options{Bounds: true, Seed: 7, Level: 0.95})
		return res
	}
	res := run(By{Columns: []string{"g"}})
	half := 1.96 * math.Sqrt(0.25/n+0.24/n)
	for k, v := range map[string]float64{"m.gap": 0.1, "m.gap.ci_low": 0.1 - half, "m.gap.ci_high": 0.1 + half, "m.g.gap.ci_low": 0.1 - half} {
		tol := 0.002
		if k == "m.gap" {
			tol = 1e-12
		}
		if got, ok := res.Metrics[k]; !ok || math.Abs(got-v) > tol {
			t.Errorf("%s = %v (present %v), want %v ± %v", k, got, ok, v, tol)
		}
	}
	if again := run(By{Columns: []string{"g"}}); again.Metrics["m.gap.ci_low"] != res.Metrics["m.gap.ci_low"] {
		t.Error("the same seed gave another interval")
	}
	zero := 0
	if res := run(By{Columns: []string{"g"}, NBoot: &zero}); len(res.Metrics) != 8 {
		t.Errorf("n_boot 0: %d metrics, want 8 (2 scopes × worst_group, its bounds, gap; no gap bounds): %v", len(res.Metrics), res.Metrics)
	}
}

// TestIntersections: intersections adds the attribute "sex&race" with one
// group per observed pair; on TestWriteWorstAndGap's rows the pairs are
// F&a (row 0, 1/1), F&b (rows 1, 2: 1/2), F&c (row 3: 0/1) and M&a (rows
// 4-9: 5/6), so with min_group_size 2 the eligible F&b and M&a give the
// gap 5/6 − 1/2 = 1/3.
func TestIntersections(t *testing.T) {
	sex := []string{"F", "F", "F", "F", "M", "M", "M", "M", "M", "M"}
	race := []string{"a", "b", "b", "c", "a", "a", "a", "a", "a", "a"}
	hit := []bool{true, true, false, false, true, true, true, true, true, false}
	b := By{Columns: []string{"sex", "race"}, MinGroupSize: 2, Intersections: true}
	d := &data.Dataset{N: 10, Features: []string{"x"}, Columns: map[string][]string{"sex": sex, "race": race}}
	p, err := b.Partition("accuracy", []string{"data"}, d)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Attrs[2].Groups; !slices.Equal(got, []string{"F&a", "F&b", "F&c", "M&a"}) {
		t.Fatalf("intersection groups %v", got)
	}
	res := suite.NewResult()
	b.Write(res, "m", p, Proportions(p, hit, 0.95), LowerIsWorse, Options{})
	if got := res.Metrics["m.sex&race.gap"]; math.Abs(got-(5.0/6-0.5)) > tol {
		t.Errorf("m.sex&race.gap = %v, want 1/3", got)
	}
	if keys := b.Keys("m", false); !slices.Contains(keys, "m.sex&race.worst_group") || len(keys) != 8 {
		t.Errorf("Keys %v, want 4 scopes × worst_group and gap", keys)
	}
	if err := (By{Columns: []string{"sex"}, Intersections: true}).Validate("accuracy"); err == nil {
		t.Error("intersections with one column accepted")
	}
}
