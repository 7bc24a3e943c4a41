package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"time"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Part is one shard's partial report and the file it was read from (named
// in errors).
type Part struct {
	Path   string
	Report *reports.Report
}

// Merge combines the partial reports of a sharded run (gauntlet merge)
// into the run's report: it checks that the parts belong together and to
// cfg (docs/sharding.md: same Gauntlet version, model and data digests,
// config work digest, seed and shard count, every index once; a mismatch
// is exit 2 naming the part's file), recomputes every suite's result from
// all its units (suite.Sharder's Merge) and evaluates the gates, waivers
// and regression gates once. Only o.Now, o.Suites and o.Baseline are used.
func Merge(ctx context.Context, cfg *config.Config, parts []Part, o Options) (*reports.Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(parts) == 0 {
		return nil, errs.Invalidf("merge: no partial report given")
	}
	if err := checkParts(cfg, parts); err != nil {
		return nil, err
	}
	slices.SortFunc(parts, func(a, b Part) int { return a.Report.Shard.Index - b.Report.Shard.Index })
	r := &run{cfg: cfg, o: o, start: o.Now()}
	if err := r.planSuites(); err != nil {
		return nil, err
	}
	if err := checkOutputs(cfg); err != nil {
		return nil, err
	}
	first := parts[0].Report
	rep := &reports.Report{
		SchemaVersion:   reports.SchemaVersion,
		Tool:            first.Tool,
		Status:          "completed",
		StartedAt:       first.StartedAt,
		Seed:            cfg.Seed,
		ConfigSHA256:    cfg.SHA256,
		ConfidenceLevel: first.ConfidenceLevel,
		Model:           first.Model,
		Data:            append([]reports.DataFile(nil), first.Data...),
		Environment:     first.Environment,
		Scan:            first.Scan,
	}
	end := first.StartedAt
	for _, p := range parts {
		pr := p.Report
		if pr.StartedAt.Before(rep.StartedAt) {
			rep.StartedAt = pr.StartedAt
		}
		if e := pr.StartedAt.Add(time.Duration(pr.DurationS * float64(time.Second))); e.After(end) {
			end = e
		}
		for _, w := range pr.Warnings {
			if !slices.Contains(rep.Warnings, w) {
				rep.Warnings = append(rep.Warnings, w)
			}
		}
	}
	rep.Warnings = append(rep.Warnings, fmt.Sprintf("merged from %d shard(s) by gauntlet merge; environment is shard 0's", len(parts)))
	r.rep = rep
	r.codes = make([]int, len(r.plan))
	for i, p := range r.plan {
		sr, code, read, err := mergeSuite(ctx, cfg, p, parts, rep)
		if err != nil {
			return nil, err
		}
		r.codes[i] = code
		rep.Suites = append(rep.Suites, sr)
		rep.Data = appendSuiteData(rep.Data, p.s.Name(), read)
	}
	r.evaluate()
	rep.StartedAt = rep.StartedAt.UTC()
	rep.DurationS = end.Sub(rep.StartedAt).Seconds()
	return rep, nil
}

// checkParts checks that the parts are the shards of one run of cfg.
func checkParts(cfg *config.Config, parts []Part) error {
	first := parts[0]
	seen := map[int]string{}
	for _, p := range parts {
		pr := p.Report
		bad := func(format string, a ...any) error {
			return errs.Invalidf("merge: %s: %s", p.Path, fmt.Sprintf(format, a...))
		}
		if pr.Status != reports.StatusPartial || pr.Shard == nil {
			return bad("not a complete shard's partial report (status %q%s)", pr.Status, map[bool]string{true: ", no shard", false: ""}[pr.Shard == nil])
		}
		fr := first.Report
		switch {
		case pr.Tool.Version != fr.Tool.Version:
			return bad("written by gauntlet %s, %s by %s", pr.Tool.Version, first.Path, fr.Tool.Version)
		case pr.Shard.WorkSHA256 != cfg.WorkSHA256:
			return bad("config work digest %s differs from config %s's %s (another config, or other --set values)", pr.Shard.WorkSHA256, cfg.Path, cfg.WorkSHA256)
		case pr.Model.SHA256 != fr.Model.SHA256:
			return bad("model sha256 %s differs from %s's %s", pr.Model.SHA256, first.Path, fr.Model.SHA256)
		case !reflect.DeepEqual(digests(pr.Data), digests(fr.Data)):
			return bad("data %v differ from %s's %v", digests(pr.Data), first.Path, digests(fr.Data))
		case pr.Seed != cfg.Seed:
			return bad("seed %d differs from the config's %d", pr.Seed, cfg.Seed)
		case pr.Shard.Count != fr.Shard.Count:
			return bad("shard count %d differs from %s's %d", pr.Shard.Count, first.Path, fr.Shard.Count)
		case pr.Shard.Classes != fr.Shard.Classes:
			return bad("%d classes, %s has %d", pr.Shard.Classes, first.Path, fr.Shard.Classes)
		case pr.Shard.Index < 0 || pr.Shard.Index >= pr.Shard.Count:
			return bad("shard index %d is outside 0..%d", pr.Shard.Index, pr.Shard.Count-1)
		}
		if prev, dup := seen[pr.Shard.Index]; dup {
			return bad("shard %d/%d is also %s (each index once)", pr.Shard.Index, pr.Shard.Count, prev)
		}
		seen[pr.Shard.Index] = p.Path
	}
	var missing []int
	for i := range first.Report.Shard.Count {
		if _, ok := seen[i]; !ok {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		return errs.Invalidf("merge: shard(s) %v of %d missing (given: %d report(s), the first %s)", missing, first.Report.Shard.Count, len(parts), first.Path)
	}
	return nil
}

// digests lists data files as role=sha256.
func digests(ds []reports.DataFile) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Role + "=" + d.SHA256
	}
	return out
}

