package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/engine"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// JobIndexEnv is the variable a Kubernetes Indexed Job sets to each pod's
// completion index; run --shards N reads the shard index from it.
const JobIndexEnv = "JOB_COMPLETION_INDEX"

// resolveShard decides which shard a run is, from (in order) --shard,
// --shards N with JOB_COMPLETION_INDEX, and runtime.shard; the zero Shard
// when none is set. Each source's error names it (exit 2).
func resolveShard(o *RunOptions, cfg *config.Config) (suite.Shard, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	switch {
	case o.Shard != "" && o.Shards != 0:
		return suite.Shard{}, errs.Invalidf("--shard %s and --shards %d: give one (--shards takes the index from %s)", o.Shard, o.Shards, JobIndexEnv)
	case o.Shard != "":
		sh, err := suite.ParseShard(o.Shard)
		if err != nil {
			return sh, fmt.Errorf("--shard: %w", err)
		}
		return sh, nil
	case o.Shards != 0:
		if o.Shards < 1 || o.Shards > suite.MaxShards {
			return suite.Shard{}, errs.Invalidf("--shards %d is outside 1..%d", o.Shards, suite.MaxShards)
		}
		v := getenv(JobIndexEnv)
		if v == "" {
			return suite.Shard{}, errs.Invalidf("--shards %d: %s is not set (a Kubernetes Indexed Job sets it; elsewhere use --shard i/N)", o.Shards, JobIndexEnv)
		}
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 0 || i >= o.Shards {
			return suite.Shard{}, errs.Invalidf("--shards %d: %s=%q is not an index in 0..%d", o.Shards, JobIndexEnv, v, o.Shards-1)
		}
		return suite.Shard{Index: i, Count: o.Shards}, nil
	case cfg.Runtime.Shard != "":
		sh, err := suite.ParseShard(cfg.Runtime.Shard)
		if err != nil {
			return sh, errs.WithCode(errs.Invalid, fmt.Errorf("config %s: runtime.shard: %w", cfg.Path, err))
		}
		return sh, nil
	}
	return suite.Shard{}, nil
}

// partialOutput returns cfg for writing rep: a shard's partial report is
// written as JSON only (report.json, or output.paths.json), the input of
// gauntlet merge; the merge writes every format.
func partialOutput(cfg *config.Config, rep *reports.Report) *config.Config {
	if rep.Shard == nil {
		return cfg
	}
	c := *cfg
	c.Output.Formats = []string{"json"}
	return &c
}

// MergeOptions are the options of `gauntlet merge`.
type MergeOptions struct {
	Config   string
	Out      string
	Sets     []string
	Baseline string
	// Reports are the shards' partial report.json files.
	Reports []string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func newMergeCmd(s Streams) *cobra.Command {
	o := &MergeOptions{}
	cmd := &cobra.Command{
		Use:   "merge -c FILE [--out DIR] SHARD_REPORT...",
		Short: "Merge the partial reports of a sharded run into its report",
		Long: `Merge the partial reports that gauntlet run --shard i/N wrote (one
report.json per shard) into the run's report, as if it had run unsharded:
the suites' figures are recomputed from every unit's results, then the gates
of FILE are evaluated once and every configured format is written.

FILE (with the same --set values) must be the config the shards ran: the
shards must share the config's work digest, the model and data digests, the
seed and the shard count, and every index must be given once; anything else
is exit 2 naming the report file and the mismatch. See docs/sharding.md.

` + exitCodesHelp,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Reports = args
			return Merge(ctx, o, s)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Config, "config", "c", "", "config file the shards ran (YAML)")
	f.StringVar(&o.Out, "out", "", "output folder (overrides output.dir)")
	f.StringArrayVar(&o.Sets, "set", nil, "override a config key, as given to the shards (repeatable)")
	f.StringVar(&o.Baseline, "baseline", "", "earlier JSON report to compare with (regression gates, McNemar)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// Merge runs `gauntlet merge`: it returns nil when every gate passed, and
// an error carrying the exit code otherwise.
func Merge(ctx context.Context, o *MergeOptions, s Streams) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg, err := config.Load(config.Options{Path: o.Config, Sets: o.Sets, Out: o.Out})
	if err != nil {
		return err
	}
	parts := make([]engine.Part, 0, len(o.Reports))
	for _, p := range o.Reports {
		r, err := ReadReport(p)
		if err != nil {
			return err
		}
		parts = append(parts, engine.Part{Path: p, Report: r})
	}
	var baseline *reports.Report
	if o.Baseline != "" {
		if baseline, err = ReadReport(o.Baseline); err != nil {
			return err
		}
	}
	lock, err := lockOutputs(cfg)
	if err != nil {
		return err
	}
	defer lock.Release()
	rep, err := engine.Merge(ctx, cfg, parts, engine.Options{Now: o.Now, Baseline: baseline, BaselinePath: o.Baseline})
	if err != nil {
		return errs.WithCode(errs.Code(err, errs.Invalid), err)
	}
	paths, err := WriteReports(cfg, rep)
	if err != nil {
		return err
	}
	PrintSummary(s.Out, rep, paths)
	return runExit(rep, o.Baseline)
}
