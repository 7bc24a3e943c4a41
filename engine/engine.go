package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/cuda"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/version"
	"github.com/gauntlet-ml/gauntlet/registry"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/scan"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Progress receives progress events. Implementations must be safe for
// concurrent use of Update.
type Progress interface {
	// Start announces a suite and its number of work units (batches).
	Start(suite string)
	// Update reports done of total units finished in the current suite.
	Update(done, total int)
	// Finish closes the current suite with its status.
	Finish(suite, status string, d time.Duration)
}

// Options are the engine's injected dependencies.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Progress receives progress events; nil discards them.
	Progress Progress
	// ORTFlag is --ort-library (highest precedence in the library search).
	ORTFlag string
	// Search overrides the library search (tests); DefaultSearch when nil.
	Search *runtime.LibrarySearch
	// Cores is the number of CPU cores to plan threads for; NumCPU when 0.
	Cores int
	// Suites is the suite table; registry.All() when nil (tests inject
	// their own).
	Suites []suite.Suite
	// Baseline is an earlier report to compare with (run --baseline);
	// BaselinePath is its file, as the user gave it.
	Baseline     *reports.Report
	BaselinePath string
}

// Run executes cfg. An error returned with a nil report means nothing ran
// (bad config or input: the error carries its exit code); otherwise the
// report is complete, its ExitCode set, and it is the caller's to write.
func Run(ctx context.Context, cfg *config.Config, o Options) (*reports.Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Cores == 0 {
		o.Cores = goruntime.NumCPU()
	}
	start := o.Now()

	// Suites and their configs, in registry order.
	type planned struct {
		s   suite.Suite
		cfg any
	}
	var plan []planned
	table := o.Suites
	if table == nil {
		table = registry.All()
	}
	known := map[string]bool{}
	var names []string
	for _, s := range table {
		known[s.Name()] = true
		names = append(names, s.Name())
	}
	for name := range cfg.Suites {
		if !known[name] {
			return nil, errs.Invalidf("config %s: suites.%s: unknown suite (known: %s)", cfg.Path, name, strings.Join(names, ", "))
		}
	}
	for _, s := range table {
		raw, ok := cfg.Suites[s.Name()]
		if !ok {
			continue
		}
		sc, err := s.Decode(raw)
		if err != nil {
			return nil, errs.WithCode(errs.Code(err, errs.Invalid), fmt.Errorf("config %s: %w", cfg.Path, err))
		}
		plan = append(plan, planned{s, sc})
	}

	// ONNX Runtime and the model.
	search := runtime.DefaultSearch(o.ORTFlag, cfg.Runtime.ORTLibrary)
	if o.Search != nil {
		search = *o.Search
	}
	lib, err := runtime.FindLibrary(search)
	if err != nil {
		return nil, err
	}
	env, err := runtime.Init(lib)
	if err != nil {
		return nil, err
	}
	workers, intra, err := runtime.PlanThreads(o.Cores, cfg.Runtime.Workers, cfg.Runtime.IntraOpThreads)
	if err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("config %s: %w", cfg.Path, err))
	}
	ropts := runtime.Options{
		Device:         cfg.ParsedDevice,
		IntraOpThreads: intra,
		InputName:      cfg.Runtime.Input,
		OutputName:     cfg.Runtime.Output,
	}
	if cfg.Runtime.OutputKind != "auto" {
		ropts.OutputKind = runtime.OutputKind(cfg.Runtime.OutputKind)
	}
	// The allow-list is checked, and the static scan run, before the
	// model is handed to ONNX Runtime.
	// An unreadable or unparsable file is left to runtime.Open to report.
	scanned, _ := scan.File(cfg.Model, scan.Options{AllowSHA256: cfg.ModelAllowSHA256})
	if len(cfg.ModelAllowSHA256) > 0 {
		digest := ""
		if scanned != nil {
			digest = scanned.SHA256
		} else {
			d, err := scan.Digest(cfg.Model)
			if err != nil {
				return nil, errs.Invalidf("model %s: %w", cfg.Model, unwrapPath(err))
			}
			digest = d
		}
		if !scan.Allowed(digest, cfg.ModelAllowSHA256) {
			return nil, errs.Invalidf("model %s: sha256 %s is not in model_allow_sha256 (%d digest(s) allowed)", cfg.Model, digest, len(cfg.ModelAllowSHA256))
		}
	}
	// The data is read before the session is opened: its sample shape
	// fixes the model input's dynamic non-batch dims, if any.
	ds, err := data.Load(cfg.Data.Spec, cfg.Dir)
	if err != nil {
		return nil, errs.WithCode(errs.Code(err, errs.Invalid), err)
	}
	ropts.SampleShape = make([]int64, len(ds.SampleShape))
	for i, d := range ds.SampleShape {
		ropts.SampleShape[i] = int64(d)
	}
	sess, err := runtime.Open(env, cfg.Model, ropts)
	if err != nil {
		return nil, errs.WithCode(errs.Code(err, errs.Invalid), err)
	}
	defer sess.Close()
	if p := sess.Provider(); cfg.Runtime.Strict && p.Fallback != "" {
		return nil, errs.Invalidf("runtime.device %s: %s, and runtime.strict forbids falling back to %s", p.Requested, p.Fallback, p.Provider)
	}
	model := sess.Model()
	classes := sess.NumClasses()

	// The data is fitted to the input and, for a model that names its
	// classes (a scikit-learn converter's ZipMap), its labels are mapped
	// to class indices; suites ready the data files they read the same
	// way (suite.Target.LoadData).
	if err := suite.PrepareData(ds, sess, classes); err != nil {
		return nil, err
	}
	var rng [2]float64
	if len(cfg.Data.Range) == 2 {
		rng = [2]float64{cfg.Data.Range[0], cfg.Data.Range[1]}
		if err := ds.CheckRange(rng[0], rng[1]); err != nil {
			return nil, errs.WithCode(errs.Code(err, errs.Invalid), fmt.Errorf("%w (data.range is %v)", err, cfg.Data.Range))
		}
	}

	// Suites that need something of the data (fairness: CSV columns) say
	// so now, before any suite runs and before any report is written.
	for _, p := range plan {
		if dc, ok := p.s.(suite.DataChecker); ok {
			if err := dc.CheckData(p.cfg, ds, classes); err != nil {
				return nil, errs.WithCode(errs.Invalid, fmt.Errorf("config %s: %w", cfg.Path, err))
			}
		}
	}

	// Gates name metrics the planned suites can produce.
	metrics := map[string][]string{}
	for _, p := range plan {
		metrics[p.s.Name()] = p.s.Metrics(p.cfg, classes)
	}
	plannedNames := make([]string, 0, len(plan))
	for _, p := range plan {
		plannedNames = append(plannedNames, p.s.Name())
	}
	toValidate := append([]reports.Gate(nil), cfg.ParsedGates...)
	for _, r := range cfg.Regressions {
		toValidate = append(toValidate, r.Gate())
	}
	if err := reports.ValidateGates(toValidate, func(s string) ([]string, bool) {
		keys, ok := metrics[s]
		if !ok {
			return plannedNames, false // offered as "did you mean" suite names
		}
		return keys, true
	}); err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("config %s: %w", cfg.Path, err))
	}

	// Every report's folder is proved writable before any suite runs, and
	// only once the inputs are known good, so that bad input leaves no
	// empty output folder behind.
	if err := checkOutputs(cfg); err != nil {
		return nil, err
	}

	kind := sess.OutputKind()

	rep := newReport(cfg, sess, env, ds, start)
	rep.Model.OutputKind = string(kind)
	rep.Scan = scanned
	if scanned != nil {
		if n, _ := scan.Count(scanned, reports.SeverityError); n > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("model scan: %d finding(s) of severity error (see the report's scan section or run gauntlet scan)", n))
		}
	}
	rep.Environment.Workers = workers
	rep.Environment.IntraOpThreads = intra
	rep.Environment.BatchSize = cfg.Runtime.BatchSize

	base := suite.Target{
		Model:          model,
		Session:        sess,
		Env:            env,
		SessionOptions: ropts,
		Data:           ds,
		Range:          rng,
		Classes:        classes,
		OutputKind:     kind,
		BatchSize:      cfg.Runtime.BatchSize,
		Pool:           runtime.Pool{Workers: workers},
		BaseDir:        cfg.Dir,
		OutDir:         cfg.Output.Dir,

		ConfidenceLevel: cfg.Statistics.ConfidenceLevel,
	}
	codes := make([]int, len(plan))
	for i, p := range plan {
		var sr reports.SuiteResult
		var read []suite.DataFile
		sr, codes[i], read = runSuite(ctx, p.s, p.cfg, base, cfg.Seed, o)
		rep.Suites = append(rep.Suites, sr)
		rep.Data = appendSuiteData(rep.Data, p.s.Name(), read)
	}

	rep.Gates = reports.EvaluateAll(cfg.ParsedGates, rep)
	reports.ApplyWaivers(rep.Gates, cfg.Waivers, rep.StartedAt)
	exprs := append([]string(nil), cfg.Gates...)
	for _, g := range cfg.ParsedGates {
		exprs = append(exprs, g.String())
	}
	for _, r := range cfg.Regressions {
		exprs = append(exprs, r.String())
	}
	rep.Warnings = append(rep.Warnings, reports.UnusedWaivers(cfg.Waivers, exprs)...)
	switch {
	case o.Baseline != nil:
		rep.Baseline = reports.Compare(o.Baseline, rep, o.BaselinePath, cfg.Regressions, cfg.Waivers)
	case len(cfg.Regressions) > 0:
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d regression gate(s) configured but no baseline given (run --baseline FILE): not evaluated", len(cfg.Regressions)))
	}
	rep.Passed = reports.Passed(rep.Gates) && reports.RegressionsPassed(rep.Baseline)
	rep.ExitCode = exitCode(rep, codes)
	if rep.ExitCode == errs.Interrupted {
		rep.Status = reports.StatusInterrupted
	}
	rep.DurationS = o.Now().Sub(start).Seconds()
	return rep, nil
}

