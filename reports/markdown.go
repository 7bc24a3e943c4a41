package reports

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// MarkdownMaxMetrics bounds the metrics listed per suite in the Markdown
// summary; the JSON report has them all.
const MarkdownMaxMetrics = 12

// MarkdownMaxIDs bounds the newly broken sample ids listed per outcome.
const MarkdownMaxIDs = 20

// MarkdownWriter writes a short GitHub-flavoured Markdown summary for pull
// request comments and $GITHUB_STEP_SUMMARY: the verdict, the gates (with
// waivers), the baseline comparison (regression gates, McNemar tests,
// newly broken samples), the suites' headline metrics, scan findings and
// warnings. Text from the report is escaped so that it cannot break the
// tables.
type MarkdownWriter struct{}

// Format returns "markdown".
func (MarkdownWriter) Format() string { return "markdown" }

// mdEscape escapes characters that would end a table cell or start markup.
func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;", "`", "'", "*", `\*`, "_", `\_`)
	return r.Replace(s)
}

func mdValue(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.4g", *v)
}

// Write implements Writer.
func (MarkdownWriter) Write(w io.Writer, r *Report) error {
	if r == nil {
		return fmt.Errorf("write markdown report: nil report")
	}
	var b strings.Builder
	verdict := "✅ passed"
	switch {
	case r.Status == StatusInterrupted:
		verdict = "⏹ interrupted"
	case r.ExitCode == 1:
		verdict = "❌ failed"
	case r.ExitCode != 0:
		verdict = "⚠️ error"
	}
	fmt.Fprintf(&b, "## Gauntlet: %s (exit %d)\n\n", verdict, r.ExitCode)
	fmt.Fprintf(&b, "Model `%s` (sha256 `%s`), opset %d · started %s · %.1f s · seed %d · gauntlet %s on %s\n\n",
		strings.ReplaceAll(r.Model.Path, "`", "'"), short12(r.Model.SHA256), r.Model.Opset,
		r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"), r.DurationS, r.Seed,
		mdEscape(r.Tool.Version), mdEscape(r.Environment.ExecutionProvider))

	if len(r.Gates) > 0 {
		b.WriteString("### Gates\n\n| | Gate | Value | Note |\n|---|---|---|---|\n")
		for _, g := range r.Gates {
			mark, note := "✅", ""
			switch {
			case g.Passed:
			case g.Waived():
				mark = "🟡"
				note = "waived until " + g.Waiver.Until + ": " + g.Waiver.Reason
			default:
				mark = "❌"
				note = gateFailureText(g)
				if g.Waiver != nil {
					note += "; waiver expired on " + g.Waiver.Until + " (" + g.Waiver.Reason + ")"
				}
			}
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", mark, strings.ReplaceAll(g.Expr, "`", "'"), mdValue(g.Value), mdEscape(note))
		}
		b.WriteString("\n")
	}

	if c := r.Baseline; c != nil {
		fmt.Fprintf(&b, "### Against the baseline\n\nBaseline `%s` (started %s, model sha256 `%s`%s%s).\n\n",
			strings.ReplaceAll(c.Path, "`", "'"), c.StartedAt.UTC().Format("2006-01-02 15:04 UTC"), short12(c.ModelSHA256),
			map[bool]string{true: ", model changed"}[c.ModelChanged], map[bool]string{true: ", data changed"}[c.DataChanged])
		if len(c.Regressions) > 0 {
			b.WriteString("| | Regression gate | Baseline | Now | Δ | Note |\n|---|---|---|---|---|---|\n")
			for _, g := range c.Regressions {
				mark, note := "✅", g.Reason
				switch {
				case g.Status == RegressionSkipped:
					mark = "⏭"
				case g.Waived():
					mark, note = "🟡", "waived until "+g.Waiver.Until+": "+g.Waiver.Reason
				case g.Status == RegressionFailed:
					mark = "❌"
					if g.Waiver != nil {
						note += "; waiver expired on " + g.Waiver.Until + " (" + g.Waiver.Reason + ")"
					}
				}
				delta := "—"
				if g.Delta != nil {
					delta = fmt.Sprintf("%+.4g", *g.Delta)
				}
				fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | %s |\n", mark, strings.ReplaceAll(g.Expr, "`", "'"), mdValue(g.Old), mdValue(g.New), delta, mdEscape(note))
			}
			b.WriteString("\n")
		}
		for _, s := range c.Suites {
			for _, o := range s.Outcomes {
				fmt.Fprintf(&b, "**%s / %s** — McNemar exact p = %.4g on %d paired samples: %d newly broken, %d fixed (rate %.4f → %.4f).",
					mdEscape(s.Name), mdEscape(o.Outcome), o.PValue, o.Paired, o.Broken, o.Fixed, o.OldAccuracy, o.NewAccuracy)
				if len(o.NewlyBroken) > 0 {
					ids := o.NewlyBroken
					if len(ids) > MarkdownMaxIDs {
						ids = ids[:MarkdownMaxIDs]
					}
					fmt.Fprintf(&b, " Newly broken ids: %s", mdEscape(strings.Join(ids, ", ")))
					if o.NewlyBrokenTotal > len(ids) {
						fmt.Fprintf(&b, ", … (%d in all)", o.NewlyBrokenTotal)
					}
					b.WriteString(".")
				}
				b.WriteString("\n\n")
			}
			if s.OutcomesNote != "" {
				fmt.Fprintf(&b, "**%s**: per-sample outcomes not compared: %s\n\n", mdEscape(s.Name), mdEscape(s.OutcomesNote))
			}
		}
		for _, wn := range c.Warnings {
			fmt.Fprintf(&b, "> ⚠️ %s\n\n", mdEscape(wn))
		}
	}

	b.WriteString("### Suites\n\n| Suite | Version | Status | Time | Headline metrics |\n|---|---|---|---|---|\n")
	for _, s := range r.Suites {
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f s | %s |\n", mdEscape(s.Name), mdEscape(s.Version), s.Status, s.DurationS, mdEscape(headline(s)))
	}
	b.WriteString("\n")
	for _, s := range r.Suites {
		if s.Error != "" {
			fmt.Fprintf(&b, "- **%s** error: %s\n", mdEscape(s.Name), mdEscape(firstLine(s.Error)))
		}
		for _, wn := range s.Warnings {
			fmt.Fprintf(&b, "- **%s** warning: %s\n", mdEscape(s.Name), mdEscape(wn))
		}
	}
	if r.Scan != nil && len(r.Scan.Findings) > 0 {
		b.WriteString("\n### Model scan\n\n| Severity | Rule | Where | Finding |\n|---|---|---|---|\n")
		for _, f := range r.Scan.Findings {
			fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", f.Severity, f.RuleID, mdEscape(f.Location), mdEscape(f.Message))
		}
	}
	if len(r.Warnings) > 0 {
		b.WriteString("\n")
		for _, wn := range r.Warnings {
			fmt.Fprintf(&b, "> ⚠️ %s\n", mdEscape(wn))
		}
	}
	b.WriteString("\n<sub>Full details: the JSON report. Confidence intervals: Clopper-Pearson (`<metric>.ci_low`, `.ci_high`).</sub>\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write markdown report: %w", err)
	}
	return nil
}

// headline lists up to MarkdownMaxMetrics metrics, sorted, with proportions
// written with their interval ("0.961 [0.936, 0.978]"); ci keys and
// per-class keys are folded away.
func headline(s SuiteResult) string {
	keys := make([]string, 0, len(s.Metrics))
	for k := range s.Metrics {
		if strings.HasSuffix(k, ".ci_low") || strings.HasSuffix(k, ".ci_high") || strings.HasPrefix(k, "class.") {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	more := 0
	if len(keys) > MarkdownMaxMetrics {
		more = len(keys) - MarkdownMaxMetrics
		keys = keys[:MarkdownMaxMetrics]
	}
	parts := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		p := fmt.Sprintf("%s %.4g", k, s.Metrics[k])
		lo, okL := s.Metrics[k+".ci_low"]
		hi, okH := s.Metrics[k+".ci_high"]
		if okL && okH {
			p += fmt.Sprintf(" [%.4g, %.4g]", lo, hi)
			if _, ex := IntervalNote(s, k); ex {
				p += " ⚠ excludes the estimate"
			}
		}
		parts = append(parts, p)
	}
	if more > 0 {
		parts = append(parts, fmt.Sprintf("… %d more", more))
	}
	if len(s.Undefined) > 0 {
		parts = append(parts, fmt.Sprintf("%d undefined", len(s.Undefined)))
	}
	return strings.Join(parts, "; ")
}

func short12(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
