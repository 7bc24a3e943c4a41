package inversion

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/grad"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Defaults of the config. Learning rate and step count follow ART's MIFace
// notebook scale (lr 0.1); ART's own max_iter default is 10000.
const (
	DefaultSteps        = 1000
	DefaultLearningRate = 0.1
	DefaultNESPairs     = 20
	DefaultNESSigma     = 0.01
)

// Init names the starting image.
const (
	InitZeros   = "zeros"   // 0, clipped into data.range (ART's notebook)
	InitMid     = "mid"     // the middle of data.range
	InitMean    = "mean"    // the mean reference image over all classes
	InitUniform = "uniform" // uniform noise in data.range, from the suite seed
)

// Gradient modes.
const (
	GradAuto      = "auto"
	GradExact     = "exact"
	GradEstimated = "estimated"
)

// Config is the inversion suite's config block.
type Config struct {
	// Classes to invert (default: every class).
	Classes []int `mapstructure:"classes"`
	// Steps is the number of gradient steps.
	Steps int `mapstructure:"steps"`
	// LearningRate is the step size on the class probability's gradient.
	LearningRate float64 `mapstructure:"learning_rate"`
	// TV and L2 weight the anisotropic total-variation and ½‖x‖² penalties.
	TV float64 `mapstructure:"tv"`
	L2 float64 `mapstructure:"l2"`
	// Init is the starting image: zeros, mid, mean or uniform.
	Init string `mapstructure:"init"`
	// ReferenceData is a labelled data block whose class means the
	// reconstructions are compared with (default: the run's data).
	ReferenceData *data.Spec `mapstructure:"reference_data"`
	// Gradient is auto (exact when the model has a white-box path), exact
	// or estimated (NES).
	Gradient string `mapstructure:"gradient"`
	// NESPairs and NESSigma configure the NES estimate: antithetic
	// Gaussian pairs per step, and σ as a fraction of the range width.
	NESPairs int     `mapstructure:"nes_pairs"`
	NESSigma float64 `mapstructure:"nes_sigma"`
	// ImageShape gives flat inputs an image shape for PNGs and TV
	// ([H, W] or [C, H, W]).
	ImageShape []int `mapstructure:"image_shape"`
}

// Suite is the model-inversion suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "inversion" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	cfg := Config{Steps: DefaultSteps, LearningRate: DefaultLearningRate, Init: InitZeros, Gradient: GradAuto,
		NESPairs: DefaultNESPairs, NESSigma: DefaultNESSigma}
	keys, err := suite.DecodeConfigKeys(s.Name(), raw, &cfg)
	if err != nil {
		return nil, err
	}
	bad := func(key string, v any, want string) error {
		return errs.Invalidf("config suites.inversion.%s: %v %s", key, v, want)
	}
	switch {
	case cfg.Steps < 1 || cfg.Steps > 1_000_000:
		return nil, bad("steps", cfg.Steps, "is outside 1..1000000")
	case !(cfg.LearningRate > 0) || math.IsInf(cfg.LearningRate, 0):
		return nil, bad("learning_rate", cfg.LearningRate, "is not a positive number")
	case !(cfg.TV >= 0) || math.IsInf(cfg.TV, 0):
		return nil, bad("tv", cfg.TV, "is not a number >= 0")
	case !(cfg.L2 >= 0) || math.IsInf(cfg.L2, 0):
		return nil, bad("l2", cfg.L2, "is not a number >= 0")
	case !slices.Contains([]string{InitZeros, InitMid, InitMean, InitUniform}, cfg.Init):
		return nil, bad("init", strconv.Quote(cfg.Init), "is not zeros, mid, mean or uniform")
	case !slices.Contains([]string{GradAuto, GradExact, GradEstimated}, cfg.Gradient):
		return nil, bad("gradient", strconv.Quote(cfg.Gradient), "is not auto, exact or estimated")
	case cfg.NESPairs < 1 || cfg.NESPairs > 10000:
		return nil, bad("nes_pairs", cfg.NESPairs, "is outside 1..10000")
	case !(cfg.NESSigma > 0 && cfg.NESSigma < 1):
		return nil, bad("nes_sigma", cfg.NESSigma, "is outside (0, 1)")
	case keys["image_shape"] && len(cfg.ImageShape) != 2 && len(cfg.ImageShape) != 3:
		return nil, bad("image_shape", cfg.ImageShape, "is not [H, W] or [C, H, W] (leave image_shape out for the input's own shape)")
	case slices.ContainsFunc(cfg.ImageShape, func(n int) bool { return n < 1 }):
		return nil, bad("image_shape", cfg.ImageShape, "has a dimension below 1")
	case keys["classes"] && len(cfg.Classes) == 0:
		return nil, bad("classes", cfg.Classes, "lists no class (leave classes out to invert every class)")
	}
	seen := map[int]bool{}
	for _, c := range cfg.Classes {
		if c < 0 || seen[c] {
			return nil, bad("classes", cfg.Classes, "must list distinct class ids >= 0")
		}
		seen[c] = true
	}
	return cfg, nil
}

