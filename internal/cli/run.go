package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/engine"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// RunOptions are the options of `gauntlet run`.
type RunOptions struct {
	Config     string
	Out        string
	Sets       []string
	ORTLibrary string
	// Progress: "auto" (a bar on a terminal, log lines otherwise), "bar",
	// "plain" or "none".
	Progress string
	// Baseline is an earlier JSON report to compare with: deltas,
	// regression gates, McNemar tests (docs/reports.md).
	Baseline string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Shard is --shard i/N, Shards --shards N (the index then comes from
	// JOB_COMPLETION_INDEX), Resume --resume (docs/sharding.md).
	Shard  string
	Shards int
	Resume bool
	// Getenv reads the environment (JOB_COMPLETION_INDEX); os.Getenv when
	// nil.
	Getenv func(string) string
}

func newRunCmd(s Streams) *cobra.Command {
	o := &RunOptions{}
	cmd := &cobra.Command{
		Use:   "run -c FILE [--out DIR] [--set key=value]...",
		Short: "Run the configured suites and gates, write the reports",
		Long: `Run the suites configured in FILE on its model and data, evaluate the gates
and write the reports to the output folder.

Configuration precedence, highest first: --set and the dedicated flags,
GAUNTLET_* environment variables (GAUNTLET_RUNTIME_WORKERS=4), the file,
built-in defaults. See docs/config.md.

` + exitCodesHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				// After the first signal, restore the default handling so
				// a second ^C kills a run that is slow to stop.
				<-ctx.Done()
				stop()
			}()
			return Run(ctx, o, s)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Config, "config", "c", "", "config file (YAML)")
	f.StringVar(&o.Out, "out", "", "output folder (overrides output.dir)")
	f.StringArrayVar(&o.Sets, "set", nil, "override a config key: --set runtime.workers=2 (repeatable)")
	f.StringVar(&o.ORTLibrary, "ort-library", "", "path to the ONNX Runtime shared library")
	f.StringVar(&o.Progress, "progress", "auto", "progress display: auto, bar, plain or none")
	f.StringVar(&o.Baseline, "baseline", "", "earlier JSON report to compare with (regression gates, McNemar)")
	f.StringVar(&o.Shard, "shard", "", "run shard i of N (i/N, from 0) and write a partial report for gauntlet merge")
	f.IntVar(&o.Shards, "shards", 0, "run one of N shards, the index from JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs)")
	f.BoolVar(&o.Resume, "resume", false, "keep finished units in the output folder and skip those an earlier, killed run finished")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// Run runs `gauntlet run`: it returns nil when every gate passed, and an
// error carrying the exit code otherwise.
func Run(ctx context.Context, o *RunOptions, s Streams) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg, err := config.Load(config.Options{Path: o.Config, Sets: o.Sets, Out: o.Out, ORTLibrary: o.ORTLibrary})
	if err != nil {
		return err
	}
	var baseline *reports.Report
	if o.Baseline != "" {
		if baseline, err = ReadReport(o.Baseline); err != nil {
			return err
		}
	}
	shard, err := resolveShard(o, cfg) // shard.go
	if err != nil {
		return err
	}
	prog, err := newProgress(o.Progress, s.Err, o.Now)
	if err != nil {
		return err
	}
	// One run at a time per output folder, and per folder of an
	// output.paths report: a second one exits 2 naming the lock rather
	// than mixing its files with the first's (docs/config.md).
	lock, err := lockOutputs(cfg)
	if err != nil {
		return err
	}
	defer lock.Release()
	if note := lock.StaleNote(); note != "" {
		fmt.Fprintf(s.Err, "warning: %s\n", note)
	}
	rep, err := engine.Run(ctx, cfg, engine.Options{Now: o.Now, Progress: prog, ORTFlag: o.ORTLibrary,
		Baseline: baseline, BaselinePath: o.Baseline, Shard: shard, Resume: o.Resume})
	if err != nil {
		if ctx.Err() != nil {
			return errs.WithCode(errs.Interrupted, fmt.Errorf("interrupted before any suite ran: %w", err))
		}
		return errs.WithCode(errs.Code(err, errs.Invalid), err)
	}
	if note := lock.StaleNote(); note != "" {
		rep.Warnings = append(rep.Warnings, note)
	}
	paths, err := WriteReports(partialOutput(cfg, rep), rep) // shard.go
	if err != nil {
		return err
	}
	PrintSummary(s.Out, rep, paths)
	return runExit(rep, o.Baseline)
}

