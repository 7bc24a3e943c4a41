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
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// STRIP and Neural Cleanse defaults.
const (
	DefaultSTRIPOverlays  = 20   // Gao et al. find N = 20 enough
	DefaultSTRIPSamples   = 500  // inputs scored, per set
	DefaultSTRIPFRR       = 0.01 // the paper's false-rejection rate
	DefaultCleanseSamples = 64
	DefaultCleanseSteps   = 100
	DefaultCleanseLR      = 0.1
	DefaultCleanseCost    = 1e-3 // Wang et al.'s init_cost
	DefaultCleanseSuccess = 0.99 // Wang et al.'s attack_succ_threshold
	DefaultAnomaly        = 2    // Wang et al.'s anomaly-index cut-off
)

// decodeModel checks the model block and fills in the defaults of the keys
// it does not set; has reports whether the suite block sets a key.
func decodeModel(m *ModelConfig, has func(key string) bool) error {
	const f = "config suites.poisoning.model."
	if !has("model.methods") {
		m.Methods = []string{MethodSTRIP, MethodCleanse}
	}
	if len(m.Methods) == 0 {
		return errs.Invalidf(f+"methods: empty; list %s and/or %s, or leave methods out for both", MethodSTRIP, MethodCleanse)
	}
	for _, me := range m.Methods {
		if me != MethodSTRIP && me != MethodCleanse {
			return errs.Invalidf("config suites.poisoning.model.methods: %q: want %s or %s", me, MethodSTRIP, MethodCleanse)
		}
	}
	if m.Trigger != nil {
		if err := m.Trigger.check("config suites.poisoning.model.trigger"); err != nil {
			return err
		}
		if m.Trigger.Target != nil || m.Trigger.Name != "" || m.Trigger.CleanLabel {
			return errs.Invalidf("config suites.poisoning.model.trigger: target, name and clean_label belong to susceptibility attacks; set suites.poisoning.model.target")
		}
		if m.Target == nil {
			return errs.Invalidf("config suites.poisoning.model: a trigger needs its target class (target)")
		}
	}
	if m.Target != nil && *m.Target < 0 {
		return errs.Invalidf("config suites.poisoning.model.target: %d is negative", *m.Target)
	}
	s := &m.STRIP
	if !has("model.strip.overlays") {
		s.Overlays = DefaultSTRIPOverlays
	}
	if !has("model.strip.samples") {
		s.Samples = DefaultSTRIPSamples // an explicit 0 scores half the data
	}
	if !has("model.strip.frr") {
		s.FRR = DefaultSTRIPFRR
	}
	switch {
	case s.Overlays < 1:
		return errs.Invalidf(f+"strip.overlays: %d: must be at least 1", s.Overlays)
	case s.Samples < 0:
		return errs.Invalidf(f+"strip.samples: %d: must be at least 0 (0: half of the data)", s.Samples)
	case !(s.FRR > 0 && s.FRR < 1):
		return errs.Invalidf(f+"strip.frr: %g is outside (0, 1)", s.FRR)
	}
	c := &m.NeuralCleanse
	const nc = "model.neural_cleanse."
	if !has(nc + "samples") {
		c.Samples = DefaultCleanseSamples
	}
	if !has(nc + "steps") {
		c.Steps = DefaultCleanseSteps
	}
	if !has(nc + "learning_rate") {
		c.LearningRate = DefaultCleanseLR
	}
	if !has(nc + "init_cost") {
		c.InitCost = DefaultCleanseCost
	}
	if !has(nc + "success") {
		c.Success = DefaultCleanseSuccess
	}
	if !has(nc + "threshold") {
		c.Threshold = DefaultAnomaly
	}
	finitePos := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }
	switch {
	case c.Samples < 1:
		return errs.Invalidf(f+"neural_cleanse.samples: %d: must be at least 1", c.Samples)
	case c.Steps < 1:
		return errs.Invalidf(f+"neural_cleanse.steps: %d: must be at least 1", c.Steps)
	case !finitePos(c.LearningRate):
		return errs.Invalidf(f+"neural_cleanse.learning_rate: %g: must be a number > 0", c.LearningRate)
	case !finitePos(c.InitCost):
		// The L1 weight starts at init_cost and is only ever scaled, so 0 would stay 0.
		return errs.Invalidf(f+"neural_cleanse.init_cost: %g: must be a number > 0 (the mask's L1 weight starts there and is scaled by 1.5, so 0 stays 0)", c.InitCost)
	case !(c.Success > 0 && c.Success <= 1):
		return errs.Invalidf(f+"neural_cleanse.success: %g is outside (0, 1]", c.Success)
	case !finitePos(c.Threshold):
		return errs.Invalidf(f+"neural_cleanse.threshold: %g: must be a number > 0", c.Threshold)
	}
	if has(nc+"classes") && len(c.Classes) == 0 {
		return errs.Invalidf(f + "neural_cleanse.classes: empty; leave classes out to scan every class")
	}
	for _, k := range c.Classes {
		if k < 0 {
			return errs.Invalidf("config suites.poisoning.model.neural_cleanse.classes: %d is negative", k)
		}
	}
	return nil
}

