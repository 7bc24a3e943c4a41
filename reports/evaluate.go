package reports

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// ReasonUndefined is the Reason of a gate whose metric is undefined; where
// the suite's details.undefined_reasons explains the key, the explanation
// follows after a colon.
const ReasonUndefined = "metric is undefined (0/0)"

// Evaluate evaluates one gate against a report. It is a pure function: it
// reads r and changes nothing.
//
// The value is the suite's Metrics[g.Key()]. The gate fails, with Reason
// saying why and Value nil, when the suite is missing from the report, when
// it errored, was interrupted or was skipped, when the metric is listed in
// the suite's Undefined (Reason "metric is undefined (0/0)"), when the
// metric is absent, or when its value is NaN.
//
// Comparisons are exact, with no epsilon, for every operator: users write
// thresholds, and a threshold means what it says. "acc >= 0.9" fails at
// 0.8999999; "== 1" holds only for exactly 1.
func Evaluate(g Gate, r *Report) GateResult {
	res := GateResult{
		Expr:      g.Expr,
		Metric:    g.Metric,
		Op:        g.Op,
		Threshold: g.Threshold,
	}
	if res.Expr == "" {
		res.Expr = g.String()
	}
	fail := func(format string, args ...any) GateResult {
		res.Reason = fmt.Sprintf(format, args...)
		return res
	}
	if r == nil {
		return fail("no report")
	}
	suite, key := g.Suite(), g.Key()
	i := slices.IndexFunc(r.Suites, func(s SuiteResult) bool { return s.Name == suite })
	if i < 0 {
		return fail("suite %q did not run", suite)
	}
	s := &r.Suites[i]
	switch s.Status {
	case StatusError:
		if s.Error != "" {
			return fail("suite %q errored: %s", suite, s.Error)
		}
		return fail("suite %q errored", suite)
	case StatusInterrupted:
		return fail("suite %q was interrupted", suite)
	case StatusTimedOut:
		return fail("suite %q timed out (runtime.timeout)", suite)
	case StatusSkipped:
		return fail("suite %q was skipped", suite)
	}
	if slices.Contains(s.Undefined, key) {
		if why := undefinedReason(s.Details, key); why != "" {
			return fail("%s: %s", ReasonUndefined, why)
		}
		return fail(ReasonUndefined)
	}
	v, ok := s.Metrics[key]
	if !ok {
		return fail("suite %q reported no metric %q", suite, key)
	}
	if math.IsNaN(v) {
		return fail("metric value is NaN")
	}
	res.Value = &v
	res.Passed = compare(v, g.Op, g.Threshold)
	return res
}

// compare applies op exactly. An unknown op is false.
func compare(v float64, op string, t float64) bool {
	switch op {
	case OpLT:
		return v < t
	case OpLE:
		return v <= t
	case OpGT:
		return v > t
	case OpGE:
		return v >= t
	case OpEQ:
		return v == t
	case OpNE:
		return v != t
	}
	return false
}

// EvaluateAll evaluates every gate against r, in order.
func EvaluateAll(gates []Gate, r *Report) []GateResult {
	out := make([]GateResult, len(gates))
	for i, g := range gates {
		out[i] = Evaluate(g, r)
	}
	return out
}

// Passed reports whether every result passed or is excused by an active
// waiver. No gates pass.
func Passed(results []GateResult) bool {
	for _, res := range results {
		if !res.Passed && !res.Waived() {
			return false
		}
	}
	return true
}

// maxEditDistance is the largest Levenshtein distance at which a known name
// is offered as a "did you mean" suggestion.
const maxEditDistance = 3

// maxSuggestions bounds the suggestions listed for one unknown name.
const maxSuggestions = 5

// ValidateGates checks that every gate names a known suite and one of its
// metrics, before anything runs. known(suite) returns the metric keys the
// suite will report (relative to the suite) and ok true, or ok false for an
// unknown suite; in that case keys may hold the names of the known suites,
// which are then offered as suggestions.
//
// Every problem is reported, one per line, in a single error with exit code
// errs.Invalid; each names the gate and lists close matches (Levenshtein
// distance at most 3, or the same last dotted segment) as "did you mean".
func ValidateGates(gates []Gate, known func(suite string) (keys []string, ok bool)) error {
	var problems []error
	for _, g := range gates {
		expr := g.Expr
		if expr == "" {
			expr = g.String()
		}
		suite, key := g.Suite(), g.Key()
		keys, ok := known(suite)
		if !ok {
			problems = append(problems, fmt.Errorf("gate %q: unknown suite %q%s",
				expr, suite, didYouMean(suite, keys)))
			continue
		}
		if !slices.Contains(keys, key) {
			problems = append(problems, fmt.Errorf("gate %q: suite %q has no metric %q%s",
				expr, suite, key, didYouMean(key, keys)))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errs.WithCode(errs.Invalid, errors.Join(problems...))
}

// didYouMean returns "; did you mean ...?" listing the candidates close to
// name, or "" if none is.
func didYouMean(name string, candidates []string) string {
	type match struct {
		s string
		d int
	}
	var ms []match
	last := lastSegment(name)
	for _, c := range candidates {
		d := levenshtein(name, c)
		if d <= maxEditDistance || lastSegment(c) == last {
			ms = append(ms, match{c, d})
		}
	}
	if len(ms) == 0 {
		return ""
	}
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].d != ms[j].d {
			return ms[i].d < ms[j].d
		}
		return ms[i].s < ms[j].s
	})
	ms = slices.CompactFunc(ms, func(a, b match) bool { return a.s == b.s })
	if len(ms) > maxSuggestions {
		ms = ms[:maxSuggestions]
	}
	quoted := make([]string, len(ms))
	for i, m := range ms {
		quoted[i] = fmt.Sprintf("%q", m.s)
	}
	return "; did you mean " + strings.Join(quoted, " or ") + "?"
}

func lastSegment(s string) string {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// levenshtein returns the edit distance between a and b, in bytes (metric
// names are ASCII).
func levenshtein(a, b string) int {
	if len(a) < len(b) {
		a, b = b, a
	}
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		prev := row[0] // row[i-1][j-1]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur := min(row[j]+1, row[j-1]+1, prev+cost)
			prev, row[j] = row[j], cur
		}
	}
	return row[len(b)]
}

// undefinedReason returns details.undefined_reasons[key], the suite's own
// account of why a metric is undefined (fairness names the groups), or "".
// The map is map[string]string in-process and map[string]any once a report
// has been read back from JSON.
func undefinedReason(details map[string]any, key string) string {
	switch m := details["undefined_reasons"].(type) {
	case map[string]string:
		return m[key]
	case map[string]any:
		s, _ := m[key].(string)
		return s
	}
	return ""
}
