package reports

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// Regression statuses.
const (
	RegressionPassed  = "passed"
	RegressionFailed  = "failed"
	RegressionSkipped = "skipped"
)

// MaxListedIDs bounds the newly broken sample ids a comparison lists per
// outcome; NewlyBrokenTotal always holds the full count.
const MaxListedIDs = 1000

// Regression is a regression gate: how far a metric may move against its
// baseline value. It is the config's regressions entry:
//
//	regressions:
//	  - metric: accuracy.accuracy
//	    max_drop: 0.02        # new ≥ old − 0.02
//	  - metric: accuracy.ece
//	    max_rise: 0.01        # new ≤ old + 0.01
type Regression struct {
	// Metric is the full dotted metric name, "<suite>.<key>".
	Metric string `mapstructure:"metric" json:"metric"`
	// MaxDrop is the largest allowed old − new (for higher-is-better
	// metrics).
	MaxDrop *float64 `mapstructure:"max_drop" json:"max_drop,omitempty"`
	// MaxRise is the largest allowed new − old (for lower-is-better
	// metrics).
	MaxRise *float64 `mapstructure:"max_rise" json:"max_rise,omitempty"`
}

// String returns the regression gate as waivers and reports name it:
// "accuracy.accuracy max_drop 0.02", with " max_rise …" when set (both may
// appear).
func (r Regression) String() string {
	s := r.Metric
	if r.MaxDrop != nil {
		s += " max_drop " + formatFloat(*r.MaxDrop)
	}
	if r.MaxRise != nil {
		s += " max_rise " + formatFloat(*r.MaxRise)
	}
	return s
}

// Gate returns the regression as a Gate (Metric and Expr only), so that
// ValidateGates can check its metric name.
func (r Regression) Gate() Gate { return Gate{Expr: r.String(), Metric: r.Metric} }

// ValidateRegressions checks the regressions block: each entry names a
// "<suite>.<key>" metric and at least one finite, non-negative bound. The
// error has exit code errs.Invalid and names the entry.
func ValidateRegressions(rs []Regression) error {
	for i, r := range rs {
		if s, k, ok := strings.Cut(r.Metric, "."); !ok || s == "" || k == "" {
			return errs.Invalidf("regressions[%d].metric: %q, want \"<suite>.<key>\"", i, r.Metric)
		}
		if r.MaxDrop == nil && r.MaxRise == nil {
			return errs.Invalidf("regressions[%d] (%s): set max_drop or max_rise", i, r.Metric)
		}
		for name, p := range map[string]*float64{"max_drop": r.MaxDrop, "max_rise": r.MaxRise} {
			if p != nil && !(*p >= 0 && !math.IsInf(*p, 0)) {
				return errs.Invalidf("regressions[%d].%s: %v, want a finite number ≥ 0", i, name, *p)
			}
		}
	}
	return nil
}

// Comparison is a report compared with its baseline.
type Comparison struct {
	// Path is the baseline report file as given.
	Path string `json:"path"`
	// StartedAt and ModelSHA256 identify the baseline run.
	StartedAt   time.Time `json:"started_at"`
	ModelSHA256 string    `json:"model_sha256"`
	// ModelChanged and DataChanged say whether the model file or any data
	// file differs from the baseline's (by SHA-256).
	ModelChanged bool              `json:"model_changed"`
	DataChanged  bool              `json:"data_changed"`
	Suites       []SuiteComparison `json:"suites"`
	// Regressions are the evaluated regression gates, in config order.
	Regressions []RegressionResult `json:"regressions"`
	// Warnings say plainly what could not be compared and why.
	Warnings []string `json:"warnings"`
}

// SuiteComparison compares one suite present in both reports.
type SuiteComparison struct {
	Name       string `json:"name"`
	OldVersion string `json:"old_version"`
	NewVersion string `json:"new_version"`
	// Comparable is false when the suite's version changed (its metrics
	// may mean something else now) or when it did not complete in one of
	// the reports; Reason says which.
	Comparable bool                `json:"comparable"`
	Reason     string              `json:"reason,omitempty"`
	Metrics    []MetricDelta       `json:"metrics"`
	Outcomes   []OutcomeComparison `json:"outcomes"`
	// OutcomesNote says why per-sample outcomes were not compared.
	OutcomesNote string `json:"outcomes_note,omitempty"`
}

// MetricDelta is one metric in both reports. Old or New is nil where the
// metric is absent or undefined in that report; Delta = New − Old is nil
// then.
type MetricDelta struct {
	Key   string   `json:"key"`
	Old   *float64 `json:"old"`
	New   *float64 `json:"new"`
	Delta *float64 `json:"delta"`
}

