package reports

import (
	"fmt"
	"strings"
	"time"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// DateLayout is the layout of a waiver's Until date (YYYY-MM-DD).
const DateLayout = "2006-01-02"

// Waiver excuses the failure of one gate or regression gate until a date. It
// is the config's waivers entry:
//
//	waivers:
//	  - gate: "accuracy.accuracy >= 0.99"
//	    until: 2027-01-31
//	    reason: "JIRA-123: retraining lands in January"
type Waiver struct {
	// Gate is the gate as written in gates (or in its canonical form,
	// Gate.String), or a regression gate's Expr (Regression.String).
	Gate string `mapstructure:"gate" json:"gate"`
	// Until is the last day (UTC, inclusive) the waiver applies, YYYY-MM-DD.
	Until string `mapstructure:"until" json:"until"`
	// Reason says why; it is shown in every report format.
	Reason string `mapstructure:"reason" json:"reason"`
}

// WaiverStatus is a waiver as applied to one failed gate: Active when the run
// started on or before Until, Expired otherwise. An expired waiver does not
// excuse the failure; it is shown so that nobody wonders why it stopped
// working.
type WaiverStatus struct {
	Until   string `json:"until"`
	Reason  string `json:"reason"`
	Expired bool   `json:"expired"`
}

// Validate checks a waiver list: each entry names a gate, a valid date and a
// reason. i is reported 0-based as waivers[i]. The error has exit code
// errs.Invalid.
func ValidateWaivers(ws []Waiver) error {
	seen := map[string]int{}
	for i, w := range ws {
		if strings.TrimSpace(w.Gate) == "" {
			return errs.Invalidf("waivers[%d].gate: missing", i)
		}
		if _, err := time.Parse(DateLayout, w.Until); err != nil {
			return errs.Invalidf("waivers[%d].until: %q is not a date YYYY-MM-DD", i, w.Until)
		}
		if strings.TrimSpace(w.Reason) == "" {
			return errs.Invalidf("waivers[%d].reason: missing (say why the failure is accepted)", i)
		}
		key := strings.TrimSpace(w.Gate)
		if j, ok := seen[key]; ok {
			return errs.Invalidf("waivers[%d].gate: %q is already waived by waivers[%d]", i, w.Gate, j)
		}
		seen[key] = i
	}
	return nil
}

// waiverFor returns the waiver naming expr or canonical, if any.
func waiverFor(ws []Waiver, expr, canonical string) (Waiver, bool) {
	for _, w := range ws {
		g := strings.TrimSpace(w.Gate)
		if g == expr || g == canonical {
			return w, true
		}
	}
	return Waiver{}, false
}

// status returns the waiver's status on day now (UTC).
func (w Waiver) status(now time.Time) *WaiverStatus {
	until, err := time.Parse(DateLayout, w.Until)
	expired := err != nil || now.UTC().After(until.Add(24*time.Hour-time.Nanosecond))
	return &WaiverStatus{Until: w.Until, Reason: w.Reason, Expired: expired}
}

// ApplyWaivers attaches to every failed gate the waiver that names it, as
// of now (the run's start: reports carry started_at, so the same report
// always gets the same verdict). A gate that passed keeps no waiver.
func ApplyWaivers(results []GateResult, ws []Waiver, now time.Time) {
	for i := range results {
		r := &results[i]
		r.Waiver = nil
		if r.Passed {
			continue
		}
		canonical := r.Metric + " " + r.Op + " " + formatFloat(r.Threshold)
		if w, ok := waiverFor(ws, r.Expr, canonical); ok {
			r.Waiver = w.status(now)
		}
	}
}

// UnusedWaivers returns a warning for each waiver that names none of the
// given gate expressions (as written or canonical), so that a typo in a
// waiver is seen.
func UnusedWaivers(ws []Waiver, exprs []string) []string {
	known := map[string]bool{}
	for _, e := range exprs {
		known[strings.TrimSpace(e)] = true
	}
	var out []string
	for _, w := range ws {
		if !known[strings.TrimSpace(w.Gate)] {
			out = append(out, fmt.Sprintf("waiver for %q names no configured gate", w.Gate))
		}
	}
	return out
}

// Waived reports whether the gate failed and an active waiver excuses it.
func (g GateResult) Waived() bool {
	return !g.Passed && g.Waiver != nil && !g.Waiver.Expired
}

// Waived reports whether the regression gate failed and an active waiver
// excuses it.
func (g RegressionResult) Waived() bool {
	return g.Status == RegressionFailed && g.Waiver != nil && !g.Waiver.Expired
}
