package certify

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync/atomic"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Defaults of the config block. n₀ = 100 and α = 0.001 are Cohen et al.'s
// (2019, section 4); their n = 100,000 costs 10⁵ model rows per sample, so
// the default is n = 10,000, which caps the certifiable radius at
// σ·Φ⁻¹(0.001^(1/10000)) ≈ 3.2σ instead of 3.8σ. Samples = 500 matches the
// size of their certified subsets (every 20th test image).
const (
	DefaultSigma   = 0.25
	DefaultN0      = 100
	DefaultN       = 10000
	DefaultAlpha   = 0.001
	DefaultSamples = 500
)

// DefaultRadii are the L2 radii certified accuracy is reported at.
var DefaultRadii = []float64{0, 0.25, 0.5, 0.75, 1}

// maxRows bounds n₀ and n (model rows per sample and σ).
const maxRows = 10_000_000

// Config is the certify suite's config block.
type Config struct {
	// Sigma lists the noise levels σ, in input units (the standard
	// deviation of the Gaussian noise added to every input value).
	Sigma []float64 `mapstructure:"sigma"`
	// N0 is the number of noisy copies that select the top class.
	N0 int `mapstructure:"n0"`
	// N is the number of noisy copies that estimate its probability.
	N int `mapstructure:"n"`
	// Alpha is the failure probability of each certificate.
	Alpha float64 `mapstructure:"alpha"`
	// Radii are the L2 radii at which certified accuracy is reported.
	Radii []float64 `mapstructure:"radii"`
	// Samples is the number of evaluation samples certified: the first
	// Samples of the data (all when the data has fewer).
	Samples int `mapstructure:"samples"`
}

// Suite is the certify suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "certify" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	cfg := Config{N0: DefaultN0, N: DefaultN, Alpha: DefaultAlpha, Samples: DefaultSamples}
	keys, err := suite.DecodeConfigKeys(s.Name(), raw, &cfg)
	if err != nil {
		return nil, err
	}
	if !keys["sigma"] {
		cfg.Sigma = []float64{DefaultSigma}
	}
	if !keys["radii"] {
		cfg.Radii = slices.Clone(DefaultRadii)
	}
	if len(cfg.Sigma) == 0 {
		return nil, errs.Invalidf("config suites.certify.sigma: empty list (give at least one noise level, for example [0.25])")
	}
	for i, v := range cfg.Sigma {
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, errs.Invalidf("config suites.certify.sigma[%d]: %v is not a positive finite number", i, v)
		}
	}
	if len(cfg.Radii) == 0 {
		return nil, errs.Invalidf("config suites.certify.radii: empty list (give at least one radius, for example [0, 0.5])")
	}
	for i, v := range cfg.Radii {
		if !(v >= 0) || math.IsInf(v, 0) {
			return nil, errs.Invalidf("config suites.certify.radii[%d]: %v is not a finite number ≥ 0", i, v)
		}
	}
	if cfg.N0 < 1 || cfg.N0 > maxRows {
		return nil, errs.Invalidf("config suites.certify.n0: %d is outside 1..%d", cfg.N0, maxRows)
	}
	if cfg.N < 1 || cfg.N > maxRows {
		return nil, errs.Invalidf("config suites.certify.n: %d is outside 1..%d", cfg.N, maxRows)
	}
	if !(cfg.Alpha > 0 && cfg.Alpha < 0.5) {
		return nil, errs.Invalidf("config suites.certify.alpha: %v is outside (0, 0.5)", cfg.Alpha)
	}
	if cfg.Samples < 1 {
		return nil, errs.Invalidf("config suites.certify.samples: %d must be at least 1", cfg.Samples)
	}
	cfg.Sigma = uniqueSorted(cfg.Sigma)
	cfg.Radii = uniqueSorted(cfg.Radii)
	return cfg, nil
}

func uniqueSorted(v []float64) []float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return slices.Compact(v)
}

