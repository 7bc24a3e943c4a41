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
	// WithTimeout gives a suite's context its runtime.timeout deadline;
	// context.WithTimeout when nil (tests pass a deadline that passes
	// after a chosen batch, so that what a suite finished is known).
	WithTimeout func(context.Context, time.Duration) (context.Context, context.CancelFunc)
	// Shard is the part of the work to run (run --shard i/N; the zero
	// value runs it all): the report is then partial (docs/sharding.md).
	Shard suite.Shard
	// Resume skips the units already in output.dir's state folder
	// (run --resume).
	Resume bool
	// saved, when set (tests), is called with the suite's name and the
	// unit after each unit a sharded or resumable run saves to its state
	// folder: what a test kills a run after, for every suite alike.
	saved func(suite string, unit int)
}

// Run executes cfg. An error returned with a nil report means nothing ran
// (bad config or input: the error carries its exit code); otherwise the
// report is complete, its ExitCode set, and it is the caller's to write.
//
// Run is a pipeline of named steps (steps), each a method of run that
// reads what the steps before it set: every check of the input comes
// before the first suite, so that bad input writes no report.
func Run(ctx context.Context, cfg *config.Config, o Options) (*reports.Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Cores == 0 {
		o.Cores = goruntime.NumCPU()
	}
	r := &run{cfg: cfg, o: o, start: o.Now()}
	defer r.close()
	for _, st := range steps {
		if err := st.do(r); err != nil {
			return nil, err
		}
		// A signal during the set-up stops the run with no report
		// (docs/report-schema.md): there are no results yet.
		if ctx.Err() != nil {
			return nil, errs.WithCode(errs.Interrupted, fmt.Errorf("interrupted while the run was being set up (%s): %w", st.name, ctx.Err()))
		}
	}
	r.runSuites(ctx)
	if !r.o.Shard.Whole() {
		r.finishPartial() // engine/shard.go
		return r.rep, nil
	}
	r.evaluate()
	return r.rep, nil
}

// steps are Run's checks and set-up, in order.
var steps = []struct {
	name string
	do   func(*run) error
}{
	{"plan the suites", (*run).planSuites},
	{"check the suites shard", (*run).checkShard},
	{"load ONNX Runtime", (*run).loadLibrary},
	{"check the model's digest and scan it", (*run).scanModel},
	{"load the data", (*run).loadData},
	{"open the model", (*run).openModel},
	{"ready the data", (*run).readyData},
	{"check the memory limit", (*run).checkMemory},
	{"check the gates", (*run).checkGates},
	{"check the outputs", (*run).checkOutputs},
	{"start the report", (*run).startReport},
	{"open the resume state", (*run).openState},
}

// planned is one suite to run and its decoded config.
type planned struct {
	s   suite.Suite
	cfg any
}

// run is the state Run's steps share.
type run struct {
	cfg   *config.Config
	o     Options
	start time.Time

	plan           []planned
	env            *runtime.Environment
	workers, intra int
	ropts          runtime.Options
	scanned        *reports.ScanResult
	ds             *data.Dataset
	sess           *runtime.Session
	classes        int
	rng            [2]float64
	rep            *reports.Report
	codes          []int
	state          string // the state folder of a sharded or resumable run
}

func (r *run) close() {
	if r.sess != nil {
		r.sess.Close()
	}
}

// planSuites decodes the config of every suite the config names, in
// registry order; an unknown suite or a bad suite block is exit 2.
func (r *run) planSuites() error {
	cfg := r.cfg
	table := r.o.Suites
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
			return errs.Invalidf("config %s: suites.%s: unknown suite (known: %s)", cfg.Path, name, strings.Join(names, ", "))
		}
	}
	for _, s := range table {
		raw, ok := cfg.Suites[s.Name()]
		if !ok {
			continue
		}
		sc, err := s.Decode(raw)
		if err != nil {
			return errs.WithCode(errs.Code(err, errs.Invalid), fmt.Errorf("config %s: %w", cfg.Path, err))
		}
		r.plan = append(r.plan, planned{s, sc})
	}
	return nil
}

