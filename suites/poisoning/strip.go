package poisoning

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// stripHistogramBins is the number of equal-width bins of the STRIP
// entropy histogram in details.
const stripHistogramBins = 20

// entropy returns the Shannon entropy (nats) of the softmax of a row of
// logits, or of a row of probabilities when probs is true.
func entropy(row []float32, probs bool) float64 {
	if probs {
		var s, h float64
		for _, p := range row {
			s += float64(max(p, 0))
		}
		if s <= 0 {
			return 0
		}
		for _, p := range row {
			q := float64(max(p, 0)) / s
			if q > 0 {
				h -= q * math.Log(q)
			}
		}
		return h
	}
	m := float64(row[stats.Argmax(row)])
	var z float64
	for _, v := range row {
		z += math.Exp(float64(v) - m)
	}
	lz := math.Log(z)
	var h float64
	for _, v := range row {
		lp := float64(v) - m - lz
		h -= math.Exp(lp) * lp
	}
	return h
}

// addProbs adds to dst the softmax of a row of logits, or the row of
// probabilities normalised to sum 1 when probs is true (negative entries
// count as 0; a row of zeros adds nothing).
func addProbs(dst []float64, row []float32, probs bool) {
	if probs {
		var s float64
		for _, p := range row {
			s += float64(max(p, 0))
		}
		if s <= 0 {
			return
		}
		for j, p := range row {
			dst[j] += float64(max(p, 0)) / s
		}
		return
	}
	m := float64(row[stats.Argmax(row)])
	var z float64
	for _, v := range row {
		z += math.Exp(float64(v) - m)
	}
	for j, v := range row {
		dst[j] += math.Exp(float64(v)-m) / z
	}
}