// OutcomeComparison is a paired comparison of one per-sample outcome (see
// PerSample) between the baseline and this run: the 2×2 table of samples
// by (old outcome, new outcome) and McNemar's exact test on its discordant
// cells.
type OutcomeComparison struct {
	Outcome string `json:"outcome"`
	// Paired is the number of samples present in both reports.
	Paired      int     `json:"paired"`
	BothTrue    int     `json:"both_true"`
	BothFalse   int     `json:"both_false"`
	Broken      int     `json:"broken"` // true before, false now
	Fixed       int     `json:"fixed"`  // false before, true now
	OldAccuracy float64 `json:"old_rate"`
	NewAccuracy float64 `json:"new_rate"`
	// PValue is McNemar's exact two-sided p-value (McNemarExact).
	PValue float64 `json:"mcnemar_p"`
	// NewlyBroken lists the ids of the first MaxListedIDs broken samples
	// (row indices when the data has no ids); NewlyBrokenTotal = Broken.
	NewlyBroken      []string `json:"newly_broken"`
	NewlyBrokenTotal int      `json:"newly_broken_total"`
}

// RegressionResult is one evaluated regression gate.
type RegressionResult struct {
	Expr    string   `json:"expr"`
	Metric  string   `json:"metric"`
	MaxDrop *float64 `json:"max_drop,omitempty"`
	MaxRise *float64 `json:"max_rise,omitempty"`
	Old     *float64 `json:"old"`
	New     *float64 `json:"new"`
	Delta   *float64 `json:"delta"`
	// Status is passed, failed or skipped (the baseline cannot be compared:
	// Reason says why). A skipped regression gate does not fail the run.
	Status string        `json:"status"`
	Reason string        `json:"reason,omitempty"`
	Waiver *WaiverStatus `json:"waiver,omitempty"`
}

// RegressionsPassed reports whether no regression gate failed without an
// active waiver. A nil comparison passes.
func RegressionsPassed(c *Comparison) bool {
	if c == nil {
		return true
	}
	for _, r := range c.Regressions {
		if r.Status == RegressionFailed && !r.Waived() {
			return false
		}
	}
	return true
}

// Compare compares cur with its baseline old: per-metric deltas for every
// suite in both, McNemar tests on per-sample outcomes where both reports
// carry them, and the regression gates, with waivers applied as of
// cur.StartedAt. It is a pure function of its arguments.
//
// A suite whose version differs between the reports is not comparable: its
// deltas are still listed, but its regression gates are skipped and a
// warning says so plainly.
func Compare(old, cur *Report, oldPath string, regs []Regression, waivers []Waiver) *Comparison {
	c := &Comparison{
		Path:         oldPath,
		StartedAt:    old.StartedAt,
		ModelSHA256:  old.Model.SHA256,
		ModelChanged: old.Model.SHA256 != cur.Model.SHA256,
		DataChanged:  !sameData(old.Data, cur.Data),
		Suites:       []SuiteComparison{},
		Regressions:  []RegressionResult{},
		Warnings:     []string{},
	}
	byName := map[string]*SuiteComparison{}
	for i := range cur.Suites {
		ns := &cur.Suites[i]
		j := slices.IndexFunc(old.Suites, func(s SuiteResult) bool { return s.Name == ns.Name })
		if j < 0 {
			c.Warnings = append(c.Warnings, fmt.Sprintf("suite %s is not in the baseline: nothing to compare", ns.Name))
			continue
		}
		c.Suites = append(c.Suites, compareSuite(&old.Suites[j], ns, old, cur))
	}
	for i := range c.Suites {
		s := &c.Suites[i]
		byName[s.Name] = s
		if !s.Comparable {
			c.Warnings = append(c.Warnings, fmt.Sprintf("suite %s: baseline not comparable: %s", s.Name, s.Reason))
		}
	}
	for _, s := range old.Suites {
		if !slices.ContainsFunc(cur.Suites, func(n SuiteResult) bool { return n.Name == s.Name }) {
			c.Warnings = append(c.Warnings, fmt.Sprintf("suite %s is in the baseline but did not run now", s.Name))
		}
	}
	for _, r := range regs {
		c.Regressions = append(c.Regressions, evalRegression(r, byName, old, cur))
	}
	for i := range c.Regressions {
		r := &c.Regressions[i]
		if r.Status != RegressionFailed {
			continue
		}
		if w, ok := waiverFor(waivers, r.Expr, r.Expr); ok {
			r.Waiver = w.status(cur.StartedAt)
		}
	}
	return c
}

func sameData(a, b []DataFile) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Role != b[i].Role || a[i].SHA256 != b[i].SHA256 {
			return false
		}
	}
	return true
}

func completed(s *SuiteResult) bool {
	return s.Status == StatusPassed || s.Status == StatusFailed
}

