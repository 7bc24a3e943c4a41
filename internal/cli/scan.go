package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/version"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/scan"
)

// ScanOptions are the options of `gauntlet scan`.
type ScanOptions struct {
	Allow              []string
	FailOn             string
	Format             string
	Out                string
	MinOpset, MaxOpset int64
}

func newScanCmd(s Streams) *cobra.Command {
	o := &ScanOptions{}
	cmd := &cobra.Command{
		Use:   "scan MODEL.onnx [--allow-sha256 HEX]... [--fail-on error|warning|note]",
		Short: "Check an ONNX file statically before anything runs it",
		Long: `Check an ONNX model file without running it: external-data paths that leave
the model's folder, operators from custom domains, opsets outside the
supported range, absurd tensor sizes, duplicate or dangling names, and the
SHA-256 allow-list. Findings are written as text, JSON or SARIF 2.1.0.
The rules are listed in docs/scan.md.

Exit codes:
  0    no finding at or above --fail-on
  1    a finding at or above --fail-on
  2    the file is unreadable or not an ONNX model, or a flag is bad`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return Scan(args[0], o, s)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.Allow, "allow-sha256", nil, "allowed model digest (repeatable); any other digest is a finding")
	f.StringVar(&o.FailOn, "fail-on", reports.SeverityError, "lowest severity that fails the scan: error, warning or note")
	f.StringVar(&o.Format, "format", "text", "output: text, json or sarif")
	f.StringVar(&o.Out, "out", "", "write the output to this file instead of standard output")
	f.Int64Var(&o.MinOpset, "min-opset", scan.DefaultMinOpset, "lowest supported ai.onnx opset")
	f.Int64Var(&o.MaxOpset, "max-opset", scan.DefaultMaxOpset, "highest supported ai.onnx opset")
	return cmd
}

// Scan runs `gauntlet scan`.
func Scan(path string, o *ScanOptions, s Streams) error {
	if _, err := reports.SeverityRank(o.FailOn); err != nil {
		return errs.Invalidf("--fail-on: %w", err)
	}
	if err := scan.ValidateAllowList("--allow-sha256", o.Allow); err != nil {
		return err
	}
	if o.MinOpset < 1 || o.MaxOpset < o.MinOpset {
		return errs.Invalidf("--min-opset %d, --max-opset %d: want 1 ≤ min ≤ max", o.MinOpset, o.MaxOpset)
	}
	var write func(w io.Writer, r *reports.ScanResult) error
	switch o.Format {
	case "text":
		write = writeScanText
	case "json":
		write = func(w io.Writer, r *reports.ScanResult) error {
			b, err := reports.MarshalAny(r)
			if err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		}
	case "sarif":
		write = func(w io.Writer, r *reports.ScanResult) error { return reports.WriteScanSARIF(w, r, version.String()) }
	default:
		return errs.Invalidf("--format %q: want text, json or sarif", o.Format)
	}
	res, err := scan.File(path, scan.Options{MinOpset: o.MinOpset, MaxOpset: o.MaxOpset, AllowSHA256: o.Allow})
	if err != nil {
		return err
	}
	if o.Out != "" {
		if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
			return errs.Invalidf("--out %s: %w", o.Out, err)
		}
		if err := reports.WriteFileAtomic(o.Out, func(w io.Writer) error { return write(w, res) }); err != nil {
			return err
		}
		if o.Format != "text" {
			writeScanText(s.Out, res)
		}
	} else if err := write(s.Out, res); err != nil {
		return err
	}
	n, _ := scan.Count(res, o.FailOn)
	if n > 0 {
		fmt.Fprintf(s.Err, "gauntlet: scan %s: %d finding(s) at or above %s\n", path, n, o.FailOn)
		return errs.WithCode(errs.GateFailed, fmt.Errorf("scan %s: %d finding(s) at or above %s", path, n, o.FailOn))
	}
	return nil
}

func writeScanText(w io.Writer, r *reports.ScanResult) error {
	fmt.Fprintf(w, "%s (sha256 %s)\n", r.Path, r.SHA256)
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "  no findings")
	}
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  %-7s %-27s %s\n", f.Severity, f.RuleID, f.Message)
	}
	return nil
}
