package reports

import "time"

// richReports returns a baseline report and a later report of the same
// model family, filled with every Details convention the writers draw
// from (per-sample outcomes, robustness curves, ROC points, per-group
// rates, calibration bins) and with waivers, a baseline comparison and scan
// findings. The numbers are made up; the ones tests assert are worked out
// by hand beside the assertion.
func richReports() (old, cur *Report) {
	f64 := func(x float64) *float64 { return &x }
	mk := func(correct []bool, acc float64, version string) *Report {
		r := fixtureReport()
		r.Suites[0].Version = version
		bits := NewBits(len(correct))
		for i, c := range correct {
			bits.Set(i, c)
		}
		r.Suites[0].Metrics = map[string]float64{
			"accuracy": acc, "accuracy.ci_low": acc - 0.05, "accuracy.ci_high": acc + 0.04,
			"ece": 0.03, "balanced_accuracy": acc,
		}
		r.Suites[0].Details = map[string]any{
			"samples":    len(correct),
			PerSampleKey: PerSampleDetails(len(correct), nil, map[string]Bits{"correct": bits}),
			"calibration_bins": []any{
				map[string]any{"lo": 0.5, "hi": 0.75, "count": 4, "accuracy": 0.5, "confidence": 0.62},
				map[string]any{"lo": 0.75, "hi": 1.0, "count": 8, "accuracy": 0.875, "confidence": 0.93},
			},
		}
		r.Suites[1].Details = map[string]any{
			"curves": map[string]any{
				"pgd.linf":  []any{map[string]any{"eps": 0.01, "robust_accuracy": 0.8}, map[string]any{"eps": 0.03, "robust_accuracy": 0.5}, map[string]any{"eps": 0.1, "robust_accuracy": 0.1}},
				"fgsm.linf": []any{map[string]any{"eps": 0.01, "robust_accuracy": 0.85}, map[string]any{"eps": 0.03, "robust_accuracy": 0.6}, map[string]any{"eps": 0.1, "robust_accuracy": 0.3}},
				"pgd.l2":    []any{map[string]any{"eps": 0.5, "robust_accuracy": 0.7}, map[string]any{"eps": 1.0, "robust_accuracy": 0.4}},
			},
		}
		r.Suites = append(r.Suites,
			SuiteResult{Name: "membership", Version: "1", Status: StatusPassed, DurationS: 1, Seed: 45,
				Metrics: map[string]float64{"loss.auc": 0.62},
				Details: map[string]any{"attacks": map[string]any{
					"loss":       map[string]any{"roc": []any{map[string]any{"fpr": 0.0, "tpr": 0.0}, map[string]any{"fpr": 0.1, "tpr": 0.25}, map[string]any{"fpr": 0.5, "tpr": 0.7}, map[string]any{"fpr": 1.0, "tpr": 1.0}}},
					"confidence": map[string]any{"roc": []any{map[string]any{"fpr": 0.0, "tpr": 0.0}, map[string]any{"fpr": 0.2, "tpr": 0.3}, map[string]any{"fpr": 1.0, "tpr": 1.0}}},
				}}},
			SuiteResult{Name: "groups", Version: "1", Status: StatusPassed, DurationS: 1, Seed: 46,
				Metrics: map[string]float64{"sex.demographic_parity_difference": 0.12},
				Details: map[string]any{"attributes": map[string]any{"sex": map[string]any{"groups": []any{
					map[string]any{"group": "female", "selection_rate": 0.2, "true_positive_rate": 0.6, "false_positive_rate": 0.05},
					map[string]any{"group": "male", "selection_rate": 0.32, "true_positive_rate": 0.7, "false_positive_rate": nil},
				}}}}},
		)
		return r
	}
	// 12 samples. Baseline: 10 correct (samples 2 and 7 wrong). Now:
	// samples 0, 1, 3, 4 broken, sample 7 fixed → 7 correct.
	oc := []bool{true, true, false, true, true, true, true, false, true, true, true, true}
	nc := []bool{false, false, false, false, false, true, true, true, true, true, true, true}
	old = mk(oc, 10.0/12, "1")
	old.StartedAt = time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	cur = mk(nc, 7.0/12, "1")
	cur.Gates = append(cur.Gates,
		GateResult{Expr: "accuracy.accuracy >= 0.9", Metric: "accuracy.accuracy", Op: ">=", Threshold: 0.9, Value: f64(7.0 / 12)},
		GateResult{Expr: "accuracy.ece <= 0.01", Metric: "accuracy.ece", Op: "<=", Threshold: 0.01, Value: f64(0.03)},
	)
	waivers := []Waiver{
		{Gate: "accuracy.accuracy >= 0.9", Until: "2027-01-31", Reason: "retraining lands in January (JIRA-123)"},
		{Gate: "accuracy.ece <= 0.01", Until: "2026-10-31", Reason: "calibration fix promised for October"},
	}
	ApplyWaivers(cur.Gates, waivers, cur.StartedAt)
	regs := []Regression{
		{Metric: "accuracy.accuracy", MaxDrop: f64(0.02)},
		{Metric: "accuracy.ece", MaxRise: f64(0.01)},
	}
	cur.Baseline = Compare(old, cur, "nightly/2026-11-21/report.json", regs, waivers)
	cur.Scan = &ScanResult{Path: cur.Model.Path, SHA256: cur.Model.SHA256, Findings: []Finding{
		{RuleID: "onnx/contrib-domain", Severity: SeverityNote, Message: "node FusedGemm_0 uses operator domain com.microsoft", Location: "node FusedGemm_0"},
	}}
	cur.Passed = Passed(cur.Gates) && RegressionsPassed(cur.Baseline)
	return old, cur
}