func compareSuite(o, n *SuiteResult, old, cur *Report) SuiteComparison {
	sc := SuiteComparison{
		Name: n.Name, OldVersion: o.Version, NewVersion: n.Version,
		Comparable: true, Metrics: []MetricDelta{}, Outcomes: []OutcomeComparison{},
	}
	switch {
	case o.Version != n.Version:
		sc.Comparable = false
		sc.Reason = fmt.Sprintf("suite version changed from %s to %s; its metrics may mean something else now, so its regression gates are skipped. Record a new baseline with this version.", o.Version, n.Version)
	case !completed(o):
		sc.Comparable = false
		sc.Reason = fmt.Sprintf("the baseline's run of the suite did not complete (status %s)", o.Status)
	case !completed(n):
		sc.Comparable = false
		sc.Reason = fmt.Sprintf("this run of the suite did not complete (status %s)", n.Status)
	}
	keys := map[string]bool{}
	for k := range o.Metrics {
		keys[k] = true
	}
	for k := range n.Metrics {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		d := MetricDelta{Key: k, Old: metricValue(o, k), New: metricValue(n, k)}
		if d.Old != nil && d.New != nil {
			v := *d.New - *d.Old
			d.Delta = &v
		}
		sc.Metrics = append(sc.Metrics, d)
	}
	if sc.Comparable {
		sc.Outcomes, sc.OutcomesNote = compareOutcomes(o, n, old, cur)
	}
	return sc
}

func metricValue(s *SuiteResult, key string) *float64 {
	if slices.Contains(s.Undefined, key) {
		return nil
	}
	v, ok := s.Metrics[key]
	if !ok || math.IsNaN(v) {
		return nil
	}
	return &v
}

func evalRegression(r Regression, suites map[string]*SuiteComparison, old, cur *Report) RegressionResult {
	res := RegressionResult{Expr: r.String(), Metric: r.Metric, MaxDrop: r.MaxDrop, MaxRise: r.MaxRise}
	suite, key, _ := strings.Cut(r.Metric, ".")
	find := func(rep *Report) *SuiteResult {
		i := slices.IndexFunc(rep.Suites, func(s SuiteResult) bool { return s.Name == suite })
		if i < 0 {
			return nil
		}
		return &rep.Suites[i]
	}
	ns, os := find(cur), find(old)
	if ns == nil {
		res.Status, res.Reason = RegressionFailed, fmt.Sprintf("suite %q did not run", suite)
		return res
	}
	if os == nil {
		res.Status, res.Reason = RegressionSkipped, fmt.Sprintf("suite %q is not in the baseline", suite)
		return res
	}
	res.New, res.Old = metricValue(ns, key), metricValue(os, key)
	if sc := suites[suite]; sc != nil && !sc.Comparable && os.Version != ns.Version {
		res.Status, res.Reason = RegressionSkipped, "baseline not comparable: "+sc.Reason
		return res
	}
	if !completed(ns) {
		res.Status, res.Reason = RegressionFailed, fmt.Sprintf("suite %q did not complete (status %s)", suite, ns.Status)
		return res
	}
	if res.New == nil {
		res.Status, res.Reason = RegressionFailed, fmt.Sprintf("metric %q is absent or undefined in this run", r.Metric)
		return res
	}
	if res.Old == nil {
		res.Status, res.Reason = RegressionSkipped, fmt.Sprintf("metric %q is absent or undefined in the baseline", r.Metric)
		return res
	}
	d := *res.New - *res.Old
	res.Delta = &d
	res.Status = RegressionPassed
	// Exact comparisons, as for gates: a bound means what it says.
	if r.MaxDrop != nil && -d > *r.MaxDrop {
		res.Status = RegressionFailed
		res.Reason = fmt.Sprintf("dropped by %.6g, more than max_drop %s", -d, formatFloat(*r.MaxDrop))
	}
	if r.MaxRise != nil && d > *r.MaxRise {
		res.Status = RegressionFailed
		res.Reason = fmt.Sprintf("rose by %.6g, more than max_rise %s", d, formatFloat(*r.MaxRise))
	}
	return res
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// formatAgainst formats v for a message that compares it with threshold:
// six significant digits, or as many more as it takes for a v that differs
// from threshold not to print the same (0.8000004 against 0.8), so that
// 0.18600000000000005 reads 0.186 and a near miss still shows.
func formatAgainst(v, threshold float64) string {
	t := formatFloat(threshold)
	for prec := 6; prec < 17; prec++ {
		s := strconv.FormatFloat(v, 'g', prec, 64)
		if v == threshold || s != t {
			return s
		}
	}
	return formatFloat(v)
}

// ParseReport parses report JSON (as JSONWriter writes it). It does not
// validate it against the schema; the error has exit code errs.Invalid and
// names what, for the caller to prefix with the file.
func ParseReport(b []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, errs.Invalidf("not a gauntlet report: %w", err)
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, errs.Invalidf("report schema_version %q, this release reads %q", r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}