// runSuite runs one suite, turning a panic or an error into the suite's
// error status, and a cancelled context into "interrupted". It returns the
// exit code the suite's outcome calls for: OK, SuiteFailed, Invalid (the
// suite rejected its input) or Interrupted.
// appendSuiteData adds the files a suite read to the report's data[], each
// once, as <suite>.<role>.<x|y|csv>.
func appendSuiteData(dst []reports.DataFile, name string, read []suite.DataFile) []reports.DataFile {
	for _, f := range read {
		df := reports.DataFile{Role: name + "." + f.Role + "." + f.File.Role, Path: f.Path, SHA256: f.SHA256, Rows: f.Rows}
		if !slices.Contains(dst, df) {
			dst = append(dst, df)
		}
	}
	return dst
}

// runSuite runs one suite with its panics contained and returns its result,
// the exit code it asks for and the files it read (on success).
func runSuite(ctx context.Context, s suite.Suite, cfg any, base suite.Target, seed uint64, o Options) (reports.SuiteResult, int, []suite.DataFile) {
	t := base
	t.Seed = suite.DeriveSeed(seed, s.Name())
	sr := reports.SuiteResult{Name: s.Name(), Version: s.Version(), Seed: t.Seed,
		Metrics: map[string]float64{}, Details: map[string]any{}}
	if ctx.Err() != nil {
		sr.Status = reports.StatusSkipped
		sr.Error = "not started: the run was interrupted"
		return sr, errs.Interrupted, nil
	}
	if o.Progress != nil {
		o.Progress.Start(s.Name())
		t.Pool.Progress = o.Progress.Update
	}
	began := o.Now()
	res, err := safeRun(ctx, s, &t, cfg)
	sr.DurationS = o.Now().Sub(began).Seconds()
	code := errs.OK
	var read []suite.DataFile
	switch {
	case ctx.Err() != nil:
		sr.Status = reports.StatusInterrupted
		sr.Error = "interrupted"
		code = errs.Interrupted
	case err != nil:
		sr.Status = reports.StatusError
		sr.Error = err.Error()
		code = errs.Code(err, errs.SuiteFailed)
		if code != errs.Invalid {
			code = errs.SuiteFailed
		}
	default:
		sr.Status = reports.StatusPassed
		sr.Metrics = res.Metrics
		sr.Undefined = res.Undefined
		sr.Details = res.Details
		sr.Warnings = res.Warnings
		read = res.Data
	}
	if o.Progress != nil {
		o.Progress.Finish(s.Name(), sr.Status, o.Now().Sub(began))
	}
	return sr, code, read
}