// Key formats a σ or a radius in metric keys as evasion formats eps:
// strconv.FormatFloat(v, 'g', -1, 64) (0.25 → "0.25", 1 → "1").
func Key(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Metrics implements suite.Suite. The keys are documented in
// docs/metrics/certify.md.
func (Suite) Metrics(cfgAny any, _ int) []string {
	cfg := cfgAny.(Config)
	keys := suite.ProportionKeys("clean_accuracy")
	for _, s := range cfg.Sigma {
		p := "sigma=" + Key(s) + "."
		keys = append(keys, suite.ProportionKeys(p+"smoothed_accuracy")...)
		keys = append(keys, p+"abstain_rate", p+"average_certified_radius")
		for _, r := range cfg.Radii {
			keys = append(keys, suite.ProportionKeys(p+"radius="+Key(r)+".certified_accuracy")...)
		}
	}
	return keys
}

// Outcome is the certificate of one sample at one σ.
type Outcome struct {
	// Class is the smoothed prediction, −1 when the sample abstained.
	Class int
	// Radius is the certified L2 radius (0 when abstained).
	Radius float64
	// Count is the estimation count of the selected class out of n, and
	// PLower its one-sided lower confidence bound.
	Count  int
	PLower float64
}

// LowerBound returns the one-sided (1−alpha) Clopper-Pearson lower bound
// on a binomial proportion with k successes in n trials: the lower end of
// the two-sided interval at level 1−2·alpha, as Cohen et al.'s
// lowerConfBound and ART's _lower_confidence_bound compute it.
func LowerBound(k, n int, alpha float64) float64 {
	lo, _, _ := stats.ClopperPearson(k, n, 1-2*alpha)
	return lo
}

// Certificate returns the outcome of a sample whose selection chose class
// c and whose estimation counted k of n for it, at noise sigma and failure
// probability alpha: abstain when the lower bound is below 1/2, else the
// radius σ·Φ⁻¹(pA).
func Certificate(c, k, n int, sigma, alpha float64) Outcome {
	pl := LowerBound(k, n, alpha)
	if pl < 0.5 {
		return Outcome{Class: -1, Count: k, PLower: pl}
	}
	return Outcome{Class: c, Radius: sigma * distuv.UnitNormal.Quantile(pl), Count: k, PLower: pl}
}

// worker holds one worker's runner and buffers.
type worker struct {
	run    *runtime.Runner
	x      []float32
	counts []int
}

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	d := t.Data
	n, err := checkData(cfg, d)
	if err != nil {
		return nil, err
	}
	ws, closeWorkers, err := newWorkers(t, d, n)
	if err != nil {
		return nil, err
	}
	defer closeWorkers()
	// The base model's own accuracy on the same samples, without noise.
	sub := subset(d, n)
	hits := make([]int, t.Batches(n))
	err = suite.ForEachBatch(ctx, t, sub, func(b, lo, hi int, out []float32) error {
		hits[b] = cleanHits(out, sub.Y, lo, hi, t.Classes)
		return nil
	})
	if err != nil {
		return nil, err
	}
	clean := 0
	for _, h := range hits {
		clean += h
	}
	var finished []float64
	var outs [][]Outcome
	var stopped map[string]any
	for _, sigma := range cfg.Sigma {
		out := make([]Outcome, n)
		var samplesDone atomic.Int64
		err = certifySamples(ctx, t, ws, d, cfg, sigma, 0, n, out, &samplesDone)
		if err != nil {
			if !suite.TimedOut(ctx, err) || len(finished) == 0 {
				return nil, err
			}
			// Stopped by runtime.timeout: the figures of a run of the
			// noise levels that finished.
			done := make([]string, len(finished))
			for i, f := range finished {
				done[i] = "sigma=" + Key(f)
			}
			stopped = map[string]any{"sigma_finished": done, "stopped_in": "sigma=" + Key(sigma),
				"stopped_in_samples": int(samplesDone.Load())}
			break
		}
		finished = append(finished, sigma)
		outs = append(outs, out)
	}
	res := reduce(t, cfg, sub.Y, clean, finished, outs)
	if stopped != nil {
		res.SetTimedOut(n, n, stopped)
	}
	return res, err
}

