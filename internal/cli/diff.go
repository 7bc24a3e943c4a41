package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// ReadReport reads and parses a JSON report file. Errors have exit code
// errs.Invalid and name the file.
func ReadReport(path string) (*reports.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, errs.Invalidf("report %s: %w", path, err)
	}
	r, err := reports.ParseReport(b)
	if err != nil {
		return nil, errs.Invalidf("report %s: %w", path, err)
	}
	return r, nil
}

// DiffOptions are the options of `gauntlet diff`.
type DiffOptions struct {
	// MaxDrop and MaxRise are regression gates, "metric=bound".
	MaxDrop, MaxRise []string
	// Format is text, json or markdown.
	Format string
	// All lists unchanged metrics too.
	All bool
}

func newDiffCmd(s Streams) *cobra.Command {
	o := &DiffOptions{}
	cmd := &cobra.Command{
		Use:   "diff OLD.json NEW.json [--max-drop metric=bound]...",
		Short: "Compare two JSON reports: deltas, regression gates, McNemar tests",
		Long: `Compare a report with an earlier one (its baseline): the change of every
metric, the regression gates given with --max-drop and --max-rise, and, where
both reports carry per-sample outcomes, McNemar's exact test and the ids of
newly broken samples. A suite whose version changed is not comparable; diff
says so and skips its regression gates. See docs/reports.md.

Exit codes:
  0    no regression gate failed
  1    a regression gate failed
  2    a report is unreadable or not a gauntlet report, or a flag is bad`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Diff(args[0], args[1], o, s)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.MaxDrop, "max-drop", nil, "regression gate: metric=largest allowed drop (repeatable)")
	f.StringArrayVar(&o.MaxRise, "max-rise", nil, "regression gate: metric=largest allowed rise (repeatable)")
	f.StringVar(&o.Format, "format", "text", "output: text, json or markdown")
	f.BoolVar(&o.All, "all", false, "list unchanged metrics too (text)")
	return cmd
}

func parseBounds(flag string, vals []string, set func(r *reports.Regression, v float64)) ([]reports.Regression, error) {
	var out []reports.Regression
	for _, v := range vals {
		// Metric names may hold "=" (eps=0.03): the bound follows the last.
		i := strings.LastIndexByte(v, '=')
		if i < 0 {
			return nil, errs.Invalidf("--%s %q: want metric=number", flag, v)
		}
		m, b := v[:i], v[i+1:]
		x, err := strconv.ParseFloat(b, 64)
		if err != nil {
			return nil, errs.Invalidf("--%s %q: want metric=number", flag, v)
		}
		r := reports.Regression{Metric: m}
		set(&r, x)
		out = append(out, r)
	}
	return out, nil
}

// Diff runs `gauntlet diff`.
func Diff(oldPath, newPath string, o *DiffOptions, s Streams) error {
	drops, err := parseBounds("max-drop", o.MaxDrop, func(r *reports.Regression, v float64) { r.MaxDrop = &v })
	if err != nil {
		return err
	}
	rises, err := parseBounds("max-rise", o.MaxRise, func(r *reports.Regression, v float64) { r.MaxRise = &v })
	if err != nil {
		return err
	}
	regs := append(drops, rises...)
	if err := reports.ValidateRegressions(regs); err != nil {
		return err
	}
	old, err := ReadReport(oldPath)
	if err != nil {
		return err
	}
	cur, err := ReadReport(newPath)
	if err != nil {
		return err
	}
	c := reports.Compare(old, cur, oldPath, regs, nil)
	switch o.Format {
	case "text":
		fmt.Fprintf(s.Out, "Baseline %s (model %s…) → %s (model %s…)\n", oldPath, short(old.Model.SHA256), newPath, short(cur.Model.SHA256))
		printDeltas(s.Out, c, o.All)
		PrintComparison(s.Out, c)
	case "json":
		b, err := reports.MarshalAny(c)
		if err != nil {
			return err
		}
		s.Out.Write(b)
	case "markdown":
		r := *cur
		r.Baseline = c
		if err := (reports.MarkdownWriter{}).Write(s.Out, &r); err != nil {
			return err
		}
	default:
		return errs.Invalidf("--format %q: want text, json or markdown", o.Format)
	}
	if !reports.RegressionsPassed(c) {
		fmt.Fprintln(s.Err, "gauntlet: regression gates failed")
		return errs.WithCode(errs.GateFailed, fmt.Errorf("regression gates failed"))
	}
	return nil
}

func printDeltas(w io.Writer, c *reports.Comparison, all bool) {
	for _, sc := range c.Suites {
		fmt.Fprintf(w, "\n  %s (version %s → %s)\n", sc.Name, sc.OldVersion, sc.NewVersion)
		shown := 0
		for _, m := range sc.Metrics {
			if !all && m.Delta != nil && *m.Delta == 0 {
				continue
			}
			if strings.HasSuffix(m.Key, ".ci_low") || strings.HasSuffix(m.Key, ".ci_high") {
				continue
			}
			old, cur, d := "—", "—", "—"
			if m.Old != nil {
				old = fmt.Sprintf("%.4f", *m.Old)
			}
			if m.New != nil {
				cur = fmt.Sprintf("%.4f", *m.New)
			}
			if m.Delta != nil {
				d = fmt.Sprintf("%+.4f", *m.Delta)
			}
			fmt.Fprintf(w, "      %-34s %9s → %-9s %s\n", m.Key, old, cur, d)
			shown++
		}
		if shown == 0 {
			fmt.Fprintln(w, "      no metric changed")
		}
	}
}

// PrintComparison writes the regression gates, McNemar tests and
// warnings of a comparison.
func PrintComparison(w io.Writer, c *reports.Comparison) {
	if len(c.Regressions) > 0 {
		fmt.Fprintf(w, "\nRegression gates (baseline %s):\n", c.Path)
		for _, g := range c.Regressions {
			mark := strings.ToUpper(g.Status)
			if g.Waived() {
				mark = "WAIVED"
			}
			line := fmt.Sprintf("  %s  %s", mark, g.Expr)
			if g.Old != nil && g.New != nil {
				line += fmt.Sprintf("  (%.4f → %.4f)", *g.Old, *g.New)
			}
			if g.Reason != "" {
				line += " — " + g.Reason
			}
			if wv := g.Waiver; wv != nil {
				if wv.Expired {
					line += " — waiver expired on " + wv.Until
				} else {
					line += " — waived until " + wv.Until + ": " + wv.Reason
				}
			}
			fmt.Fprintln(w, line)
		}
	}
	for _, sc := range c.Suites {
		for _, oc := range sc.Outcomes {
			fmt.Fprintf(w, "\nMcNemar (%s / %s): exact p = %.4g on %d paired samples; %d newly broken, %d fixed\n",
				sc.Name, oc.Outcome, oc.PValue, oc.Paired, oc.Broken, oc.Fixed)
			if len(oc.NewlyBroken) > 0 {
				ids := oc.NewlyBroken
				more := ""
				if len(ids) > 20 {
					ids, more = ids[:20], fmt.Sprintf(", … (%d in all)", oc.NewlyBrokenTotal)
				}
				fmt.Fprintf(w, "  newly broken: %s%s\n", strings.Join(ids, ", "), more)
			}
		}
		if sc.OutcomesNote != "" {
			fmt.Fprintf(w, "\n%s: per-sample outcomes not compared: %s\n", sc.Name, sc.OutcomesNote)
		}
	}
	for _, wn := range c.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
}
