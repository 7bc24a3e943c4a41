package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// JUnitWriter writes the report as JUnit XML, the dialect Jenkins, GitLab,
// GitHub test reporters and Azure DevOps read: one <testsuite> per suite,
// holding a "run" testcase (an <error> when the suite errored, <skipped>
// when it was skipped or interrupted) and a testcase per gate and per
// regression gate on its metrics. A failed gate is a <failure>; a failure
// excused by an active waiver is <skipped> with the waiver's reason, so CI
// shows it without failing; an expired waiver is a <failure> that says so.
// Gates on suites that did not run go to a testsuite named "gates".
//
// Timestamps come from the report (started_at), never from the clock.
type JUnitWriter struct{}

// Format returns "junit".
func (JUnitWriter) Format() string { return "junit" }

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure"`
	Error     *junitProblem `xml:"error"`
	Skipped   *junitProblem `xml:"skipped"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }

// Write implements Writer.
func (JUnitWriter) Write(w io.Writer, r *Report) error {
	if r == nil {
		return fmt.Errorf("write junit report: nil report")
	}
	ts := r.StartedAt.UTC().Format("2006-01-02T15:04:05")
	out := junitSuites{Name: "gauntlet", Time: seconds(r.DurationS)}
	index := map[string]int{}
	for _, s := range r.Suites {
		js := junitSuite{Name: s.Name, Time: seconds(s.DurationS), Timestamp: ts,
			Properties: []junitProperty{
				{"suite.version", s.Version},
				{"suite.seed", strconv.FormatUint(s.Seed, 10)},
				{"model.path", r.Model.Path},
				{"model.sha256", r.Model.SHA256},
			}}
		run := junitCase{Name: s.Name + ": run", Classname: "gauntlet." + s.Name, Time: seconds(s.DurationS)}
		switch s.Status {
		case StatusError:
			run.Error = &junitProblem{Message: firstLine(s.Error), Type: "suite error", Text: s.Error}
		case StatusTimedOut:
			run.Error = &junitProblem{Message: firstLine(s.Error), Type: "suite timed out", Text: s.Error}
		case StatusSkipped, StatusInterrupted:
			msg := "suite " + s.Status
			if s.Error != "" {
				msg += ": " + s.Error
			}
			run.Skipped = &junitProblem{Message: msg}
		}
		js.Cases = append(js.Cases, run)
		if len(s.Warnings) > 0 {
			js.SystemOut = "warnings:\n" + strings.Join(s.Warnings, "\n")
		}
		index[s.Name] = len(out.Suites)
		out.Suites = append(out.Suites, js)
	}
	target := func(metric string) *junitSuite {
		suite, _, _ := strings.Cut(metric, ".")
		if i, ok := index[suite]; ok {
			return &out.Suites[i]
		}
		if i, ok := index[" gates"]; ok {
			return &out.Suites[i]
		}
		index[" gates"] = len(out.Suites)
		out.Suites = append(out.Suites, junitSuite{Name: "gates", Time: seconds(0), Timestamp: ts})
		return &out.Suites[len(out.Suites)-1]
	}
	for _, g := range r.Gates {
		js := target(g.Metric)
		c := junitCase{Name: "gate: " + g.Expr, Classname: "gauntlet." + js.Name + ".gates", Time: seconds(0)}
		if !g.Passed {
			msg := gateFailureText(g)
			switch {
			case g.Waived():
				c.Skipped = &junitProblem{Message: "waived until " + g.Waiver.Until + ": " + g.Waiver.Reason + " (" + msg + ")"}
			default:
				if g.Waiver != nil {
					msg += "; waiver expired on " + g.Waiver.Until + " (" + g.Waiver.Reason + ")"
				}
				c.Failure = &junitProblem{Message: msg, Type: "gate", Text: g.Expr + "\n" + msg}
			}
		}
		js.Cases = append(js.Cases, c)
	}
	if r.Baseline != nil {
		for _, g := range r.Baseline.Regressions {
			js := target(g.Metric)
			c := junitCase{Name: "regression: " + g.Expr, Classname: "gauntlet." + js.Name + ".regressions", Time: seconds(0)}
			msg := regressionText(g)
			switch {
			case g.Status == RegressionSkipped:
				c.Skipped = &junitProblem{Message: msg}
			case g.Waived():
				c.Skipped = &junitProblem{Message: "waived until " + g.Waiver.Until + ": " + g.Waiver.Reason + " (" + msg + ")"}
			case g.Status == RegressionFailed:
				if g.Waiver != nil {
					msg += "; waiver expired on " + g.Waiver.Until + " (" + g.Waiver.Reason + ")"
				}
				c.Failure = &junitProblem{Message: msg, Type: "regression", Text: g.Expr + "\n" + msg}
			}
			js.Cases = append(js.Cases, c)
		}
	}
	for i := range out.Suites {
		js := &out.Suites[i]
		for _, c := range js.Cases {
			js.Tests++
			switch {
			case c.Failure != nil:
				js.Failures++
			case c.Error != nil:
				js.Errors++
			case c.Skipped != nil:
				js.Skipped++
			}
		}
		out.Tests += js.Tests
		out.Failures += js.Failures
		out.Errors += js.Errors
		out.Skipped += js.Skipped
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	return nil
}

// gateFailureText says why a gate failed: its value against the threshold,
// or the reason it could not be evaluated.
func gateFailureText(g GateResult) string {
	if g.Value == nil {
		return "not evaluated: " + g.Reason
	}
	return fmt.Sprintf("%s = %s, want %s %s", g.Metric, formatAgainst(*g.Value, g.Threshold), g.Op, formatFloat(g.Threshold))
}

// regressionText describes a regression gate's outcome.
func regressionText(g RegressionResult) string {
	switch {
	case g.Old != nil && g.New != nil && g.Delta != nil:
		s := fmt.Sprintf("%s: %s → %s (Δ %+.6g)", g.Metric, formatFloat(*g.Old), formatFloat(*g.New), *g.Delta)
		if g.Reason != "" {
			s += ": " + g.Reason
		}
		return s
	case g.Reason != "":
		return g.Metric + ": " + g.Reason
	}
	return g.Metric
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
