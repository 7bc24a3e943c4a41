package reports

import (
	"math"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// evalReport is a small hand-written report; every expected result below
// follows from its values by the comparison named in the gate.
func evalReport() *Report {
	return &Report{
		Suites: []SuiteResult{
			{
				Name:   "accuracy",
				Status: StatusPassed,
				Metrics: map[string]float64{
					"top1":        0.9,
					"macro_f1":    0.875,
					"nan_metric":  math.NaN(),
					"exact_count": 3,
				},
			},
			{
				Name:      "fairness",
				Status:    StatusFailed,
				Metrics:   map[string]float64{"sex.demographic_parity_difference": 0.125},
				Undefined: []string{"sex.equal_opportunity_difference"},
			},
			{Name: "evasion", Status: StatusError, Error: "ort: run failed", Metrics: map[string]float64{"x": 1}},
			{Name: "membership", Status: StatusInterrupted, Metrics: map[string]float64{"auc": 0.5}},
			{Name: "poisoning", Status: StatusSkipped},
			{Name: "quiet", Status: StatusError},
		},
	}
}

func mustGate(t *testing.T, s string) Gate {
	t.Helper()
	g, err := ParseGate(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestEvaluate(t *testing.T) {
	r := evalReport()
	tests := []struct {
		expr   string
		passed bool
		value  float64 // NaN: Value must be nil
		reason string
	}{
		// top1 is 0.9 exactly as written in evalReport: comparisons are exact.
		{"accuracy.top1 >= 0.9", true, 0.9, ""},
		{"accuracy.top1 > 0.9", false, 0.9, ""},
		{"accuracy.top1 <= 0.9", true, 0.9, ""},
		{"accuracy.top1 < 0.9", false, 0.9, ""},
		{"accuracy.top1 == 0.9", true, 0.9, ""},
		{"accuracy.top1 != 0.9", false, 0.9, ""},
		// 0.9 < 0.9000000000000001 (the next float64 up): no epsilon.
		{"accuracy.top1 >= 0.9000000000000001", false, 0.9, ""},
		{"accuracy.exact_count == 3", true, 3, ""},
		{"accuracy.exact_count != 3", false, 3, ""},
		{"accuracy.macro_f1 > 0.8", true, 0.875, ""},
		// A failed suite still has metrics; its gates are evaluated.
		{"fairness.sex.demographic_parity_difference <= 0.1", false, 0.125, ""},
		{"fairness.sex.demographic_parity_difference <= 0.125", true, 0.125, ""},
		{"fairness.sex.equal_opportunity_difference <= 0.1", false, math.NaN(), "metric is undefined (0/0)"},
		{"accuracy.nan_metric != 0", false, math.NaN(), "metric value is NaN"},
		{"accuracy.missing > 0", false, math.NaN(), `suite "accuracy" reported no metric "missing"`},
		{"evasion.x >= 0", false, math.NaN(), `suite "evasion" errored: ort: run failed`},
		{"quiet.x >= 0", false, math.NaN(), `suite "quiet" errored`},
		{"membership.auc <= 0.6", false, math.NaN(), `suite "membership" was interrupted`},
		{"poisoning.flips == 0", false, math.NaN(), `suite "poisoning" was skipped`},
		{"absent.x > 0", false, math.NaN(), `suite "absent" did not run`},
	}
	for _, tt := range tests {
		g := mustGate(t, tt.expr)
		got := Evaluate(g, r)
		if got.Expr != tt.expr || got.Metric != g.Metric || got.Op != g.Op || got.Threshold != g.Threshold {
			t.Errorf("%s: result echoes %+v, want the gate", tt.expr, got)
		}
		if got.Passed != tt.passed || got.Reason != tt.reason {
			t.Errorf("%s: passed=%v reason=%q, want passed=%v reason=%q", tt.expr, got.Passed, got.Reason, tt.passed, tt.reason)
		}
		switch {
		case math.IsNaN(tt.value) && got.Value != nil:
			t.Errorf("%s: value %v, want nil", tt.expr, *got.Value)
		case !math.IsNaN(tt.value) && (got.Value == nil || *got.Value != tt.value):
			t.Errorf("%s: value %v, want %v", tt.expr, got.Value, tt.value)
		}
	}
}

func TestEvaluatePure(t *testing.T) {
	r := evalReport()
	g := mustGate(t, "accuracy.top1 >= 0.5")
	res := Evaluate(g, r)
	*res.Value = 42 // the result must not alias the report's map
	if r.Suites[0].Metrics["top1"] != 0.9 {
		t.Errorf("Evaluate aliased the report: top1 is now %v", r.Suites[0].Metrics["top1"])
	}
	if len(r.Gates) != 0 {
		t.Errorf("Evaluate changed r.Gates")
	}
	if res := Evaluate(g, nil); res.Passed || res.Reason != "no report" {
		t.Errorf("Evaluate(nil report) = %+v", res)
	}
	// A gate built by hand, without Expr, reports its canonical form.
	if res := Evaluate(Gate{Metric: "accuracy.top1", Op: ">", Threshold: 0.5}, r); res.Expr != "accuracy.top1 > 0.5" || !res.Passed {
		t.Errorf("hand-built gate: %+v", res)
	}
}

func TestEvaluateAllPassed(t *testing.T) {
	r := evalReport()
	pass := []Gate{mustGate(t, "accuracy.top1 >= 0.9"), mustGate(t, "accuracy.macro_f1 > 0.5")}
	res := EvaluateAll(pass, r)
	if len(res) != 2 || !Passed(res) {
		t.Errorf("EvaluateAll(passing gates) = %+v, Passed false", res)
	}
	mixed := append(pass, mustGate(t, "fairness.sex.equal_opportunity_difference <= 0.1"))
	res = EvaluateAll(mixed, r)
	if len(res) != 3 || Passed(res) || res[2].Reason != ReasonUndefined {
		t.Errorf("EvaluateAll(mixed) = %+v", res)
	}
	// The suite's own account of an undefined metric follows the reason,
	// in-process and once the report has gone through JSON.
	why := "no positive labels in group F&b"
	for _, d := range []any{map[string]string{"sex.equal_opportunity_difference": why}, map[string]any{"sex.equal_opportunity_difference": why}} {
		for i := range r.Suites {
			if r.Suites[i].Name == "fairness" {
				r.Suites[i].Details = map[string]any{"undefined_reasons": d}
			}
		}
		if got := EvaluateAll(mixed, r)[2].Reason; got != ReasonUndefined+": "+why {
			t.Errorf("reason %q, want %q", got, ReasonUndefined+": "+why)
		}
	}
	if !Passed(nil) {
		t.Errorf("Passed(nil) = false, want true")
	}
}

func knownForTest(suite string) ([]string, bool) {
	m := map[string][]string{
		"accuracy": {"top1", "macro_f1", "balanced_accuracy"},
		"evasion": {
			"pgd.linf.eps=0.03.robust_accuracy",
			"pgd.linf.eps=0.1.robust_accuracy",
			"fgsm.linf.eps=0.03.robust_accuracy",
		},
		"fairness": {"sex.demographic_parity_difference"},
	}
	keys, ok := m[suite]
	if !ok {
		return []string{"accuracy", "evasion", "fairness"}, false
	}
	return keys, true
}

func TestValidateGates(t *testing.T) {
	ok := []Gate{
		mustGate(t, "accuracy.top1 >= 0.9"),
		mustGate(t, "evasion.pgd.linf.eps=0.1.robust_accuracy >= 0.3"),
	}
	if err := ValidateGates(ok, knownForTest); err != nil {
		t.Errorf("ValidateGates(known gates) = %v", err)
	}
	if err := ValidateGates(nil, knownForTest); err != nil {
		t.Errorf("ValidateGates(nil) = %v", err)
	}

	// Suggestions: "acuracy" is 1 edit from "accuracy"; "top_1" 1 edit from
	// "top1"; "robust_accuracy" shares the last segment with every evasion
	// key, listed nearest first (17, 18 and 19 insertions away); eps=0.3 is
	// 1 edit from eps=0.03 and from eps=0.1, 4 from the fgsm key.
	tests := []struct{ expr, want string }{
		{"acuracy.top1 >= 0.9", `gate "acuracy.top1 >= 0.9": unknown suite "acuracy"; did you mean "accuracy"?`},
		{"accuracy.top_1 >= 0.9", `gate "accuracy.top_1 >= 0.9": suite "accuracy" has no metric "top_1"; did you mean "top1"?`},
		{"evasion.robust_accuracy >= 0.5", `gate "evasion.robust_accuracy >= 0.5": suite "evasion" has no metric "robust_accuracy"; did you mean "pgd.linf.eps=0.1.robust_accuracy" or "pgd.linf.eps=0.03.robust_accuracy" or "fgsm.linf.eps=0.03.robust_accuracy"?`},
		{"evasion.pgd.linf.eps=0.3.robust_accuracy >= 0.5", `gate "evasion.pgd.linf.eps=0.3.robust_accuracy >= 0.5": suite "evasion" has no metric "pgd.linf.eps=0.3.robust_accuracy"; did you mean "pgd.linf.eps=0.03.robust_accuracy" or "pgd.linf.eps=0.1.robust_accuracy" or "fgsm.linf.eps=0.03.robust_accuracy"?`},
		{"zzz.q > 1", `gate "zzz.q > 1": unknown suite "zzz"`},
		{"fairness.nothing_alike > 1", `gate "fairness.nothing_alike > 1": suite "fairness" has no metric "nothing_alike"`},
	}
	for _, tt := range tests {
		err := ValidateGates([]Gate{mustGate(t, tt.expr)}, knownForTest)
		if err == nil {
			t.Errorf("ValidateGates(%s) = nil, want %s", tt.expr, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ValidateGates(%s):\n got  %s\n want %s", tt.expr, err, tt.want)
		}
		if c := errs.Code(err, -1); c != errs.Invalid {
			t.Errorf("ValidateGates(%s): exit code %d, want %d", tt.expr, c, errs.Invalid)
		}
	}

	// Every problem is reported, one per line.
	all := append(ok, mustGate(t, "acuracy.top1 >= 0.9"), mustGate(t, "accuracy.top_1 >= 0.9"))
	err := ValidateGates(all, knownForTest)
	if err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("ValidateGates(two bad gates) = %v, want two lines", err)
	}
}

func TestLevenshtein(t *testing.T) {
	// Textbook values: kitten/sitting is 3 (Levenshtein 1966; Wikipedia's
	// worked example); flaw/lawn is 2; an empty string is the other's length.
	tests := []struct {
		a, b string
		want int
	}{
		{"kitten", "sitting", 3},
		{"flaw", "lawn", 2},
		{"", "abc", 3},
		{"abc", "", 3},
		{"same", "same", 0},
	}
	for _, tt := range tests {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