// checkData returns the number of samples certified: the first
// cfg.Samples of d.
func checkData(cfg Config, d *data.Dataset) (int, error) {
	if d.Y == nil {
		return 0, errs.Invalidf("suite certify needs labels: set data.y (NumPy) or data.label (CSV)")
	}
	n := min(cfg.Samples, d.N)
	if n == 0 {
		return 0, errs.Invalidf("suite certify: the evaluation data has no samples")
	}
	return n, nil
}

// subset returns the first n samples of d.
func subset(d *data.Dataset, n int) *data.Dataset {
	size := d.SampleSize()
	return &data.Dataset{X: d.X[:n*size], N: n, SampleShape: d.SampleShape, Y: d.Y[:n]}
}

// cleanHits counts the samples of batch [lo, hi) whose outputs out predict
// their label (first maximum on ties).
func cleanHits(out []float32, y []int64, lo, hi, k int) int {
	c := 0
	for i := lo; i < hi; i++ {
		if int64(stats.Argmax(out[(i-lo)*k:(i-lo+1)*k])) == y[i] {
			c++
		}
	}
	return c
}

// newWorkers opens one worker (runner and buffers) per pool worker, at
// most n, and returns them with the function that closes them.
func newWorkers(t *suite.Target, d *data.Dataset, n int) ([]*worker, func(), error) {
	ws := make([]*worker, max(1, min(t.Pool.Workers, n)))
	closeAll := func() {
		for _, w := range ws {
			if w != nil {
				w.run.Close()
			}
		}
	}
	for i := range ws {
		r, err := t.Session.NewRunner(t.BatchSize)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("create runner: %w", err)
		}
		ws[i] = &worker{run: r, x: make([]float32, t.BatchSize*d.SampleSize()), counts: make([]int, t.Classes)}
	}
	return ws, closeAll, nil
}

// certifySamples certifies samples [lo, hi) of d at noise sigma on the
// workers ws, writing sample i's outcome to out[i-lo]. Each sample draws
// its selection and estimation noise from its own stream
// (suite.BatchRand of σ's derived seed and the sample index), so neither
// the workers, the batch size nor a shard's block change it.
func certifySamples(ctx context.Context, t *suite.Target, ws []*worker, d *data.Dataset, cfg Config, sigma float64, lo, hi int,
	out []Outcome, done *atomic.Int64) error {
	seed := suite.DeriveSeed(t.Seed, "sigma="+Key(sigma))
	pool := t.Pool
	pool.Workers = len(ws)
	return pool.Run(ctx, hi-lo, func(ctx context.Context, wi, j int) error {
		w, i := ws[wi], lo+j
		rng := suite.BatchRand(seed, i)
		x := d.Sample(i)
		// Selection, then estimation, from one stream per sample.
		c, err := w.count(ctx, t, x, sigma, cfg.N0, rng)
		if err != nil {
			return fmt.Errorf("sample %d, σ %v: %w", i, sigma, err)
		}
		top := 0 // first maximum on ties, as numpy's argmax
		for j, v := range c {
			if v > c[top] {
				top = j
			}
		}
		c, err = w.count(ctx, t, x, sigma, cfg.N, rng)
		if err != nil {
			return fmt.Errorf("sample %d, σ %v: %w", i, sigma, err)
		}
		out[i-lo] = Certificate(top, c[top], cfg.N, sigma, cfg.Alpha)
		done.Add(1)
		return nil
	})
}

// reduce is Run's and Merge's reduction: the clean accuracy of the
// len(y) samples (clean of them correct) and, for each noise level of
// finished, the figures of its outcomes outs[i] (one per sample, in
// sample order).
func reduce(t *suite.Target, cfg Config, y []int64, clean int, finished []float64, outs [][]Outcome) *suite.Result {
	n := len(y)
	res := suite.NewResult()
	res.SetProportion("clean_accuracy", clean, n, t.ConfidenceLevel)
	curves := map[string]any{}
	per := map[string]any{}
	for i, sigma := range finished {
		p := "sigma=" + Key(sigma)
		summarise(res, p+".", outs[i], y, cfg.Radii, t.ConfidenceLevel)
		curves[p+".l2"] = curve(outs[i], y, cfg.Radii)
		per[p] = details(outs[i], y)
	}
	if finished == nil {
		finished = []float64{}
	}
	res.Details["samples"] = n
	res.Details["n0"], res.Details["n"], res.Details["alpha"] = cfg.N0, cfg.N, cfg.Alpha
	res.Details["sigma"], res.Details["radii"] = finished, cfg.Radii
	res.Details["noise"] = "Gaussian N(0, σ²) on every input value, not clipped to data.range (Cohen et al. 2019, ART)"
	res.Details["curves"] = curves
	res.Details["per_sigma"] = per
	return res
}