// entropy64 returns the Shannon entropy (nats) of non-negative weights
// normalised to sum 1 (0 when they sum to 0).
func entropy64(w []float64) float64 {
	var s, h float64
	for _, v := range w {
		s += v
	}
	if s <= 0 {
		return 0
	}
	for _, v := range w {
		if q := v / s; q > 0 {
			h -= q * math.Log(q)
		}
	}
	return h
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// stripSplit returns the seeded split of n evaluation rows into three
// disjoint parts, each in ascending row order: hold (the held-out clean
// rows the threshold is chosen on), far (the rows whose triggered copies
// measure the false acceptance) and pool (the overlays). The rows are
// shuffled with a PCG source seeded with seed; hold and far take
// ⌊n/3⌋ rows each (at most samples each when samples > 0), pool the rest.
func stripSplit(n, samples int, seed uint64) (hold, far, pool []int) {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	rng.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	k := n / 3
	if samples > 0 {
		k = min(k, samples)
	}
	hold, far, pool = perm[:k], perm[k:2*k], perm[2*k:]
	slices.Sort(hold)
	slices.Sort(far)
	slices.Sort(pool)
	return hold, far, pool
}

// gather returns the rows of d (with their labels, when d has them) as a
// new dataset.
func gather(d *data.Dataset, rows []int) *data.Dataset {
	size := d.SampleSize()
	out := &data.Dataset{SampleShape: d.SampleShape, X: make([]float32, len(rows)*size), N: len(rows)}
	if d.Y != nil {
		out.Y = make([]int64, len(rows))
	}
	for j, i := range rows {
		copy(out.X[j*size:(j+1)*size], d.X[i*size:(i+1)*size])
		if d.Y != nil {
			out.Y[j] = d.Y[i]
		}
	}
	return out
}

// stripOutcome is what one STRIP scan measured: the entropies of the
// held-out clean inputs and of the triggered ones (nil without a
// trigger), and the threshold at the configured FRR.
type stripOutcome struct {
	Alpha     float64
	Clean     []float64
	Triggered []float64
	Threshold float64
	Accepted  int // triggered inputs at or above the threshold
	// AUC is the ROC AUC of the triggered inputs against the held-out
	// clean ones with the negated score (low entropy ranks as
	// triggered); ok is false without both.
	AUC   float64
	AUCOK bool
	// Search is alpha auto's criterion: the held-out clean inputs' mean
	// score at each weight of stripAlphaGrid (nil for a fixed alpha).
	Search []map[string]any
	// Overlays is the number of overlays used (chosen by overlaysFor with
	// overlays auto); NoiseShare is the share of the clean scores'
	// variance that is overlay sampling noise at that number (noiseShare;
	// NaN with fewer than 2 held-out inputs), PilotNoiseShare the pilot's (overlays
	// auto only).
	Overlays        int
	NoiseShare      float64
	PilotNoiseShare float64
	// Suggested is what overlays auto would use, for a run with a fixed
	// number of overlays (0 otherwise).
	Suggested int
}

// chooseAlpha is alpha auto: it scores the held-out clean inputs hold at
// each weight of stripAlphaGrid and keeps the weight whose mean score is
// largest (the first on ties): the weight at which superimposing clean
// inputs makes clean inputs' predictions most uncertain, which STRIP
// needs so that a trigger that survives the superimposition stands out
// (Gao et al. 2019 §IV). Only clean held-out inputs and overlays are
// used; the triggered inputs play no part. It sets o.Alpha, o.Clean and
// o.Search.
func chooseAlpha(ctx context.Context, t *suite.Target, cfg STRIPConfig, overlays int, hold, pool *data.Dataset, seed uint64, o *stripOutcome, vars []float64) error {
	best := math.Inf(-1)
	var v []float64
	if vars != nil {
		v = make([]float64, len(vars))
	}
	for _, a := range stripAlphaGrid {
		h, err := stripEntropies(ctx, t, hold, hold.N, pool.X, overlays, a, cfg.Score, seed, v)
		if err != nil {
			return err
		}
		m := mean(h)
		o.Search = append(o.Search, map[string]any{"alpha": a, "clean_mean_score": m})
		if m > best {
			best, o.Alpha, o.Clean = m, a, h
			copy(vars, v)
		}
	}
	return nil
}

// noiseShare returns the share of the variance of the clean scores h
// that is the overlays' sampling noise: the mean per-input variance of
// the per-overlay entropies vars over the overlays n, divided by the
// sample variance of h (NaN with fewer than 2 inputs or no spread).
func noiseShare(h, vars []float64, n int) float64 {
	if len(h) < 2 {
		return math.NaN()
	}
	m := mean(h)
	var v float64
	for _, x := range h {
		v += (x - m) * (x - m)
	}
	v /= float64(len(h) - 1)
	if v <= 0 {
		return math.NaN()
	}
	return mean(vars) / float64(n) / v
}

// overlaysFor is overlays auto's rule: from a pilot of n overlays (clean
// scores h, per-input variances vars), the fewest overlays, a multiple of
// stripPilotOverlays within [stripPilotOverlays, stripMaxOverlays], whose
// sampling noise would be at most stripNoiseShare of the clean scores'
// variance. The between-input variance is the pilot's variance less its
// noise; where that is not positive, the cap is returned.
func overlaysFor(h, vars []float64, n int) int {
	share := noiseShare(h, vars, n)
	if math.IsNaN(share) {
		return stripPilotOverlays
	}
	noise := mean(vars) / float64(n) // at n overlays
	between := noise/share - noise
	if between <= 0 {
		return stripMaxOverlays
	}
	// noise·n/N ≤ ρ·(between + noise·n/N)  ⇔  N ≥ noise·n·(1 − ρ)/(ρ·between)
	need := math.Ceil(noise * float64(n) * (1 - stripNoiseShare) / (stripNoiseShare * between))
	k := int(math.Ceil(need/stripPilotOverlays)) * stripPilotOverlays
	return min(max(k, stripPilotOverlays), stripMaxOverlays)
}

// stripScan runs STRIP on the evaluation data of t: it splits the rows
// (stripSplit), scores the held-out clean rows, sets the threshold at the
// cfg.FRR quantile of their entropies and, when triggered is not nil,
// scores triggered(far rows) and counts the accepted ones. triggered
// returns the triggered copies of the given evaluation rows (it may leave
// some out, e.g. the target class's).
func stripScan(ctx context.Context, t *suite.Target, cfg STRIPConfig, triggered func(rows []int) *data.Dataset) (*stripOutcome, error) {
	p, err := planSTRIP(ctx, t, cfg)
	if err != nil {
		return nil, err
	}
	o := p.o
	if p.rescore {
		vars := make([]float64, p.hold.N)
		h, err := stripEntropies(ctx, t, p.hold, p.hold.N, p.pool.X, o.Overlays, o.Alpha, cfg.Score, p.seed, vars)
		if err != nil {
			return nil, err
		}
		p.scored(cfg, h, vars)
	}
	if triggered == nil {
		o.judge(cfg, nil)
		return o, nil
	}
	tr := triggered(p.farRows)
	h, err := stripEntropies(ctx, t, tr, tr.N, p.pool.X, o.Overlays, o.Alpha, cfg.Score, suite.DeriveSeed(p.seed, "triggered"), nil)
	if err != nil {
		return nil, err
	}
	o.judge(cfg, h)
	return o, nil
}

// stripPlan is a STRIP scan once its settings are chosen: the seeded
// split's held-out clean inputs, overlay pool and far rows, the outcome
// so far (alpha, overlays, alpha auto's search, the pilot's noise share),
// and whether the held-out clean inputs are still to be scored at those
// settings (rescore: fixed alpha and overlays, or overlays auto raised
// the pilot's count); otherwise o.Clean holds their scores.
type stripPlan struct {
	o          *stripOutcome
	hold, pool *data.Dataset
	farRows    []int
	seed       uint64
	rescore    bool
}

// planSTRIP splits the rows (stripSplit) and chooses the settings: alpha
// auto (chooseAlpha) and overlays auto's pilot (overlaysFor) score the
// held-out clean inputs here.
func planSTRIP(ctx context.Context, t *suite.Target, cfg STRIPConfig) (*stripPlan, error) {
	d := t.Data
	if d.N < 3 {
		return nil, errs.Invalidf("strip needs at least 3 evaluation inputs (held-out clean, triggered and overlay rows); got %d", d.N)
	}
	seed := suite.DeriveSeed(t.Seed, "poisoning/strip")
	holdRows, farRows, poolRows := stripSplit(d.N, cfg.Samples, suite.DeriveSeed(seed, "split"))
	o := &stripOutcome{Alpha: cfg.Alpha, Overlays: cfg.Overlays, NoiseShare: math.NaN()}
	p := &stripPlan{o: o, hold: gather(d, holdRows), pool: gather(d, poolRows), farRows: farRows, seed: seed}
	if cfg.Overlays == 0 {
		o.Overlays = stripPilotOverlays
	}
	vars := make([]float64, p.hold.N)
	var err error
	switch {
	case cfg.Alpha == 0:
		if err = chooseAlpha(ctx, t, cfg, o.Overlays, p.hold, p.pool, seed, o, vars); err != nil {
			return nil, err
		}
	case cfg.Overlays == 0:
		if o.Clean, err = stripEntropies(ctx, t, p.hold, p.hold.N, p.pool.X, o.Overlays, o.Alpha, cfg.Score, seed, vars); err != nil {
			return nil, err
		}
	default:
		// fixed alpha and overlays: the first scores are the final ones
		p.rescore = true
		return p, nil
	}
	o.NoiseShare = noiseShare(o.Clean, vars, o.Overlays)
	if cfg.Overlays != 0 {
		o.Suggested = overlaysFor(o.Clean, vars, o.Overlays)
		return p, nil
	}
	o.PilotNoiseShare = o.NoiseShare
	if n := overlaysFor(o.Clean, vars, o.Overlays); n > o.Overlays {
		o.Overlays = n
		p.rescore = true
	}
	return p, nil
}

// scored records the held-out clean inputs' scores h (per-input
// variances vars) at the plan's settings, with their noise share (and,
// for a fixed number of overlays, what overlays auto would use).
func (p *stripPlan) scored(cfg STRIPConfig, h, vars []float64) {
	o := p.o
	o.Clean = h
	o.NoiseShare = noiseShare(h, vars, o.Overlays)
	if cfg.Overlays != 0 {
		o.Suggested = overlaysFor(h, vars, o.Overlays)
	}
}

// judge sets the threshold at the cfg.FRR quantile of the clean scores
// and, given the triggered inputs' scores (nil without a trigger), counts
// the accepted ones and the AUC.
func (o *stripOutcome) judge(cfg STRIPConfig, triggered []float64) {
	o.Threshold = stats.Quantile(slices.Sorted(slices.Values(o.Clean)), cfg.FRR)
	if triggered == nil {
		return
	}
	o.Triggered = triggered
	for _, v := range o.Triggered {
		if v >= o.Threshold {
			o.Accepted++
		}
	}
	o.AUC, o.AUCOK = stripAUC(o.Clean, o.Triggered)
}

// stripAUC returns the ROC AUC of triggered against clean scores, lower
// scores ranking as triggered: the probability that a triggered input
// scores below a clean one, ties counting 1/2 (learn.ROC). ok is false
// when either set is empty.
func stripAUC(clean, triggered []float64) (float64, bool) {
	scores := make([]float64, 0, len(clean)+len(triggered))
	truth := make([]bool, 0, cap(scores))
	for _, v := range clean {
		scores, truth = append(scores, -v), append(truth, false)
	}
	for _, v := range triggered {
		scores, truth = append(scores, -v), append(truth, true)
	}
	r := learn.NewROC(scores, truth, nil)
	if !r.Defined() {
		return 0, false
	}
	return r.AUC(), true
}

// runSTRIP runs stripScan with the configured trigger (when given) and
// sets the metrics; it returns the details of the STRIP block and the
// entropy histogram.
func runSTRIP(ctx context.Context, t *suite.Target, cfg STRIPConfig, trig *Compiled, target *int, r *suite.Result) (details, hist map[string]any, err error) {
	var mk func(rows []int) *data.Dataset
	if trig != nil && target != nil {
		mk = func(rows []int) *data.Dataset { return Triggered(gather(t.Data, rows), trig, *target) }
	}
	o, err := stripScan(ctx, t, cfg, mk)
	if err != nil {
		return nil, nil, err
	}
	details, hist = reportSTRIP(t, cfg, r, o, t.Data.N, mk != nil)
	return details, hist, nil
}

// reportSTRIP sets the metrics of the STRIP outcome o on n evaluation
// inputs (withTrigger: the triggered inputs were scored) and returns the
// details of the STRIP block and the entropy histogram.
func reportSTRIP(t *suite.Target, cfg STRIPConfig, r *suite.Result, o *stripOutcome, n int, withTrigger bool) (details, hist map[string]any) {
	r.Set("strip.entropy_threshold", o.Threshold, true)
	details = map[string]any{"overlays": o.Overlays, "alpha": o.Alpha, "score": cfg.Score, "frr": cfg.FRR,
		"clean_inputs": len(o.Clean), "overlay_pool": n - 2*len(o.Clean), "clean_mean_entropy": mean(o.Clean)}
	if !math.IsNaN(o.NoiseShare) {
		details["overlay_noise_share"] = o.NoiseShare
	}
	if cfg.Overlays == 0 {
		details["overlays_rule"] = fmt.Sprintf("auto: a pilot of %d overlays, then the fewest (a multiple of %d, at most %d) leaving at most %g of the held-out clean scores' variance to overlay sampling noise",
			stripPilotOverlays, stripPilotOverlays, stripMaxOverlays, stripNoiseShare)
		details["pilot_noise_share"] = o.PilotNoiseShare
	} else if o.NoiseShare > stripNoiseWarn {
		r.Warnings = append(r.Warnings, fmt.Sprintf("strip: overlay sampling noise is %.0f%% of the variance of the held-out clean scores with %d overlays; the threshold sits in a tail widened by it: set strip.overlays: auto (or %d)",
			100*o.NoiseShare, o.Overlays, o.Suggested))
	}
	if o.Search != nil {
		details["alpha_rule"] = "auto: the weight of " + fmt.Sprint(stripAlphaGrid) + " with the largest mean held-out clean score"
		details["alpha_search"] = o.Search
	}
	if withTrigger {
		r.SetProportion("strip.far", o.Accepted, len(o.Triggered), t.ConfidenceLevel)
		r.Set("strip.auc", o.AUC, o.AUCOK)
		details["triggered_inputs"] = len(o.Triggered)
		details["accepted"] = o.Accepted
		if len(o.Triggered) > 0 {
			details["triggered_mean_entropy"] = mean(o.Triggered)
		}
	}
	return details, entropyHistogram(o)
}

// entropyHistogram bins the clean and triggered entropies of o into
// stripHistogramBins equal-width bins over their common range (the last
// bin closed): the "histograms" details convention of docs/reports.md.
func entropyHistogram(o *stripOutcome) map[string]any {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range slices.Concat(o.Clean, o.Triggered) {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi <= lo {
		hi = lo + 1e-6
	}
	w := (hi - lo) / stripHistogramBins
	edges := make([]float64, stripHistogramBins+1)
	for i := range edges {
		edges[i] = lo + float64(i)*w
	}
	edges[stripHistogramBins] = hi
	count := func(xs []float64) []int {
		c := make([]int, stripHistogramBins)
		for _, v := range xs {
			c[min(int((v-lo)/w), stripHistogramBins-1)]++
		}
		return c
	}
	series := map[string]any{"clean": count(o.Clean)}
	if o.Triggered != nil {
		series["triggered"] = count(o.Triggered)
	}
	return map[string]any{"title": "STRIP entropy", "x": "mean entropy over overlays (nats)", "edges": edges,
		"series": series, "threshold": o.Threshold}
}

// stripEntropies returns, for the first n inputs of src, the mean entropy
// of the model's predictions on (1 − alpha)·x + alpha·o over overlays
// clean inputs o drawn from pool (whole samples, back to back), or with
// score STRIPScoreMixture the entropy of the mean prediction. Each input's
// overlays come from its own seeded stream, so the first k of N overlays
// are the k overlays of a run with k. With the mean score and vars not
// nil (length n), vars[i] is the sample variance of input i's per-overlay
// entropies (0 with one overlay); with the mixture score it is the
// split-half estimate of the same: overlays·(H_even − H_odd)²/4, H_even
// and H_odd the mixture entropies of the even and the odd overlays, so
// that vars[i]/overlays estimates the sampling variance of the score in
// both cases.
func stripEntropies(ctx context.Context, t *suite.Target, src *data.Dataset, n int, pool []float32, overlays int, alpha float64, score string, seed uint64, vars []float64) ([]float64, error) {
	h := make([]float64, n)
	_, tasks := stripTasks(t, n, overlays)
	return h, stripScores(ctx, t, src, n, pool, overlays, alpha, score, seed, vars, h, 0, tasks, nil)
}

// stripTasks returns how stripEntropies splits n inputs scored with
// overlays overlays each: per inputs a model run (runtime.batch_size
// rows, at least one input), in tasks runs.
func stripTasks(t *suite.Target, n, overlays int) (per, tasks int) {
	per = max(1, t.BatchSize/overlays)
	return per, (n + per - 1) / per
}

// stripScores is stripEntropies on tasks [t0, t1) of stripTasks only,
// writing input i's score into h[i] (and vars[i]); done, when not nil,
// is called with each task as it finishes (a sharded run's units). A
// task's scores are those of the whole run: the same inputs in one model
// run, each from its own stream.
func stripScores(ctx context.Context, t *suite.Target, src *data.Dataset, n int, pool []float32, overlays int, alpha float64, score string, seed uint64, vars, h []float64, t0, t1 int, done func(task, lo, hi int) error) error {
	size := src.SampleSize()
	poolN := len(pool) / size
	if poolN == 0 {
		return errs.Invalidf("strip: no held-out inputs to overlay")
	}
	if n == 0 || t1 <= t0 {
		return nil
	}
	per, _ := stripTasks(t, n, overlays) // inputs per task
	tasks := t1 - t0
	workers := max(1, min(t.Pool.Workers, tasks))
	runners := make([]*runtime.Runner, workers)
	bufs := make([][]float32, workers)
	pcgs := make([]*rand.PCG, workers)
	rngs := make([]*rand.Rand, workers)
	mixes := make([][]float64, workers)
	defer func() {
		for _, rr := range runners {
			if rr != nil {
				rr.Close()
			}
		}
	}()
	for w := range runners {
		var err error
		if runners[w], err = t.Session.NewRunner(per * overlays); err != nil {
			return err
		}
		bufs[w] = make([]float32, per*overlays*size)
		pcgs[w] = rand.NewPCG(0, 0)
		rngs[w] = rand.New(pcgs[w])
		mixes[w] = make([]float64, 2*t.Classes)
	}
	probs := t.OutputKind == runtime.Probabilities
	a, b := float32(alpha), float32(1-alpha)
	wp := t.Pool
	wp.Workers = workers
	return wp.Run(ctx, tasks, func(ctx context.Context, w, task int) error {
		task += t0
		lo, hi := task*per, min((task+1)*per, n)
		buf := bufs[w]
		rng := rngs[w]
		for i := lo; i < hi; i++ {
			pcgs[w].Seed(seed, uint64(i)) // each input's own stream, whatever the worker
			x := src.X[i*size : (i+1)*size]
			for o := 0; o < overlays; o++ {
				j := rng.IntN(poolN)
				ov := pool[j*size : (j+1)*size]
				dst := buf[((i-lo)*overlays+o)*size : ((i-lo)*overlays+o+1)*size]
				for e := range dst {
					dst[e] = b*x[e] + a*ov[e]
				}
			}
		}
		rows := (hi - lo) * overlays
		out, err := runners[w].Run(ctx, buf[:rows*size], rows)
		if err != nil {
			return err
		}
		k := t.Classes
		mix := mixes[w]
		for i := lo; i < hi; i++ {
			if score == STRIPScoreMixture {
				// mix holds the even overlays' sum, then the odd ones';
				// their sum is the whole mixture.
				even, odd := mix[:k], mix[k:]
				clear(mix)
				for o := 0; o < overlays; o++ {
					row := (i-lo)*overlays + o
					addProbs(mix[(o%2)*k:(o%2+1)*k], out[row*k:(row+1)*k], probs)
				}
				if vars != nil && overlays > 1 {
					d := entropy64(even) - entropy64(odd)
					vars[i] = float64(overlays) * d * d / 4
				}
				for j := range even {
					even[j] += odd[j]
				}
				h[i] = entropy64(even)
				continue
			}
			var s, s2 float64
			for o := 0; o < overlays; o++ {
				row := (i-lo)*overlays + o
				e := entropy(out[row*k:(row+1)*k], probs)
				s += e
				s2 += e * e
			}
			h[i] = s / float64(overlays)
			if vars != nil && overlays > 1 {
				vars[i] = max(0, s2-float64(overlays)*h[i]*h[i]) / float64(overlays-1)
			}
		}
		if done != nil {
			return done(task, lo, hi)
		}
		return nil
	})
}

// STRIP scores: how an input's predictions over its overlays become one
// number.
const (
	STRIPScoreMean    = "mean"    // the mean of the predictions' entropies (Gao et al. 2019)
	STRIPScoreMixture = "mixture" // the entropy of the mean prediction
)

// STRIPAlphaAuto is the strip.alpha value that chooses the overlay weight
// from the held-out clean inputs (chooseAlpha).
const STRIPAlphaAuto = "auto"

// Overlays auto (overlaysFor): the pilot run's overlays, the cap, and the
// largest share of the clean scores' variance left to overlay sampling
// noise.
const (
	stripPilotOverlays = DefaultSTRIPOverlays
	stripMaxOverlays   = 500
	stripNoiseShare    = 0.1
)

// stripNoiseWarn is the noise share above which a run with a fixed number
// of overlays gets a warning.
const stripNoiseWarn = 0.25

// stripAlphaGrid are the overlay weights alpha auto tries.
var stripAlphaGrid = []float64{0.3, 0.4, 0.5, 0.6, 0.7}

// autoNumber reads a config value that is a number or the word auto:
// a YAML number, or a string (a --set value). ok is false for anything
// else.
func autoNumber(v any) (x float64, auto, ok bool) {
	switch v := v.(type) {
	case float64:
		return v, false, true
	case int:
		return float64(v), false, true
	case int64:
		return float64(v), false, true
	case uint64:
		return float64(v), false, true
	case string:
		if v == STRIPAlphaAuto {
			return 0, true, true
		}
		f, err := strconv.ParseFloat(v, 64)
		return f, false, err == nil
	}
	return 0, false, false
}

// decodeSTRIPAlpha sets s.Alpha from the alpha key as given (s.AlphaKey):
// DefaultSTRIPAlpha when absent, 0 for auto, else a number in (0, 1).
func decodeSTRIPAlpha(s *STRIPConfig, set bool) error {
	const key = "config suites.poisoning.model.strip.alpha"
	if !set {
		s.Alpha = DefaultSTRIPAlpha
		return nil
	}
	a, auto, ok := autoNumber(s.AlphaKey)
	switch {
	case !ok:
		return errs.Invalidf("%s: %s: want a number in (0, 1) or %s", key, show(s.AlphaKey), STRIPAlphaAuto)
	case auto:
		s.Alpha = 0
	case !(a > 0 && a < 1):
		return errs.Invalidf("%s: %g is outside (0, 1) (the overlaid clean input's weight)", key, a)
	default:
		s.Alpha = a
	}
	return nil
}

// decodeSTRIPOverlays sets s.Overlays from the overlays key as given
// (s.OverlaysKey): 0 (auto) for auto and when absent, else a whole number
// of at least 1.
func decodeSTRIPOverlays(s *STRIPConfig, set bool) error {
	const key = "config suites.poisoning.model.strip.overlays"
	if !set {
		s.Overlays = 0 // auto
		return nil
	}
	n, auto, ok := autoNumber(s.OverlaysKey)
	switch {
	case !ok || (!auto && n != math.Trunc(n)):
		return errs.Invalidf("%s: %s: want a whole number of at least 1 or %s", key, show(s.OverlaysKey), STRIPAlphaAuto)
	case auto:
		s.Overlays = 0
	case n < 1:
		return errs.Invalidf("%s: %g: must be at least 1", key, n)
	case n > math.MaxInt32:
		return errs.Invalidf("%s: %g: too many", key, n)
	default:
		s.Overlays = int(n)
	}
	return nil
}

// show writes a config value for an error message: strings quoted.
func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