func (cfg Config) classes(k int) []int {
	if cfg.Classes != nil {
		return cfg.Classes
	}
	out := make([]int, k)
	for i := range out {
		out[i] = i
	}
	return out
}

// Metrics implements suite.Suite. The keys are documented in
// docs/metrics/inversion.md.
func (Suite) Metrics(cfgAny any, classes int) []string {
	cfg := cfgAny.(Config)
	keys := []string{"mse", "ssim", "ssim_start", "leakage", "probability", "identification_rate"}
	for _, c := range cfg.classes(classes) {
		p := "class." + strconv.Itoa(c) + "."
		keys = append(keys, p+"mse", p+"ssim", p+"probability")
	}
	return keys
}

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	p, err := prepare(t, cfg)
	if err != nil {
		return nil, err
	}
	defer p.close()
	n, d := len(p.classes), p.d
	x := make([]float32, n*d)
	copy(x, p.start)
	prob := make([]float64, n)
	// Batches of classes descend on parallel workers, each with its own
	// oracle; a class's result depends only on its batch (fixed by
	// runtime.batch_size) and its own seeds, not on the worker count.
	tasks := p.tasks(t)
	// finished[task] is written by the one worker that ran it.
	finished := make([]bool, tasks)
	err = t.Pool.Run(ctx, tasks, func(ctx context.Context, _, task int) error {
		c0, c1 := p.taskRange(t, task)
		if err := p.descend(ctx, t, cfg, c0, c1, x[c0*d:c1*d], prob[c0:c1]); err != nil {
			return err
		}
		finished[task] = true
		return nil
	})
	if err != nil {
		if !suite.TimedOut(ctx, err) {
			return nil, err
		}
		return p.partial(t, cfg, x, prob, finished, err)
	}
	return p.finish(t, cfg, x, prob)
}

// partial is Run's result when runtime.timeout stopped the descent
// (stop): the figures of a run inverting only the classes whose batches
// finished (finish over those classes, in config order), marked with
// details.timed_out (classes_finished). It returns no figures when no
// batch finished.
func (p *prepared) partial(t *suite.Target, cfg Config, x []float32, prob []float64, finished []bool, stop error) (*suite.Result, error) {
	q := *p
	q.classes, q.start = nil, nil
	var qx []float32
	var qprob []float64
	for task, ok := range finished {
		if !ok {
			continue
		}
		c0, c1 := p.taskRange(t, task)
		q.classes = append(q.classes, p.classes[c0:c1]...)
		q.start = append(q.start, p.start[c0*p.d:c1*p.d]...)
		qx = append(qx, x[c0*p.d:c1*p.d]...)
		qprob = append(qprob, prob[c0:c1]...)
	}
	if len(q.classes) == 0 {
		return nil, stop
	}
	res, err := q.finish(t, cfg, qx, qprob)
	if err != nil {
		return nil, stop
	}
	res.SetTimedOut(len(q.classes), len(p.classes), map[string]any{"classes_finished": q.classes})
	return res, stop
}