func safeRun(ctx context.Context, s suite.Suite, t *suite.Target, cfg any) (res *suite.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("suite %s panicked: %v\n%s", s.Name(), r, debug.Stack())
		}
	}()
	res, err = s.Run(ctx, t, cfg)
	if err == nil && res == nil {
		err = fmt.Errorf("suite %s returned no result", s.Name())
	}
	return res, err
}

// exitCode decides the run's exit code from the suites' codes and the
// gates, in order of precedence: interrupted (130), a suite error (3, or 2
// when a suite rejected its input), a failed gate (1), else 0. A passed
// suite's status becomes "failed" when one of its gates failed.
func exitCode(r *reports.Report, codes []int) int {
	failedSuite := map[string]bool{}
	for _, g := range r.Gates {
		if !g.Passed && !g.Waived() {
			failedSuite[strings.SplitN(g.Metric, ".", 2)[0]] = true
		}
	}
	if r.Baseline != nil {
		for _, g := range r.Baseline.Regressions {
			if g.Status == reports.RegressionFailed && !g.Waived() {
				failedSuite[strings.SplitN(g.Metric, ".", 2)[0]] = true
			}
		}
	}
	for i := range r.Suites {
		if s := &r.Suites[i]; s.Status == reports.StatusPassed && failedSuite[s.Name] {
			s.Status = reports.StatusFailed
		}
	}
	code := errs.OK
	for _, c := range codes {
		switch {
		case c == errs.Interrupted:
			return errs.Interrupted
		case c == errs.SuiteFailed:
			code = errs.SuiteFailed
		case c == errs.Invalid && code != errs.SuiteFailed:
			code = errs.Invalid
		}
	}
	if code == errs.OK && !r.Passed {
		code = errs.GateFailed
	}
	return code
}