// OutputDirs are the folders a run writes reports to, each of which it
// locks (reports.LockDirs): output.dir, then the folder of each configured
// format's output.paths entry.
func OutputDirs(cfg *config.Config) []string {
	_, dirs := outputDirKeys(cfg)
	return dirs
}

// outputDirKeys is OutputDirs with the config key of each folder
// (output.dir, output.paths.<format>).
func outputDirKeys(cfg *config.Config) (keys, dirs []string) {
	keys, dirs = []string{"output.dir"}, []string{cfg.Output.Dir}
	for _, f := range cfg.Output.Formats {
		if p := cfg.Output.Paths[f]; p != "" {
			keys = append(keys, "output.paths."+f)
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	return keys, dirs
}

// lockOutputs locks every folder of OutputDirs (reports.LockNamedDirs);
// the error of a folder that cannot be locked names its config key.
func lockOutputs(cfg *config.Config) (reports.DirLocks, error) {
	return reports.LockNamedDirs(outputDirKeys(cfg))
}

// runExit is the error (with its exit code) that run and merge return for
// a written report; nil when every gate passed.
func runExit(rep *reports.Report, baselinePath string) error {
	switch rep.ExitCode {
	case errs.OK:
		return nil
	case errs.GateFailed:
		if !reports.RegressionsPassed(rep.Baseline) {
			return errs.WithCode(errs.GateFailed, fmt.Errorf("gates failed: regression against %s", baselinePath))
		}
		return errs.WithCode(errs.GateFailed, fmt.Errorf("gates failed"))
	case errs.Interrupted:
		return errs.WithCode(errs.Interrupted, fmt.Errorf("interrupted; partial report written"))
	default:
		var failed []string
		for _, sr := range rep.Suites {
			if sr.Status == reports.StatusError || sr.Status == reports.StatusTimedOut {
				failed = append(failed, fmt.Sprintf("suite %s: %s", sr.Name, firstLine(sr.Error)))
			}
		}
		return errs.WithCode(rep.ExitCode, fmt.Errorf("%s", strings.Join(failed, "; ")))
	}
}

// WriteReports writes every configured format atomically, all of them or
// none, and returns the paths written, by format. A format's path is output.paths[format], else
// <output.dir>/report.<ext>.
func WriteReports(cfg *config.Config, rep *reports.Report) (map[string]string, error) {
	paths := map[string]string{}
	files := make([]reports.AtomicFile, 0, len(cfg.Output.Formats))
	for _, f := range cfg.Output.Formats {
		w, err := reports.WriterFor(f)
		if err != nil {
			return nil, err
		}
		p := cfg.Output.Paths[f]
		if p == "" {
			p = filepath.Join(cfg.Output.Dir, "report."+extension(f))
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, errs.Invalidf("report %s: %w", p, err)
		}
		if hw, ok := w.(reports.HTMLWriter); ok {
			hw.ArtifactDir = cfg.Output.Dir // suites' pictures are relative to it
			w = hw
		}
		files = append(files, reports.AtomicFile{Path: p, Write: func(wr io.Writer) error { return w.Write(wr, rep) }})
		paths[f] = p
	}
	// All formats or none: each is rendered to a temporary file first.
	if err := reports.WriteFilesAtomic(files); err != nil {
		return nil, fmt.Errorf("write reports: %w", err)
	}
	return paths, nil
}

func extension(format string) string {
	switch format {
	case "junit":
		return "junit.xml"
	case "sarif":
		return "sarif"
	case "markdown":
		return "md"
	case "cyclonedx":
		return "cdx.json"
	default:
		return format
	}
}

// PrintSummary writes a human-readable summary of a report.
func PrintSummary(w io.Writer, r *reports.Report, paths map[string]string) {
	fmt.Fprintf(w, "\nGauntlet %s — %s (sha256 %s…)\n", r.Tool.Version, r.Model.Path, short(r.Model.SHA256))
	ep := r.Environment.ExecutionProvider
	if r.Environment.Fallback != "" {
		ep += " (fallback: " + r.Environment.Fallback + ")"
	}
	fmt.Fprintf(w, "ONNX Runtime %s, %s, %d worker(s) × %d thread(s), batch %d, seed %d\n\n",
		r.Environment.ORTVersion, ep, r.Environment.Workers, r.Environment.IntraOpThreads, r.Environment.BatchSize, r.Seed)
	for _, s := range r.Suites {
		fmt.Fprintf(w, "  %-12s %-11s %6.2fs\n", s.Name, strings.ToUpper(s.Status), s.DurationS)
		if s.Error != "" {
			fmt.Fprintf(w, "      error: %s\n", firstLine(s.Error))
		}
		// Headline metrics: per-class figures stay in the report, and a
		// metric's confidence bounds print beside it.
		keys := make([]string, 0, len(s.Metrics))
		for k := range s.Metrics {
			if !strings.HasPrefix(k, "class.") && !strings.HasSuffix(k, ".ci_low") && !strings.HasSuffix(k, ".ci_high") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		width := 28
		for _, k := range keys {
			width = max(width, len(k))
		}
		for _, k := range keys {
			line := fmt.Sprintf("      %-*s %.4f", width, k, s.Metrics[k])
			lo, okLo := s.Metrics[k+".ci_low"]
			hi, okHi := s.Metrics[k+".ci_high"]
			if okLo && okHi {
				line += fmt.Sprintf("  [%.4f, %.4f]", lo, hi)
			}
			fmt.Fprintln(w, line)
			if note, ex := reports.IntervalNote(s, k); ex {
				fmt.Fprintf(w, "        ⚠ %s\n", note)
			}
		}
		for _, wn := range s.Warnings {
			fmt.Fprintf(w, "      warning: %s\n", wn)
		}
	}
	if len(r.Gates) > 0 {
		fmt.Fprintln(w, "\nGates:")
		for _, g := range r.Gates {
			mark, val := "PASS", "n/a"
			switch {
			case g.Waived():
				mark = "WAIVED"
			case !g.Passed:
				mark = "FAIL"
			}
			if g.Value != nil {
				val = fmt.Sprintf("%.4g", *g.Value)
			}
			line := fmt.Sprintf("  %s  %s  (value %s)", mark, g.Expr, val)
			if g.Reason != "" {
				line += " — " + g.Reason
			}
			if wv := g.Waiver; wv != nil {
				if wv.Expired {
					line += " — waiver expired on " + wv.Until + " (" + wv.Reason + ")"
				} else {
					line += " — waived until " + wv.Until + ": " + wv.Reason
				}
			}
			fmt.Fprintln(w, line)
		}
	}
	if r.Baseline != nil {
		PrintComparison(w, r.Baseline)
	}
	for _, wn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	formats := make([]string, 0, len(paths))
	for f := range paths {
		formats = append(formats, f)
	}
	sort.Strings(formats)
	for _, f := range formats {
		fmt.Fprintf(w, "\nReport (%s): %s", f, paths[f])
	}
	verdict := map[int]string{0: "all gates passed", 1: "a gate failed", 2: "invalid input in a suite", 3: "a suite failed", 130: "interrupted"}[r.ExitCode]
	if r.Status == reports.StatusPartial && r.Shard != nil {
		verdict = fmt.Sprintf("shard %d/%d done, no gate evaluated: gauntlet merge the shards' reports", r.Shard.Index, r.Shard.Count)
	}
	fmt.Fprintf(w, "\nResult: %s (exit %d)\n", verdict, r.ExitCode)
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