// prepared is what the descent and the report need besides the
// reconstructions: the classes, the reference means and counts, the
// starting images, the image geometry and the gradient source.
type prepared struct {
	classes      []int
	ref          *data.Dataset
	sample       []int
	d, ch, h, w  int
	isImage      bool
	means        []float32
	counts       []int
	start        []float32
	mode, reason string
	g            *runtime.Graph
	refFiles     []data.File
	lo, hi       float64
}

func (p *prepared) close() {
	if p.g != nil {
		p.g.Close()
	}
}

// prepare checks the config against the model and data, loads the
// reference data, opens the gradient graph and makes the starting images.
func prepare(t *suite.Target, cfg Config) (*prepared, error) {
	lo, hi := t.Range[0], t.Range[1]
	if !(lo < hi) {
		return nil, errs.Invalidf("suite inversion needs data.range [lo, hi]: the input domain the reconstructions stay in")
	}
	classes := cfg.classes(t.Classes)
	for _, c := range classes {
		if c >= t.Classes {
			return nil, errs.Invalidf("config suites.inversion.classes: class %d is out of range (the model has %d classes, 0..%d)", c, t.Classes, t.Classes-1)
		}
	}
	in := t.Session.Input()
	if in.Type != "float32" {
		return nil, errs.Invalidf("suite inversion: model input %q has type %s; inversion needs a float32 input", in.Name, in.Type)
	}
	ref := t.Data
	var refFiles []data.File
	if cfg.ReferenceData != nil {
		var err error
		if ref, err = t.LoadData(*cfg.ReferenceData, "suites.inversion.reference_data"); err != nil {
			return nil, err
		}
		refFiles = ref.Files
	}
	if ref == nil || ref.Y == nil || ref.N == 0 {
		return nil, errs.Invalidf("suite inversion needs labelled reference data: set suites.inversion.reference_data or data.y")
	}
	sample := ref.SampleShape
	d := ref.SampleSize()
	ch, h, w, isImage := grad.ImageShape(sample)
	if len(cfg.ImageShape) > 0 {
		ch, h, w, isImage = grad.ImageShape(cfg.ImageShape)
		if ch*h*w != d {
			return nil, errs.Invalidf("config suites.inversion.image_shape: %v has %d values; the model input has %d per sample", cfg.ImageShape, ch*h*w, d)
		}
	}
	if cfg.TV > 0 && !isImage {
		return nil, errs.Invalidf("config suites.inversion.tv: total variation needs an image input ([C,H,W] or [H,W]); set image_shape for flat inputs")
	}
	means, counts, overall := classMeans(ref, t.Classes)
	p := &prepared{classes: classes, ref: ref, sample: sample, d: d, ch: ch, h: h, w: w, isImage: isImage,
		means: means, counts: counts, refFiles: refFiles, lo: lo, hi: hi}

	// auto and exact build the gradient graph; auto falls back to NES when
	// it cannot be built or opened, with the builder's error (naming the
	// node and why) as the reason.
	p.mode = cfg.Gradient
	if p.mode != GradEstimated {
		g, err := openGraph(t)
		switch {
		case err == nil:
			p.mode, p.g = GradExact, g
		case p.mode == GradExact:
			return nil, errs.WithCode(errs.Invalid, fmt.Errorf("config suites.inversion.gradient exact: the model has no exact gradients: %w; use gradient: auto or estimated", err))
		default:
			p.mode, p.reason = GradEstimated, "the model has no exact gradients: "+err.Error()
		}
	}

	n := len(classes)
	p.start = make([]float32, n*d)
	rng := rand.New(rand.NewPCG(suite.DeriveSeed(t.Seed, "inversion/init"), 0))
	for i := range p.start {
		switch cfg.Init {
		case InitZeros:
			p.start[i] = float32(min(max(0, lo), hi))
		case InitMid:
			p.start[i] = float32((lo + hi) / 2)
		case InitMean:
			p.start[i] = overall[i%d]
		case InitUniform:
			p.start[i] = float32(lo + (hi-lo)*rng.Float64())
		}
	}
	return p, nil
}