// loadLibrary finds and loads ONNX Runtime and plans the threads.
func (r *run) loadLibrary() error {
	cfg := r.cfg
	search := runtime.DefaultSearch(r.o.ORTFlag, cfg.Runtime.ORTLibrary)
	if r.o.Search != nil {
		search = *r.o.Search
	}
	lib, err := runtime.FindLibrary(search)
	if err != nil {
		return err
	}
	if r.env, err = runtime.Init(lib); err != nil {
		return err
	}
	if r.workers, r.intra, err = runtime.PlanThreads(r.o.Cores, cfg.Runtime.Workers, cfg.Runtime.IntraOpThreads); err != nil {
		return errs.WithCode(errs.Invalid, fmt.Errorf("config %s: %w", cfg.Path, err))
	}
	// Graphs built from the model (gradients, fused loops) keep its
	// external data locations: they resolve against its folder.
	modelDir, err := filepath.Abs(filepath.Dir(cfg.Model))
	if err != nil {
		return errs.Invalidf("model %s: %w", cfg.Model, err)
	}
	r.ropts = runtime.Options{
		Device:         cfg.ParsedDevice,
		IntraOpThreads: r.intra,
		InputName:      cfg.Runtime.Input,
		OutputName:     cfg.Runtime.Output,
		ModelDir:       modelDir,
	}
	if cfg.Runtime.OutputKind != "auto" {
		r.ropts.OutputKind = runtime.OutputKind(cfg.Runtime.OutputKind)
	}
	return nil
}

// scanModel checks the allow-list and runs the static scan, before the
// model is handed to ONNX Runtime: a model the scan finds errors in (what
// `gauntlet scan` exits 1 for: external data outside the model's folder,
// custom-op domains, declared sizes past the limits, cycles, dangling or
// duplicate names; all but the opset range, see scan.Refusal) is refused,
// exit 2, naming each finding's node or tensor; warnings and notes go into
// the report. An unreadable or
// unparsable file is left to openModel to report.
func (r *run) scanModel() error {
	cfg := r.cfg
	r.scanned, _ = scan.File(cfg.Model, scan.Options{AllowSHA256: cfg.ModelAllowSHA256})
	if len(cfg.ModelAllowSHA256) == 0 {
		return scan.Refusal(cfg.Model, r.scanned)
	}
	digest := ""
	if r.scanned != nil {
		digest = r.scanned.SHA256
	} else {
		d, err := scan.Digest(cfg.Model)
		if err != nil {
			return errs.Invalidf("model %s: %w", cfg.Model, unwrapPath(err))
		}
		digest = d
	}
	if !scan.Allowed(digest, cfg.ModelAllowSHA256) {
		return errs.Invalidf("model %s: sha256 %s is not in model_allow_sha256 (%d digest(s) allowed)", cfg.Model, digest, len(cfg.ModelAllowSHA256))
	}
	return scan.Refusal(cfg.Model, r.scanned)
}

// loadData reads the data before the session is opened: its sample shape
// fixes the model input's dynamic non-batch dims, if any. The CSV columns
// that suites name (suite.ColumnUser) are kept without data.keep.
func (r *run) loadData() error {
	spec := r.cfg.Data.Spec
	spec.Also = append([]string{}, spec.Also...)
	for _, p := range r.plan {
		if cu, ok := p.s.(suite.ColumnUser); ok {
			for _, c := range cu.DataColumns(p.cfg) {
				if !slices.Contains(spec.Also, c) {
					spec.Also = append(spec.Also, c)
				}
			}
		}
	}
	ds, err := data.Load(spec, r.cfg.Dir)
	if err != nil {
		return errs.WithCode(errs.Code(err, errs.Invalid), err)
	}
	r.ds = ds
	r.ropts.SampleShape = make([]int64, len(ds.SampleShape))
	for i, d := range ds.SampleShape {
		r.ropts.SampleShape[i] = int64(d)
	}
	return nil
}

// openModel opens the session; runtime.strict refuses a fallback from the
// requested device.
func (r *run) openModel() error {
	sess, err := runtime.Open(r.env, r.cfg.Model, r.ropts)
	if err != nil {
		return errs.WithCode(errs.Code(err, errs.Invalid), err)
	}
	r.sess = sess
	if p := sess.Provider(); r.cfg.Runtime.Strict && p.Fallback != "" {
		return errs.Invalidf("runtime.device %s: %s, and runtime.strict forbids falling back to %s", p.Requested, p.Fallback, p.Provider)
	}
	r.classes = sess.NumClasses()
	return nil
}