func modelKeys(m *ModelConfig, classes int) []string {
	var keys []string
	if m.Trigger != nil {
		keys = append(keys, suite.ProportionKeys("backdoor.attack_success_rate")...)
	}
	if hasMethod(m.Methods, MethodSTRIP) {
		keys = append(keys, "strip.entropy_threshold")
		if m.Trigger != nil {
			keys = append(keys, suite.ProportionKeys("strip.far")...)
		}
	}
	if hasMethod(m.Methods, MethodCleanse) {
		keys = append(keys, "neural_cleanse.max_anomaly_index", "neural_cleanse.flagged_count")
		for _, k := range cleanseClasses(m.NeuralCleanse, classes) {
			keys = append(keys, "neural_cleanse.class="+strconv.Itoa(k)+".anomaly_index")
		}
	}
	return keys
}

// cleanseClasses lists the classes Neural Cleanse scans.
func cleanseClasses(c CleanseConfig, classes int) []int {
	if len(c.Classes) > 0 {
		return c.Classes
	}
	out := make([]int, classes)
	for k := range out {
		out[k] = k
	}
	return out
}

func runModel(ctx context.Context, t *suite.Target, cfg *ModelConfig, r *suite.Result) error {
	d := t.Data
	if d == nil || d.N == 0 {
		return errs.Invalidf("suites.poisoning.model needs evaluation data (data.x)")
	}
	if cfg.Target != nil && *cfg.Target >= t.Classes {
		return errs.Invalidf("config suites.poisoning.model.target: %d is not a class of the model (%d classes)", *cfg.Target, t.Classes)
	}
	for _, k := range cfg.NeuralCleanse.Classes {
		if k >= t.Classes {
			return errs.Invalidf("config suites.poisoning.model.neural_cleanse.classes: %d is not a class of the model (%d classes)", k, t.Classes)
		}
	}
	details := map[string]any{}
	var triggered *data.Dataset
	var trig *Compiled
	if cfg.Trigger != nil {
		if d.Y == nil {
			return errs.Invalidf("suites.poisoning.model.trigger needs labels in the evaluation data (data.y)")
		}
		c, err := cfg.Trigger.Compile("config suites.poisoning.model.trigger", d.SampleShape, t.Range[0], t.Range[1], t.BaseDir)
		if err != nil {
			return err
		}
		trig = c
		triggered = Triggered(d, c, *cfg.Target)
		hit, err := countPredicted(ctx, t, triggered, func(int) int64 { return int64(*cfg.Target) })
		if err != nil {
			return fmt.Errorf("backdoor attack success rate: %w", err)
		}
		r.SetProportion("backdoor.attack_success_rate", hit, triggered.N, t.ConfidenceLevel)
		details["backdoor"] = map[string]any{"target": *cfg.Target, "triggered_inputs": triggered.N, "classified_as_target": hit}
	}
	if hasMethod(cfg.Methods, MethodSTRIP) {
		sd, err := runSTRIP(ctx, t, cfg.STRIP, trig, cfg.Target, r)
		if err != nil {
			return fmt.Errorf("strip: %w", err)
		}
		details[MethodSTRIP] = sd
	}
	if hasMethod(cfg.Methods, MethodCleanse) {
		nd, err := runCleanse(ctx, t, cfg.NeuralCleanse, r)
		if err != nil {
			return fmt.Errorf("neural cleanse: %w", err)
		}
		details[MethodCleanse] = nd
	}
	r.Details["model"] = details
	return nil
}

// Triggered returns the samples of d whose label is not target, with the
// trigger c applied (unchanged when c is nil) and the label set to target.
func Triggered(d *data.Dataset, c *Compiled, target int) *data.Dataset {
	size := d.SampleSize()
	n := 0
	for _, y := range d.Y {
		if y != int64(target) {
			n++
		}
	}
	out := &data.Dataset{SampleShape: d.SampleShape, X: make([]float32, n*size), Y: make([]int64, n), N: n}
	j := 0
	for i := 0; i < d.N; i++ {
		if d.Y[i] == int64(target) {
			continue
		}
		if c != nil {
			c.Apply(out.X[j*size:(j+1)*size], d.X[i*size:(i+1)*size])
		} else {
			copy(out.X[j*size:(j+1)*size], d.X[i*size:(i+1)*size])
		}
		out.Y[j] = int64(target)
		j++
	}
	return out
}