// batch is the number of classes that descend together.
func (p *prepared) batch(t *suite.Target) int { return max(1, min(t.BatchSize, len(p.classes))) }

// tasks is the number of batches of classes.
func (p *prepared) tasks(t *suite.Target) int {
	b := p.batch(t)
	return (len(p.classes) + b - 1) / b
}

// taskRange returns the classes [c0, c1) (indices into p.classes) of task.
func (p *prepared) taskRange(t *suite.Target, task int) (c0, c1 int) {
	b := p.batch(t)
	return task * b, min(len(p.classes), (task+1)*b)
}

// descend runs the classes [c0, c1) from their starting images x (filled
// from p.start) and writes their final probabilities into prob.
func (p *prepared) descend(ctx context.Context, t *suite.Target, cfg Config, c0, c1 int, x []float32, prob []float64) error {
	y := make([]int64, c1-c0)
	for i := range y {
		y[i] = int64(p.classes[c0+i])
	}
	o, err := newOracle(t, p.g, cfg, c1-c0, p.d, p.lo, p.hi)
	if err != nil {
		return err
	}
	defer o.close()
	return descend(ctx, o, cfg, x, y, prob, p.d, p.ch, p.h, p.w, p.lo, p.hi, t.Seed)
}

// finish measures the reconstructions and fills the result.
func (p *prepared) finish(t *suite.Target, cfg Config, x []float32, prob []float64) (*suite.Result, error) {
	res, err := report(t, cfg, p.classes, x, p.start, prob, p.means, p.counts, p.sample, p.ch, p.h, p.w, p.isImage, p.mode, p.lo, p.hi)
	if err == nil {
		for _, f := range p.refFiles {
			res.Data = append(res.Data, suite.DataFile{Role: "reference", File: f})
		}
	}
	if err == nil && p.reason != "" {
		res.Details["gradient_reason"] = p.reason
		res.Warnings = append(res.Warnings, "inversion: gradient auto: exact gradients are unavailable ("+p.reason+"); the reconstructions used estimated (NES) gradients")
	}
	return res, err
}

// classMeans returns the per-class mean sample of ref (k×d), the class
// counts and the mean over all samples.
func classMeans(ref *data.Dataset, k int) ([]float32, []int, []float32) {
	d := ref.SampleSize()
	sum := make([]float64, k*d)
	all := make([]float64, d)
	counts := make([]int, k)
	for i := 0; i < ref.N; i++ {
		c := int(ref.Y[i])
		counts[c]++
		for j, v := range ref.Sample(i) {
			sum[c*d+j] += float64(v)
			all[j] += float64(v)
		}
	}
	means := make([]float32, k*d)
	for c := 0; c < k; c++ {
		for j := 0; j < d; j++ {
			if counts[c] > 0 {
				means[c*d+j] = float32(sum[c*d+j] / float64(counts[c]))
			}
		}
	}
	overall := make([]float32, d)
	for j := range overall {
		overall[j] = float32(all[j] / float64(ref.N))
	}
	return means, counts, overall
}

// descend runs the MIFace steps on the rows x (n×d) for targets y and
// writes the final target probabilities into prob. Each step is ART's:
// x ← clip(x + lr·∇p_y(x)), with ∇p_y = −p_y·∇CE_y, plus the penalties'
// gradients; it allocates nothing per step.
func descend(ctx context.Context, o oracle, cfg Config, x []float32, y []int64, prob []float64, d, ch, h, w int, lo, hi float64, seed uint64) error {
	n := len(y)
	loss := make([]float64, n)
	g := make([]float32, n*d)
	step := make([]float32, n*d)
	lr, l2, tv := float32(cfg.LearningRate), float32(cfg.L2), float32(cfg.TV)
	flo, fhi := float32(lo), float32(hi)
	for it := 0; it < cfg.Steps; it++ {
		if err := o.eval(ctx, x, y, loss, g, it); err != nil {
			return err
		}
		for r := 0; r < n; r++ {
			p := float32(math.Exp(-loss[r]))
			for j := r * d; j < (r+1)*d; j++ {
				step[j] = p*g[j] + l2*x[j]
			}
		}
		if tv > 0 {
			for r := 0; r < n; r++ {
				tvGrad(step[r*d:(r+1)*d], x[r*d:(r+1)*d], ch, h, w, tv)
			}
		}
		for j := range x {
			x[j] = min(max(x[j]-lr*step[j], flo), fhi)
		}
	}
	if err := o.eval(ctx, x, y, loss, nil, cfg.Steps); err != nil {
		return err
	}
	for r := range prob {
		prob[r] = math.Exp(-loss[r])
	}
	return nil
}