// readyData fits the data to the input and, for a model that names its
// classes (a scikit-learn converter's ZipMap), maps its labels to class
// indices (suites ready the data files they read the same way:
// suite.Target.LoadData); checks data.range; and lets the suites that need
// something of the data (fairness: CSV columns) say so now, before any
// suite runs.
func (r *run) readyData() error {
	cfg, ds := r.cfg, r.ds
	if err := suite.PrepareData(ds, r.sess, r.classes); err != nil {
		return err
	}
	if len(cfg.Data.Range) == 2 {
		r.rng = [2]float64{cfg.Data.Range[0], cfg.Data.Range[1]}
		if err := ds.CheckRange(r.rng[0], r.rng[1]); err != nil {
			return errs.WithCode(errs.Code(err, errs.Invalid), fmt.Errorf("%w (data.range is %v)", err, cfg.Data.Range))
		}
	}
	for _, p := range r.plan {
		if dc, ok := p.s.(suite.DataChecker); ok {
			if err := dc.CheckData(p.cfg, ds, r.classes); err != nil {
				return errs.WithCode(errs.Invalid, fmt.Errorf("config %s: %w", cfg.Path, err))
			}
		}
	}
	return nil
}

// tensorBytes is the size of one value fed to or read from ONNX Runtime:
// Gauntlet feeds and reads float32 (a model's other types are cast at its
// boundary).
const tensorBytes = 4

// checkMemory refuses, when runtime.max_memory is set, a batch size whose
// tensors in flight exceed it: workers × batch_size × (input values +
// output values per sample) × 4 bytes, from the data's sample shape as fed
// and the model's class count. It is a lower bound of the run's memory
// (the model's weights and intermediate activations, the data set and a
// suite's own buffers come on top), so a run that passes may still need
// more; one that fails cannot fit.
func (r *run) checkMemory() error {
	limit := r.cfg.Runtime.MaxMemoryBytes
	if limit <= 0 {
		return nil
	}
	in, out := int64(r.ds.SampleSize()), int64(r.classes)
	perSample := (in + out) * tensorBytes
	batch, workers := int64(r.cfg.Runtime.BatchSize), int64(max(r.workers, 1))
	est := workers * batch * perSample
	if est <= limit {
		return nil
	}
	fit := limit / (workers * perSample)
	hint := fmt.Sprintf("lower runtime.batch_size to %d or less", fit)
	if fit < 1 {
		hint = "even a batch of 1 does not fit: lower runtime.workers or raise the limit"
	}
	return errs.Invalidf("config %s: runtime.max_memory %s (%d bytes): the tensors in flight are estimated at %d bytes (%s) = %d workers × batch %d × (%d input + %d output values) × %d bytes; %s",
		r.cfg.Path, r.cfg.Runtime.MaxMemory, limit, est, humanBytes(est), workers, batch, in, out, tensorBytes, hint)
}

// humanBytes writes n in binary units ("6.2 MiB").
func humanBytes(n int64) string {
	v, units := float64(n), []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// checkGates checks that the gates and regression gates name metrics the
// planned suites can produce.
func (r *run) checkGates() error {
	cfg := r.cfg
	metrics := map[string][]string{}
	plannedNames := make([]string, 0, len(r.plan))
	for _, p := range r.plan {
		metrics[p.s.Name()] = p.s.Metrics(p.cfg, r.classes)
		plannedNames = append(plannedNames, p.s.Name())
	}
	toValidate := append([]reports.Gate(nil), cfg.ParsedGates...)
	for _, g := range cfg.Regressions {
		toValidate = append(toValidate, g.Gate())
	}
	if err := reports.ValidateGates(toValidate, func(s string) ([]string, bool) {
		keys, ok := metrics[s]
		if !ok {
			return plannedNames, false // offered as "did you mean" suite names
		}
		return keys, true
	}); err != nil {
		return errs.WithCode(errs.Invalid, fmt.Errorf("config %s: %w", cfg.Path, err))
	}
	return nil
}

// checkOutputs proves every report's folder writable before any suite
// runs, and only once the inputs are known good, so that bad input leaves
// no empty output folder behind.
func (r *run) checkOutputs() error { return checkOutputs(r.cfg) }

// startReport makes the report's provenance and environment.
func (r *run) startReport() error {
	cfg := r.cfg
	rep := newReport(cfg, r.sess, r.env, r.ds, r.start)
	rep.Model.OutputKind = string(r.sess.OutputKind())
	rep.Scan = r.scanned
	if r.scanned != nil {
		if n, _ := scan.Count(r.scanned, reports.SeverityError); n > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("model scan: %d finding(s) of severity error (see the report's scan section or run gauntlet scan)", n))
		}
	}
	rep.Environment.Workers = r.workers
	rep.Environment.IntraOpThreads = r.intra
	rep.Environment.BatchSize = cfg.Runtime.BatchSize
	r.rep = rep
	return nil
}

