package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/version"
)

// Streams are a command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

const exitCodesHelp = `Exit codes:
  0    every gate passed
  1    a gate failed
  2    bad config or input (model, data, paths, flags)
  3    a suite failed at run time
  130  interrupted (SIGINT or SIGTERM); the report is written with status
       "interrupted" (none when no suite had started yet)`

// NewRoot returns the gauntlet root command.
func NewRoot(ctx context.Context, s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "gauntlet",
		Short: "Security and fairness release gates for ONNX classifiers",
		Long: `Gauntlet runs test suites (accuracy, evasion, membership and attribute
inference, model inversion, poisoning and backdoor detection, fairness) on an
ONNX classifier through ONNX Runtime and writes gate-ready reports for CI:
JSON, JUnit, SARIF, Markdown and HTML.

` + exitCodesHelp,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetContext(ctx)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return errs.WithCode(errs.Invalid, err)
	})
	root.AddCommand(
		newRunCmd(s),
		newMergeCmd(s),
		newInitCmd(s),
		newDoctorCmd(s),
		newInspectCmd(s),
		newGradCmd(s),
		newDiffCmd(s),
		newScanCmd(s),
		newSignCmd(s),
		newVerifyCmd(s),
		newKeygenCmd(s),
	)
	return root
}

// Main runs the gauntlet command line with args and returns the exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	root := NewRoot(ctx, s)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return errs.OK
	}
	code := errs.Code(err, errs.Invalid)
	if code != errs.GateFailed {
		fmt.Fprintf(s.Err, "gauntlet: %v\n", err)
	}
	return code
}

// Stdio returns the process's standard streams.
func Stdio() Streams { return Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr} }