// checkOutputs proves output.dir and the folder of every configured
// output.paths entry writable.
func checkOutputs(cfg *config.Config) error {
	if err := checkWritable(cfg.Output.Dir); err != nil {
		return err
	}
	for _, f := range cfg.Output.Formats {
		p, ok := cfg.Output.Paths[f]
		if !ok || p == "" {
			continue
		}
		if err := checkWritable(filepath.Dir(p)); err != nil {
			return errs.WithCode(errs.Invalid, fmt.Errorf("output.paths.%s: %w", f, err))
		}
	}
	return nil
}

// checkWritable creates dir and proves a file can be written in it, so a
// bad output folder fails before any work is done.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return errs.Invalidf("output folder %s: %w", dir, unwrapPath(err))
	}
	f, err := os.CreateTemp(dir, ".gauntlet-probe-*")
	if err != nil {
		return errs.Invalidf("output folder %s is not writable: %w", dir, unwrapPath(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func newReport(cfg *config.Config, sess *runtime.Session, env *runtime.Environment, ds *data.Dataset, start time.Time) *reports.Report {
	info := sess.Info()
	adapt := sess.Adaptation()
	prov := sess.Provider()
	rep := &reports.Report{
		SchemaVersion: reports.SchemaVersion,
		Tool:          reports.Tool{Name: "gauntlet", Version: version.String()},
		Status:        "completed",
		StartedAt:     start.UTC(),
		Seed:          cfg.Seed,
		ConfigSHA256:  cfg.SHA256,

		ConfidenceLevel: cfg.Statistics.ConfidenceLevel,
		Model: reports.Model{
			Path:    cfg.Model,
			SHA256:  info.SHA256,
			Opset:   info.Opset,
			Inputs:  tensors(info.Inputs),
			Outputs: tensors(info.Outputs),

			OutputRead:   adapt.OutputRead,
			ClassLabels:  adapt.ClassLabels.Names(),
			IOConversion: adapt.IOConversion,
			InputShape:   adapt.InputShape,
		},
		Environment: reports.Environment{
			ORTVersion:                 env.Version,
			ORTLibrary:                 env.LibraryPath,
			ExecutionProviderRequested: prov.Requested,
			ExecutionProvider:          prov.Provider,
			Fallback:                   prov.Fallback,
			Device:                     prov.Device,
			GoVersion:                  goruntime.Version(),
			OS:                         goruntime.GOOS + "/" + goruntime.GOARCH,
			CPU:                        cpuName(),
			GPU:                        strings.Join(cuda.GPUs(), "; "),
		},
	}
	for _, f := range ds.Files {
		rep.Data = append(rep.Data, reports.DataFile{Role: f.Role, Path: f.Path, SHA256: f.SHA256, Rows: f.Rows})
	}
	if prov.Fallback != "" {
		rep.Warnings = append(rep.Warnings, "execution provider fell back to "+prov.Provider+": "+prov.Fallback)
	}
	return rep
}

func tensors(ts []runtime.TensorInfo) []reports.Tensor {
	out := make([]reports.Tensor, len(ts))
	for i, t := range ts {
		out[i] = reports.Tensor{Name: t.Name, Type: t.Type, Shape: t.Shape, DimNames: t.DimNames}
	}
	return out
}

// cpuName returns the CPU model and core count, e.g. "Intel(R) Xeon(R) ... (2 cores)".
func cpuName() string {
	name := goruntime.GOARCH
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				name = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s (%d cores)", name, goruntime.NumCPU())
}