// runSuites runs the planned suites in order, each on its own copy of the
// target, and adds their results and the files they read to the report.
func (r *run) runSuites(ctx context.Context) {
	cfg := r.cfg
	base := suite.Target{
		Model:          r.sess.Model(),
		Session:        r.sess,
		Env:            r.env,
		SessionOptions: r.ropts,
		Data:           r.ds,
		Range:          r.rng,
		Classes:        r.classes,
		OutputKind:     r.sess.OutputKind(),
		BatchSize:      cfg.Runtime.BatchSize,
		Pool:           runtime.Pool{Workers: r.workers},
		BaseDir:        cfg.Dir,
		OutDir:         cfg.Output.Dir,

		ConfidenceLevel: cfg.Statistics.ConfidenceLevel,
	}
	r.codes = make([]int, len(r.plan))
	for i, p := range r.plan {
		var sr reports.SuiteResult
		var read []suite.DataFile
		if sh, ok := sharderOf(p); ok && r.unitMode() {
			sr, r.codes[i], read = r.runUnits(ctx, p, sh, base) // engine/shard.go
		} else {
			sr, r.codes[i], read = runSuite(ctx, p.s, p.cfg, base, cfg.Seed, cfg.Runtime.SuiteTimeout, r.o)
		}
		r.rep.Suites = append(r.rep.Suites, sr)
		r.rep.Data = appendSuiteData(r.rep.Data, p.s.Name(), read)
	}
}

// evaluate applies the gates, waivers and regression gates to the results
// and sets the report's verdict, exit code and duration.
func (r *run) evaluate() {
	cfg, rep := r.cfg, r.rep
	rep.Gates = reports.EvaluateAll(cfg.ParsedGates, rep)
	reports.ApplyWaivers(rep.Gates, cfg.Waivers, rep.StartedAt)
	exprs := append([]string(nil), cfg.Gates...)
	for _, g := range cfg.ParsedGates {
		exprs = append(exprs, g.String())
	}
	for _, g := range cfg.Regressions {
		exprs = append(exprs, g.String())
	}
	rep.Warnings = append(rep.Warnings, reports.UnusedWaivers(cfg.Waivers, exprs)...)
	switch {
	case r.o.Baseline != nil:
		rep.Baseline = reports.Compare(r.o.Baseline, rep, r.o.BaselinePath, cfg.Regressions, cfg.Waivers)
	case len(cfg.Regressions) > 0:
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d regression gate(s) configured but no baseline given (run --baseline FILE): not evaluated", len(cfg.Regressions)))
	}
	rep.Passed = reports.Passed(rep.Gates) && reports.RegressionsPassed(rep.Baseline)
	rep.ExitCode = exitCode(rep, r.codes)
	if rep.ExitCode == errs.Interrupted {
		rep.Status = reports.StatusInterrupted
	}
	rep.DurationS = r.o.Now().Sub(r.start).Seconds()
}

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

// runSuite runs one suite, turning a panic or an error into the suite's
// error status, and a cancelled context into "interrupted". With a timeout
// (runtime.timeout) the suite's context has that deadline; a suite still
// running then is stopped and "timed_out" (exit 3), with whatever figures
// it returned along with its error. It returns the exit code the suite's
// outcome calls for: OK, SuiteFailed, Invalid (the suite rejected its
// input) or Interrupted, and the files it read (on success).
func runSuite(ctx context.Context, s suite.Suite, cfg any, base suite.Target, seed uint64, timeout time.Duration, o Options) (reports.SuiteResult, int, []suite.DataFile) {
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
	sctx := ctx
	if timeout > 0 {
		withTimeout := o.WithTimeout
		if withTimeout == nil {
			withTimeout = context.WithTimeout
		}
		var cancel context.CancelFunc
		sctx, cancel = withTimeout(ctx, timeout)
		defer cancel()
	}
	res, err := safeRun(sctx, s, &t, cfg)
	sr.DurationS = o.Now().Sub(began).Seconds()
	code := errs.OK
	var read []suite.DataFile
	switch {
	case ctx.Err() != nil:
		sr.Status = reports.StatusInterrupted
		sr.Error = "interrupted"
		code = errs.Interrupted
	case err != nil && sctx.Err() != nil:
		// The deadline stopped it. Figures the suite returned with its
		// error are the part it finished (details.timed_out says how much:
		// suite.Result.SetTimedOut); suites without partial figures
		// return none.
		sr.Status = reports.StatusTimedOut
		sr.Error = fmt.Sprintf("timed out after runtime.timeout %s: %v", timeout, err)
		sr.Details["timeout_s"] = timeout.Seconds()
		if res != nil {
			sr.Metrics, sr.Undefined, sr.Warnings = res.Metrics, res.Undefined, res.Warnings
			for k, v := range res.Details {
				sr.Details[k] = v
			}
		}
		code = errs.SuiteFailed
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