// count adds Gaussian noise of standard deviation sigma to m copies of x,
// runs them through the model in batches and returns the number of copies
// predicted as each class (first maximum on ties). The slice is the
// worker's and valid until the next call.
func (w *worker) count(ctx context.Context, t *suite.Target, x []float32, sigma float64, m int, rng interface{ NormFloat64() float64 }) ([]int, error) {
	clear(w.counts)
	size, k := len(x), len(w.counts)
	for done := 0; done < m; {
		b := min(t.BatchSize, m-done)
		buf := w.x[:b*size]
		for j := range buf {
			buf[j] = x[j%size] + float32(sigma*rng.NormFloat64())
		}
		out, err := w.run.Run(ctx, buf, b)
		if err != nil {
			return nil, err
		}
		for r := 0; r < b; r++ {
			w.counts[stats.Argmax(out[r*k:(r+1)*k])]++
		}
		done += b
	}
	return w.counts, nil
}

// certified reports whether o certifies the true label y at radius r.
func certified(o Outcome, y int64, r float64) bool {
	return o.Class >= 0 && int64(o.Class) == y && o.Radius >= r
}

func summarise(res *suite.Result, p string, out []Outcome, y []int64, radii []float64, level float64) {
	n := len(out)
	var correct, abstained int
	var acr float64
	for i, o := range out {
		if o.Class < 0 {
			abstained++
		}
		if o.Class >= 0 && int64(o.Class) == y[i] {
			correct++
			acr += o.Radius
		}
	}
	res.SetProportion(p+"smoothed_accuracy", correct, n, level)
	res.Set(p+"abstain_rate", float64(abstained)/float64(n), true)
	res.Set(p+"average_certified_radius", acr/float64(n), true)
	for _, r := range radii {
		c := 0
		for i, o := range out {
			if certified(o, y[i], r) {
				c++
			}
		}
		res.SetProportion(p+"radius="+Key(r)+".certified_accuracy", c, n, level)
	}
}

// curveSteps is the number of evenly spaced radii of the details curve
// between 0 and the largest certified radius, besides the configured ones.
const curveSteps = 20

// curve returns certified accuracy against the radius in the details form
// the HTML report draws as a robustness curve ({eps, robust_accuracy}).
func curve(out []Outcome, y []int64, radii []float64) []map[string]any {
	var hi float64
	for _, o := range out {
		hi = max(hi, o.Radius)
	}
	grid := slices.Clone(radii)
	for s := 0; s <= curveSteps && hi > 0; s++ {
		grid = append(grid, hi*float64(s)/curveSteps)
	}
	grid = uniqueSorted(grid)
	pts := make([]map[string]any, len(grid))
	for j, r := range grid {
		c := 0
		for i, o := range out {
			if certified(o, y[i], r) {
				c++
			}
		}
		pts[j] = map[string]any{"eps": r, "robust_accuracy": float64(c) / float64(len(out))}
	}
	return pts
}

// details returns the per-sample radii and predictions of one σ and the
// quantiles of the certified radius over the correctly certified samples.
func details(out []Outcome, y []int64) map[string]any {
	pred := make([]int, len(out))
	radius := make([]float64, len(out))
	var ok []float64
	for i, o := range out {
		pred[i], radius[i] = o.Class, o.Radius
		if o.Class >= 0 && int64(o.Class) == y[i] {
			ok = append(ok, o.Radius)
		}
	}
	m := map[string]any{"prediction": pred, "radius": radius, "correct_certified": len(ok)}
	if len(ok) > 0 {
		slices.Sort(ok)
		m["median_radius_correct"] = stats.Median(ok)
	}
	return m
}
