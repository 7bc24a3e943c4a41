package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/reports"
)

// TestSummaryFlagsExcludedInterval: a metric whose interval does not
// contain its value (the COMPAS figures) gets a line under it with
// the suite's note; a metric whose interval contains it does not.
func TestSummaryFlagsExcludedInterval(t *testing.T) {
	note := "the percentile interval [0.099, 0.571] does not contain the estimate 0.086: a boundary statistic"
	r := &reports.Report{Suites: []reports.SuiteResult{{Name: "fairness", Status: reports.StatusPassed,
		Metrics: map[string]float64{
			"race.accuracy_difference": 0.086, "race.accuracy_difference.ci_low": 0.099, "race.accuracy_difference.ci_high": 0.571,
			"sex.accuracy_difference": 0.05, "sex.accuracy_difference.ci_low": 0.02, "sex.accuracy_difference.ci_high": 0.08,
		},
		Details: map[string]any{"interval_notes": map[string]string{"race.accuracy_difference": note}},
	}}}
	var b bytes.Buffer
	PrintSummary(&b, r, nil)
	out := b.String()
	want := "      race.accuracy_difference     0.0860  [0.0990, 0.5710]\n        ⚠ " + note + "\n      sex.accuracy_difference      0.0500  [0.0200, 0.0800]\n"
	if !strings.Contains(out, want) {
		t.Errorf("summary lacks\n%s\ngot\n%s", want, out)
	}
	if n := strings.Count(out, "⚠"); n != 1 {
		t.Errorf("%d flags, want 1:\n%s", n, out)
	}
}
