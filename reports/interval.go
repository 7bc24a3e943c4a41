package reports

import (
	"fmt"
	"math"
)

// IntervalNote reports whether the confidence interval of metric key of
// suite s (key.ci_low, key.ci_high) does not contain the metric's value
// (a bootstrap interval can lie wholly on one side of its estimate), and
// why: the suite's own account, details.interval_notes.<key> (the fairness
// suite's), else a sentence giving the bounds and the value. A metric
// without both bounds has nothing to report.
func IntervalNote(s SuiteResult, key string) (string, bool) {
	v, ok := s.Metrics[key]
	lo, okL := s.Metrics[key+".ci_low"]
	hi, okH := s.Metrics[key+".ci_high"]
	if !ok || !okL || !okH || math.IsNaN(v) || (lo <= v && v <= hi) {
		return "", false
	}
	var note string
	switch m := s.Details["interval_notes"].(type) {
	case map[string]string:
		note = m[key]
	case map[string]any: // read back from JSON
		note, _ = m[key].(string)
	}
	if note == "" {
		note = fmt.Sprintf("the interval [%.4g, %.4g] does not contain the estimate %.4g", lo, hi, v)
	}
	return note, true
}