// mergeSuite merges one suite's parts. A part whose suite did not pass
// (error, interrupted, timed out) makes the merged suite that status, with
// the part's error. A mismatch between the parts is an error (exit 2).
func mergeSuite(ctx context.Context, cfg *config.Config, p planned, parts []Part, rep *reports.Report) (reports.SuiteResult, int, []suite.DataFile, error) {
	name := p.s.Name()
	seed := suite.DeriveSeed(cfg.Seed, name)
	sr := reports.SuiteResult{Name: name, Version: p.s.Version(), Seed: seed, Metrics: map[string]float64{}, Details: map[string]any{}}
	sh, ok := p.s.(suite.Sharder)
	if !ok {
		return sr, 0, nil, errs.Invalidf("merge: suite %s does not shard (docs/sharding.md)", name)
	}
	var results [][]byte
	var common []byte
	units := -1
	for _, part := range parts {
		pr := part.Report
		i := slices.IndexFunc(pr.Suites, func(s reports.SuiteResult) bool { return s.Name == name })
		if i < 0 {
			return sr, 0, nil, errs.Invalidf("merge: %s: suite %s is missing", part.Path, name)
		}
		ps := pr.Suites[i]
		sr.DurationS += ps.DurationS
		if ps.Status != reports.StatusPassed {
			sr.Status, sr.Error = ps.Status, fmt.Sprintf("shard %d/%d (%s): %s", pr.Shard.Index, pr.Shard.Count, part.Path, ps.Error)
			code := errs.SuiteFailed
			if ps.Status == reports.StatusInterrupted || ps.Status == reports.StatusSkipped {
				code = errs.Interrupted
			}
			return sr, code, nil, nil
		}
		if ps.Version != p.s.Version() || ps.Seed != seed {
			return sr, 0, nil, errs.Invalidf("merge: %s: suite %s version %s seed %d, this gauntlet's is version %s seed %d", part.Path, name, ps.Version, ps.Seed, p.s.Version(), seed)
		}
		pp := ps.Partial
		if pp == nil {
			return sr, 0, nil, errs.Invalidf("merge: %s: suite %s has no partial results", part.Path, name)
		}
		if units < 0 {
			units, common = pp.Units, pp.Common
			results = make([][]byte, units)
		}
		if pp.Units != units {
			return sr, 0, nil, errs.Invalidf("merge: %s: suite %s has %d units, %s has %d", part.Path, name, pp.Units, parts[0].Path, units)
		}
		if string(pp.Common) != string(common) {
			return sr, 0, nil, errs.Invalidf("merge: %s: suite %s's common part differs from %s's (another data set or model?)", part.Path, name, parts[0].Path)
		}
		lo, hi := suite.Shard{Index: pr.Shard.Index, Count: pr.Shard.Count}.Range(units)
		if len(pp.Results) != hi-lo {
			return sr, 0, nil, errs.Invalidf("merge: %s: suite %s holds %d unit results, shard %d/%d has units %d..%d", part.Path, name, len(pp.Results), pr.Shard.Index, pr.Shard.Count, lo, hi-1)
		}
		for j, u := range pp.Results {
			if u.Unit != lo+j {
				return sr, 0, nil, errs.Invalidf("merge: %s: suite %s result %d is unit %d, want unit %d", part.Path, name, j, u.Unit, lo+j)
			}
			results[u.Unit] = u.Result
		}
	}
	raw := make([]json.RawMessage, len(results))
	for i, b := range results {
		raw[i] = b
	}
	t := &suite.Target{Classes: parts[0].Report.Shard.Classes, OutputKind: outputKind(rep.Model.OutputKind), Seed: seed,
		BatchSize: cfg.Runtime.BatchSize, BaseDir: cfg.Dir, OutDir: cfg.Output.Dir, ConfidenceLevel: cfg.Statistics.ConfidenceLevel}
	if len(cfg.Data.Range) == 2 {
		t.Range = [2]float64{cfg.Data.Range[0], cfg.Data.Range[1]}
	}
	res, err := safeMerge(ctx, sh, t, p.cfg, common, raw)
	if err != nil {
		sr.Status, sr.Error = reports.StatusError, err.Error()
		return sr, errs.SuiteFailed, nil, nil
	}
	sr.Status = reports.StatusPassed
	sr.Metrics, sr.Undefined, sr.Details, sr.Warnings = res.Metrics, res.Undefined, res.Details, res.Warnings
	return sr, errs.OK, res.Data, nil
}

// outputKind is the report's model.output_kind as the runtime's type.
func outputKind(s string) runtime.OutputKind { return runtime.OutputKind(s) }

// safeMerge runs a suite's Merge, turning a panic into its error.
func safeMerge(ctx context.Context, sh suite.Sharder, t *suite.Target, cfg any, common json.RawMessage, results []json.RawMessage) (res *suite.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("merge panicked: %v\n%s", r, debug.Stack())
		}
	}()
	res, err = sh.Merge(ctx, t, cfg, common, results)
	if err == nil && res == nil {
		err = fmt.Errorf("merge returned no result")
	}
	return res, err
}