// report measures the reconstructions, writes the artifacts and fills
// the result.
func report(t *suite.Target, cfg Config, classes []int, x, start []float32, prob []float64, means []float32, counts []int,
	sample []int, ch, h, w int, isImage bool, mode string, lo, hi float64) (*suite.Result, error) {
	res := suite.NewResult()
	d := len(x) / len(classes)
	l := hi - lo
	if !isImage {
		ch = 1
	}
	var sMSE, sSSIM, sStart, sProb float64
	var nRef, ident int
	rows := make([]map[string]any, len(classes))
	for i, c := range classes {
		p := "class." + strconv.Itoa(c) + "."
		xi, si := x[i*d:(i+1)*d], start[i*d:(i+1)*d]
		row := map[string]any{"class": c, "probability": prob[i], "reference_samples": counts[c],
			"mse": nil, "ssim": nil, "start_mse": nil, "start_ssim": nil, "nearest_class_mean": nil}
		if isImage {
			row["tv"] = TV(xi, ch, h, w)
		}
		res.Set(p+"probability", prob[i], true)
		sProb += prob[i]
		ok := counts[c] > 0
		if ok {
			m := means[c*d : (c+1)*d]
			mse, ssim := MSE(xi, m), ImageSSIM(xi, m, ch, l)
			smse, sssim := MSE(si, m), ImageSSIM(si, m, ch, l)
			res.Set(p+"mse", mse, true)
			res.Set(p+"ssim", ssim, true)
			row["mse"], row["ssim"], row["start_mse"], row["start_ssim"] = mse, ssim, smse, sssim
			sMSE, sSSIM, sStart = sMSE+mse, sSSIM+ssim, sStart+sssim
			nRef++
			best, bestD := -1, math.Inf(1)
			for k := range counts {
				if counts[k] == 0 {
					continue
				}
				if dd := MSE(xi, means[k*d:(k+1)*d]); dd < bestD {
					best, bestD = k, dd
				}
			}
			row["nearest_class_mean"] = best
			if best == c {
				ident++
			}
		} else {
			res.Set(p+"mse", 0, false)
			res.Set(p+"ssim", 0, false)
		}
		rows[i] = row
	}
	fn := float64(nRef)
	res.Set("mse", sMSE/fn, nRef > 0)
	res.Set("ssim", sSSIM/fn, nRef > 0)
	res.Set("ssim_start", sStart/fn, nRef > 0)
	res.Set("leakage", (sSSIM-sStart)/fn, nRef > 0)
	res.Set("identification_rate", float64(ident)/fn, nRef > 0)
	res.Set("probability", sProb/float64(len(classes)), len(classes) > 0)
	res.Details["per_class"] = rows
	res.Details["gradient"] = mode
	res.Details["steps"] = cfg.Steps
	res.Details["init"] = cfg.Init
	res.Details["ssim"] = "global single-window SSIM per channel (Wang et al. 2004, L = data.range width), mean over channels"
	if t.OutDir != "" {
		files, err := writeArtifacts(filepath.Join(t.OutDir, "inversion"), classes, x, means, sample, ch, h, w, isImage, lo, hi)
		if err != nil {
			return nil, err
		}
		res.Details["files"] = files
	}
	return res, nil
}
