package corruption

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// TableFamilies are the corruptions of tabular data.
var TableFamilies = []string{"gaussian_noise", "category_swap", "missing_values"}

// Table severities: the noise standard deviation as a multiple of each
// feature's standard deviation, and the per-row, per-feature (or per
// categorical group) probability of a swap or of a missing value.
var (
	TableNoise = [5]float64{0.05, 0.1, 0.2, 0.35, 0.5}
	TableRate  = [5]float64{0.05, 0.1, 0.2, 0.3, 0.5}
)

// DefaultSamples is the default number of evaluation samples corrupted.
const DefaultSamples = 1000

// Baseline holds a reference model's errors, for the paper's corruption
// error (CE = Σ_s E_s / Σ_s E_s^baseline) and relative CE. A run's
// details.errors has this form.
type Baseline struct {
	CleanError float64              `mapstructure:"clean_error" json:"clean_error"`
	Errors     map[string][]float64 `mapstructure:"errors" json:"errors"`
}

// Config is the corruption suite's config block.
type Config struct {
	// Families to run; empty means every family of the data's kind.
	Families []string `mapstructure:"families"`
	// Severities to run (1…5); empty means all five.
	Severities []int `mapstructure:"severities"`
	// Parameters picks the reference parameter set for images: auto (by
	// image size), cifar, tiny or imagenet.
	Parameters string `mapstructure:"parameters"`
	// Samples is the number of evaluation samples corrupted (the first).
	Samples int `mapstructure:"samples"`
	// OneHot lists one-hot column groups of a table (each a category);
	// when empty, groups are found by name (<column>_<value>, 0/1 values,
	// at most one 1 per row).
	OneHot [][]string `mapstructure:"one_hot"`
	// Baseline is a reference model's errors (inline), BaselineFile a
	// JSON file holding them (a report's details.errors).
	Baseline     *Baseline `mapstructure:"baseline"`
	BaselineFile string    `mapstructure:"baseline_file"`
}