// countPredicted counts the samples i of d the model classifies as
// class want(i) (the arg max of its output, first maximum on ties).
func countPredicted(ctx context.Context, t *suite.Target, d *data.Dataset, want func(i int) int64) (int, error) {
	parts := make([]int, t.Batches(d.N))
	err := suite.ForEachBatch(ctx, t, d, func(b, lo, hi int, out []float32) error {
		for i := lo; i < hi; i++ {
			if int64(stats.Argmax(out[(i-lo)*t.Classes:(i-lo+1)*t.Classes])) == want(i) {
				parts[b]++
			}
		}
		return nil
	})
	n := 0
	for _, p := range parts {
		n += p
	}
	return n, err
}

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

// runSTRIP scores clean inputs (and triggered ones, when a trigger is
// given) by the mean prediction entropy over superimposed clean inputs.
// The evaluation data is split so that no input is blended with itself or
// with its own clean source: the first rows (strip.samples, at most half)
// are scored, clean and, with a trigger, triggered; the overlays are drawn
// from the held-out rows after them.
func runSTRIP(ctx context.Context, t *suite.Target, cfg STRIPConfig, trig *Compiled, target *int, r *suite.Result) (map[string]any, error) {
	d := t.Data
	if d.N < 2 {
		return nil, errs.Invalidf("strip needs at least 2 evaluation inputs")
	}
	nScore := d.N / 2
	if cfg.Samples > 0 {
		nScore = min(cfg.Samples, nScore)
	}
	size := d.SampleSize()
	scored := &data.Dataset{SampleShape: d.SampleShape, X: d.X[:nScore*size], N: nScore}
	if d.Y != nil {
		scored.Y = d.Y[:nScore]
	}
	pool := d.X[nScore*size:]
	seed := suite.DeriveSeed(t.Seed, "poisoning/strip")
	clean, err := stripEntropies(ctx, t, scored, nScore, pool, cfg.Overlays, seed)
	if err != nil {
		return nil, err
	}
	th := stats.Quantile(slices.Sorted(slices.Values(clean)), cfg.FRR)
	r.Set("strip.entropy_threshold", th, true)
	out := map[string]any{"overlays": cfg.Overlays, "clean_inputs": len(clean), "overlay_pool": d.N - nScore, "frr": cfg.FRR,
		"clean_mean_entropy": mean(clean)}
	if trig != nil && target != nil {
		triggered := Triggered(scored, trig, *target)
		h, err := stripEntropies(ctx, t, triggered, triggered.N, pool, cfg.Overlays, suite.DeriveSeed(seed, "triggered"))
		if err != nil {
			return nil, err
		}
		accepted := 0
		for _, v := range h {
			if v >= th {
				accepted++
			}
		}
		r.SetProportion("strip.far", accepted, len(h), t.ConfidenceLevel)
		out["triggered_inputs"] = len(h)
		if len(h) > 0 {
			out["triggered_mean_entropy"] = mean(h)
		}
	}
	return out, nil
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// stripEntropies returns, for the first n inputs of src, the mean entropy
// of the model's predictions on (x + o)/2 over overlays clean inputs o
// drawn from pool (whole samples, back to back). Each input's overlays
// come from its own seeded stream.
func stripEntropies(ctx context.Context, t *suite.Target, src *data.Dataset, n int, pool []float32, overlays int, seed uint64) ([]float64, error) {
	size := src.SampleSize()
	poolN := len(pool) / size
	if poolN == 0 {
		return nil, errs.Invalidf("strip: no held-out inputs to overlay")
	}
	per := max(1, t.BatchSize/overlays) // inputs per task
	tasks := (n + per - 1) / per
	workers := max(1, min(t.Pool.Workers, tasks))
	runners := make([]*runtime.Runner, workers)
	bufs := make([][]float32, workers)
	pcgs := make([]*rand.PCG, workers)
	rngs := make([]*rand.Rand, workers)
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
			return nil, err
		}
		bufs[w] = make([]float32, per*overlays*size)
		pcgs[w] = rand.NewPCG(0, 0)
		rngs[w] = rand.New(pcgs[w])
	}
	probs := t.OutputKind == runtime.Probabilities
	h := make([]float64, n)
	wp := t.Pool
	wp.Workers = workers
	err := wp.Run(ctx, tasks, func(ctx context.Context, w, task int) error {
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
					dst[e] = 0.5*x[e] + 0.5*ov[e]
				}
			}
		}
		rows := (hi - lo) * overlays
		out, err := runners[w].Run(ctx, buf[:rows*size], rows)
		if err != nil {
			return err
		}
		k := t.Classes
		for i := lo; i < hi; i++ {
			var s float64
			for o := 0; o < overlays; o++ {
				row := (i-lo)*overlays + o
				s += entropy(out[row*k:(row+1)*k], probs)
			}
			h[i] = s / float64(overlays)
		}
		return nil
	})
	return h, err
}