// Suite is the corruption suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "corruption" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	cfg := Config{Parameters: "auto", Samples: DefaultSamples}
	keys, err := suite.DecodeConfigKeys(s.Name(), raw, &cfg)
	if err != nil {
		return nil, err
	}
	const p = "config suites.corruption."
	if keys["families"] && len(cfg.Families) == 0 {
		return nil, errs.Invalidf(p + "families: empty list (leave it out for every family)")
	}
	for i, f := range cfg.Families {
		if !slices.Contains(Families, f) && !slices.Contains(TableFamilies, f) {
			return nil, errs.Invalidf(p+"families[%d]: unknown family %q (images: %v; tables: %v)", i, f, Families, TableFamilies)
		}
	}
	if keys["severities"] && len(cfg.Severities) == 0 {
		return nil, errs.Invalidf(p + "severities: empty list (leave it out for 1..5)")
	}
	if len(cfg.Severities) == 0 {
		cfg.Severities = []int{1, 2, 3, 4, 5}
	}
	for i, v := range cfg.Severities {
		if v < 1 || v > 5 {
			return nil, errs.Invalidf(p+"severities[%d]: %d is outside 1..5", i, v)
		}
	}
	slices.Sort(cfg.Severities)
	cfg.Severities = slices.Compact(cfg.Severities)
	cfg.Families = uniq(cfg.Families)
	switch cfg.Parameters {
	case "auto", "cifar", "tiny", "imagenet":
	default:
		return nil, errs.Invalidf(p+"parameters: %q is not auto, cifar, tiny or imagenet", cfg.Parameters)
	}
	if cfg.Samples < 1 {
		return nil, errs.Invalidf(p+"samples: %d must be at least 1", cfg.Samples)
	}
	for i, g := range cfg.OneHot {
		if len(g) < 2 {
			return nil, errs.Invalidf(p+"one_hot[%d]: a group needs at least two columns, got %v", i, g)
		}
	}
	if cfg.Baseline != nil && cfg.BaselineFile != "" {
		return nil, errs.Invalidf(p + "baseline and baseline_file: give one")
	}
	if cfg.Baseline != nil {
		if err := checkBaseline(cfg.Baseline, p+"baseline"); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func uniq(v []string) []string {
	var out []string
	for _, s := range v {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func checkBaseline(b *Baseline, where string) error {
	if !(b.CleanError >= 0 && b.CleanError <= 1) {
		return errs.Invalidf("%s.clean_error: %v is outside [0, 1]", where, b.CleanError)
	}
	for f, e := range b.Errors {
		if len(e) != 5 {
			return errs.Invalidf("%s.errors.%s: want 5 errors (severities 1..5), got %d", where, f, len(e))
		}
		for i, v := range e {
			if !(v >= 0 && v <= 1) {
				return errs.Invalidf("%s.errors.%s[%d]: %v is outside [0, 1]", where, f, i, v)
			}
		}
	}
	return nil
}

// allFamilies is every family a config can produce metrics for: the
// configured ones, or every image and table family.
func (c Config) allFamilies() []string {
	if len(c.Families) > 0 {
		return c.Families
	}
	return uniq(append(slices.Clone(Families), TableFamilies...))
}

func sevKey(s int) string { return "severity=" + strconv.Itoa(s) }

// Metrics implements suite.Suite. Families that do not apply to the data
// (image families on a table, missing values on a model that rejects
// them) are undefined.
func (Suite) Metrics(cfgAny any, _ int) []string {
	cfg := cfgAny.(Config)
	baseline := cfg.Baseline != nil || cfg.BaselineFile != ""
	keys := suite.ProportionKeys("clean_accuracy")
	keys = append(keys, "mean_accuracy", "mean_corruption_error", "mean_accuracy_drop", "worst.accuracy")
	if baseline {
		keys = append(keys, "mce", "relative_mce")
	}
	for _, f := range cfg.allFamilies() {
		for _, s := range cfg.Severities {
			keys = append(keys, f+"."+sevKey(s)+".accuracy")
		}
		keys = append(keys, f+".accuracy", f+".accuracy_drop")
		if baseline {
			keys = append(keys, f+".ce", f+".relative_ce")
		}
	}
	return keys
}

// kind is what the data is.
type kind int

const (
	images kind = iota
	table
)

// layout tells images from tables by the sample shape: C×H×W with C 1 or
// 3 is an NCHW image, H×W×C with C 1 or 3 (and H, W > 3) an NHWC image
// (TensorFlow's layout), a vector a table row. NCHW wins when both read.
func layout(shape []int) (kind, bool, error) {
	switch {
	case len(shape) == 3 && (shape[0] == 1 || shape[0] == 3) && shape[1] > 1 && shape[2] > 1:
		return images, false, nil
	case len(shape) == 3 && (shape[2] == 1 || shape[2] == 3) && shape[0] > 3 && shape[1] > 3:
		return images, true, nil
	case len(shape) == 1:
		return table, false, nil
	}
	return 0, false, errs.Invalidf("suite corruption: samples of shape %v are neither images (C×H×W or H×W×C, C 1 or 3) nor table rows", shape)
}

// job is one (family, severity) cell.
type job struct {
	family string
	sev    int
}

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	p, err := prepare(ctx, t, cfg)
	if err != nil {
		return nil, err
	}
	n, sub, applicable := p.n, p.sub, p.applicable
	res := suite.NewResult()

	// Clean accuracy.
	cleanParts := make([]int, t.Batches(n))
	err = suite.ForEachBatch(ctx, t, sub, func(b, lo, hi int, out []float32) error {
		cleanParts[b] = hits(out, sub.Y, lo, hi, t.Classes)
		return nil
	})
	if err != nil {
		return nil, err
	}
	clean := 0
	for _, c := range cleanParts {
		clean += c
	}

	jobs := jobsOf(applicable, cfg.Severities)
	nb := t.Batches(n)
	correct := make([]int, len(jobs)*nb)
	finished := make([]bool, len(jobs)*nb)
	var stop error
	if len(jobs) > 0 {
		if err := runJobs(ctx, t, sub, p.cor, jobs, 0, nb, correct, finished); err != nil {
			if !suite.TimedOut(ctx, err) {
				return nil, err
			}
			// Stopped by runtime.timeout: the figures of a run of the
			// families whose every severity finished.
			stop = err
			var stopped string
			if applicable, stopped = finishedFamilies(applicable, jobs, finished, nb); len(applicable) == 0 {
				return nil, stop
			}
			var fams []string
			for _, f := range cfg.allFamilies() {
				if _, na := p.notApplicable[f]; na || slices.Contains(applicable, f) {
					fams = append(fams, f)
				}
			}
			cfg.Families = fams
			res.SetTimedOut(n, n, map[string]any{"families_finished": applicable, "stopped_in": stopped})
		}
	}
	reduce(res, cfg, p.base, p.details, n, nb, clean, jobs, applicable, p.notApplicable, correct, t.ConfidenceLevel)
	return res, stop
}

// plan is what Run and RunShard prepare alike: the samples corrupted, the
// corrupter, the families that apply and those that do not (with why),
// the baseline and the details that describe the data.
type plan struct {
	n             int
	sub           *data.Dataset
	cor           corrupter
	details       map[string]any
	applicable    []string
	notApplicable map[string]string
	base          *Baseline
}

// prepare checks the data, loads the baseline and builds the plan.
func prepare(ctx context.Context, t *suite.Target, cfg Config) (*plan, error) {
	d := t.Data
	if d.Y == nil {
		return nil, errs.Invalidf("suite corruption needs labels: set data.y (NumPy) or data.label (CSV)")
	}
	k, nhwc, err := layout(d.SampleShape)
	if err != nil {
		return nil, err
	}
	base := cfg.Baseline
	if cfg.BaselineFile != "" {
		if base, err = loadBaseline(cfg.BaselineFile, t.BaseDir); err != nil {
			return nil, err
		}
	}
	n := min(cfg.Samples, d.N)
	size := d.SampleSize()
	sub := &data.Dataset{X: d.X[:n*size], N: n, SampleShape: d.SampleShape, Y: d.Y[:n], Features: d.Features}

	details := map[string]any{"samples": n, "severities": cfg.Severities}
	var cor corrupter
	var applicable []string
	notApplicable := map[string]string{}
	switch k {
	case images:
		if !(t.Range[1] > t.Range[0]) {
			return nil, errs.Invalidf("suite corruption needs data.range for images, the valid input domain (for example [0, 1]); it is unset or empty (%v)", t.Range)
		}
		c, h, w := d.SampleShape[0], d.SampleShape[1], d.SampleShape[2]
		if nhwc {
			h, w, c = d.SampleShape[0], d.SampleShape[1], d.SampleShape[2]
		}
		side := max(h, w)
		ps := SetFor(side)
		if cfg.Parameters != "auto" {
			for _, q := range Sets {
				if q.Name == cfg.Parameters {
					ps = q
				}
			}
		}
		details["kind"], details["parameters"] = "image", ps.Name
		details["parameters_source"] = "github.com/hendrycks/robustness ImageNet-C/create_c " + map[string]string{
			"cifar": "make_cifar_c.py", "tiny": "make_tinyimagenet_c.py", "imagenet": "make_imagenet_c.py"}[ps.Name]
		details["layout"] = map[bool]string{false: "NCHW", true: "NHWC"}[nhwc]
		cor = &imageCorrupter{p: ps, c: c, h: h, w: w, nhwc: nhwc, lo: t.Range[0], hi: t.Range[1]}
		for _, f := range cfg.allFamilies() {
			if slices.Contains(Families, f) {
				applicable = append(applicable, f)
			} else {
				notApplicable[f] = "a table family; the data are images"
			}
		}
	case table:
		tc, err := newTableCorrupter(sub, cfg.OneHot, t.Range)
		if err != nil {
			return nil, err
		}
		details["kind"] = "table"
		details["continuous_features"] = tc.continuousNames(sub.Features)
		details["categorical_groups"] = tc.groupNames(sub.Features)
		cor = tc
		for _, f := range cfg.allFamilies() {
			if !slices.Contains(TableFamilies, f) {
				notApplicable[f] = "an image family; the data are table rows"
				continue
			}
			if f == "missing_values" {
				if why, err := probeMissing(ctx, t, sub, tc); err != nil {
					return nil, err
				} else if why != "" {
					notApplicable[f] = why
					continue
				}
			}
			if f == "category_swap" && len(tc.groups) == 0 {
				notApplicable[f] = "no categorical columns (one-hot groups or 0/1 columns) found"
				continue
			}
			if f == "gaussian_noise" && len(tc.cont) == 0 {
				notApplicable[f] = "no continuous columns"
				continue
			}
			applicable = append(applicable, f)
		}
	}

	return &plan{n: n, sub: sub, cor: cor, details: details, applicable: applicable, notApplicable: notApplicable, base: base}, nil
}

// jobsOf returns the (family, severity) cells of the families, in order.
func jobsOf(families []string, severities []int) []job {
	var jobs []job
	for _, f := range families {
		for _, sv := range severities {
			jobs = append(jobs, job{f, sv})
		}
	}
	return jobs
}

// hits counts the samples of batch [lo, hi) whose outputs out predict
// their label (first maximum on ties).
func hits(out []float32, y []int64, lo, hi, k int) int {
	c := 0
	for i := lo; i < hi; i++ {
		if int64(stats.Argmax(out[(i-lo)*k:(i-lo+1)*k])) == y[i] {
			c++
		}
	}
	return c
}

// reduce is Run's and Merge's reduction: the corrupted accuracies of the
// jobs of the applicable families, summed over their nb batches
// (correct[job·nb + batch]) in job and batch order, then the figures and
// details. res may hold a timed-out note, which the details keep.
func reduce(res *suite.Result, cfg Config, base *Baseline, details map[string]any, n, nb, clean int, jobs []job, applicable []string,
	notApplicable map[string]string, correct []int, level float64) {
	acc := map[string]map[int]float64{}
	for j, jb := range jobs {
		if !slices.Contains(applicable, jb.family) {
			continue // a family the deadline stopped
		}
		c := 0
		for b := 0; b < nb; b++ {
			c += correct[j*nb+b]
		}
		if acc[jb.family] == nil {
			acc[jb.family] = map[int]float64{}
		}
		acc[jb.family][jb.sev] = float64(c) / float64(n)
	}
	summarise(res, details, cfg, base, clean, n, applicable, acc, level)
	if len(notApplicable) > 0 {
		details["not_applicable"] = notApplicable
	}
	if v, ok := res.Details[suite.TimedOutKey]; ok {
		details[suite.TimedOutKey] = v
	}
	res.Details = details
}

// finishedFamilies returns the families of applicable (in order) whose
// every job's nb batches finished, and the first family that did not
// finish.
func finishedFamilies(applicable []string, jobs []job, finished []bool, nb int) ([]string, string) {
	open := map[string]bool{}
	stopped := ""
	for j, jb := range jobs {
		if slices.Contains(finished[j*nb:(j+1)*nb], false) {
			if !open[jb.family] && stopped == "" {
				stopped = jb.family
			}
			open[jb.family] = true
		}
	}
	var done []string
	for _, f := range applicable {
		if !open[f] {
			done = append(done, f)
		}
	}
	return done, stopped
}

func summarise(res *suite.Result, details map[string]any, cfg Config, base *Baseline, clean, n int, applicable []string,
	acc map[string]map[int]float64, level float64) {
	res.SetProportion("clean_accuracy", clean, n, level)
	cleanAcc := float64(clean) / float64(n)
	cleanErr := 1 - cleanAcc
	baseline := cfg.Baseline != nil || cfg.BaselineFile != ""
	curves := map[string]any{}
	errors := map[string][]float64{}
	perFamily := map[string]float64{}
	var meanAcc, ceSum, rceSum float64
	ceN, rceN := 0, 0
	worst, worstAcc := "", math.Inf(1)
	for _, f := range cfg.allFamilies() {
		a, ok := acc[f]
		if !ok {
			for _, sv := range cfg.Severities {
				res.Set(f+"."+sevKey(sv)+".accuracy", 0, false)
			}
			res.Set(f+".accuracy", 0, false)
			res.Set(f+".accuracy_drop", 0, false)
			if baseline {
				res.Set(f+".ce", 0, false)
				res.Set(f+".relative_ce", 0, false)
			}
			continue
		}
		var m, se, be, rse, rbe float64
		pts := []map[string]any{{"eps": 0.0, "robust_accuracy": cleanAcc}}
		es := make([]float64, 5)
		for i := range es {
			es[i] = math.NaN()
		}
		bf, hasB := []float64(nil), false
		if base != nil {
			bf, hasB = base.Errors[f]
		}
		for _, sv := range cfg.Severities {
			v := a[sv]
			res.Set(f+"."+sevKey(sv)+".accuracy", v, true)
			m += v
			es[sv-1] = 1 - v
			pts = append(pts, map[string]any{"eps": float64(sv), "robust_accuracy": v})
			se += 1 - v
			rse += (1 - v) - cleanErr
			if hasB {
				be += bf[sv-1]
				rbe += bf[sv-1] - base.CleanError
			}
		}
		m /= float64(len(cfg.Severities))
		perFamily[f] = m
		res.Set(f+".accuracy", m, true)
		res.Set(f+".accuracy_drop", cleanAcc-m, true)
		if baseline {
			res.Set(f+".ce", se/be, hasB && be > 0)
			res.Set(f+".relative_ce", rse/rbe, hasB && rbe > 0)
			if hasB && be > 0 {
				ceSum += se / be
				ceN++
			}
			if hasB && rbe > 0 {
				rceSum += rse / rbe
				rceN++
			}
		}
		meanAcc += m
		if m < worstAcc {
			worst, worstAcc = f, m
		}
		curves[f+".severity"] = pts
		errors[f] = es
	}
	k := len(applicable)
	res.Set("mean_accuracy", meanAcc/float64(k), k > 0)
	res.Set("mean_corruption_error", 1-meanAcc/float64(k), k > 0)
	res.Set("mean_accuracy_drop", cleanAcc-meanAcc/float64(k), k > 0)
	res.Set("worst.accuracy", worstAcc, k > 0)
	if baseline {
		res.Set("mce", ceSum/float64(ceN), ceN > 0 && ceN == k)
		res.Set("relative_mce", rceSum/float64(rceN), rceN > 0 && rceN == k)
	}
	if k > 0 {
		details["worst_family"] = worst
	}
	details["accuracy"] = perFamily
	details["curves"] = curves
	// NaN marks severities not run; JSON has no NaN, so write null.
	errOut := map[string][]any{}
	for f, es := range errors {
		row := make([]any, len(es))
		for i, v := range es {
			if !math.IsNaN(v) {
				row[i] = v
			}
		}
		errOut[f] = row
	}
	details["errors"] = map[string]any{"clean_error": cleanErr, "errors": errOut}
}

func loadBaseline(path, baseDir string) (*Baseline, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(baseDir, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, errs.WithCode(errs.Invalid, fmt.Errorf("config suites.corruption.baseline_file: %w", err))
	}
	var bl Baseline
	if err := json.Unmarshal(b, &bl); err != nil {
		return nil, errs.Invalidf("config suites.corruption.baseline_file %s: %v (want {\"clean_error\": e, \"errors\": {\"<family>\": [5 errors]}})", path, err)
	}
	if err := checkBaseline(&bl, "config suites.corruption.baseline_file "+path); err != nil {
		return nil, err
	}
	return &bl, nil
}

// corrupter writes the corrupted copy of sample i of d into dst, working
// in sc (one per worker, so that the per-sample loop allocates nothing).
type corrupter interface {
	corrupt(sc *scratch, dst []float32, d *data.Dataset, i int, family string, sev int, r *rand.Rand) error
}

// runJobs runs every (job, batch) task of batches [b0, b1) on t's pool
// (every batch: 0, t.Batches(d.N)): corrupts each sample
// of the batch with its own random source (suite.BatchRand of the job's
// derived seed and the sample index), runs the model and counts correct
// predictions into correct[job·batches + batch], marking the task in
// finished.
func runJobs(ctx context.Context, t *suite.Target, d *data.Dataset, cor corrupter, jobs []job, b0, b1 int, correct []int, finished []bool) error {
	nb, span := t.Batches(d.N), b1-b0
	tasks := len(jobs) * span
	workers := max(1, min(t.Pool.Workers, tasks))
	size := d.SampleSize()
	runners := make([]*runtime.Runner, workers)
	bufs := make([][]float32, workers)
	// Per worker: the working images and one random source, reseeded
	// for each sample (suite.BatchSeeds), so that the per-sample loop
	// allocates nothing.
	scr := make([]scratch, workers)
	pcgs := make([]*rand.PCG, workers)
	rngs := make([]*rand.Rand, workers)
	for w := range pcgs {
		pcgs[w] = rand.NewPCG(0, 0)
		rngs[w] = rand.New(pcgs[w])
	}
	defer func() {
		for _, r := range runners {
			if r != nil {
				r.Close()
			}
		}
	}()
	for w := range runners {
		r, err := t.Session.NewRunner(t.BatchSize)
		if err != nil {
			return fmt.Errorf("create runner: %w", err)
		}
		runners[w], bufs[w] = r, make([]float32, t.BatchSize*size)
	}
	seeds := make([]uint64, len(jobs))
	for j, jb := range jobs {
		seeds[j] = suite.DeriveSeed(t.Seed, jb.family+"."+sevKey(jb.sev))
	}
	pool := t.Pool
	pool.Workers = workers
	return pool.Run(ctx, tasks, func(ctx context.Context, w, task int) error {
		j, b := task/span, b0+task%span
		jb := jobs[j]
		lo, hi := t.BatchRange(b, d.N)
		buf := bufs[w][:(hi-lo)*size]
		for i := lo; i < hi; i++ {
			// One stream per sample, so that neither the workers nor the
			// batch size change a corrupted sample.
			// suite.BatchRand(seeds[j], i), without allocating it.
			pcgs[w].Seed(suite.BatchSeeds(seeds[j], i))
			rng := rngs[w]
			if err := cor.corrupt(&scr[w], buf[(i-lo)*size:(i-lo+1)*size], d, i, jb.family, jb.sev, rng); err != nil {
				return err
			}
		}
		out, err := runners[w].Run(ctx, buf, hi-lo)
		if err != nil {
			return fmt.Errorf("%s severity %d, batch %d (samples %d..%d): %w", jb.family, jb.sev, b, lo, hi-1, err)
		}
		correct[j*nb+b] = hits(out, d.Y, lo, hi, t.Classes)
		finished[j*nb+b] = true
		return nil
	})
}

// imageCorrupter corrupts NCHW (or NHWC) images whose values span
// [lo, hi].
type imageCorrupter struct {
	p       ParamSet
	c, h, w int
	nhwc    bool
	lo, hi  float64
}

// at returns the index in a sample of channel c of pixel px (y·W + x).
func (ic *imageCorrupter) at(px, c int) int {
	if ic.nhwc {
		return px*ic.c + c
	}
	return c*ic.h*ic.w + px
}

func (ic *imageCorrupter) corrupt(sc *scratch, dst []float32, d *data.Dataset, i int, family string, sev int, r *rand.Rand) error {
	x := d.Sample(i)
	m := sc.in.resize(ic.h, ic.w, ic.c)
	plane := ic.h * ic.w
	for c := 0; c < ic.c; c++ {
		for px := 0; px < plane; px++ {
			m.P[px*ic.c+c] = clip01((float64(x[ic.at(px, c)]) - ic.lo) / (ic.hi - ic.lo))
		}
	}
	o, err := sc.corrupt(family, sev, ic.p, m, r)
	if err != nil {
		return err
	}
	for c := 0; c < ic.c; c++ {
		for px := 0; px < plane; px++ {
			dst[ic.at(px, c)] = float32(ic.lo + o.P[px*ic.c+c]*(ic.hi-ic.lo))
		}
	}
	return nil
}
