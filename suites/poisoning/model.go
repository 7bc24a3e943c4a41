package poisoning

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// STRIP and Neural Cleanse defaults.
const (
	DefaultSTRIPOverlays  = 20   // Gao et al.'s and ART's N: overlays auto's pilot
	DefaultSTRIPSamples   = 500  // inputs scored, per set
	DefaultSTRIPFRR       = 0.01 // the paper's false-rejection rate
	DefaultSTRIPAlpha     = 0.5  // the overlay's weight: Gao et al.'s superimposition, ART's combine_images
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
	if !has("model.strip.samples") {
		s.Samples = DefaultSTRIPSamples // an explicit 0 scores a third of the data per part
	}
	if !has("model.strip.frr") {
		s.FRR = DefaultSTRIPFRR
	}
	if err := decodeSTRIPAlpha(s, has("model.strip.alpha")); err != nil {
		return err
	}
	if !has("model.strip.score") {
		s.Score = STRIPScoreMean
	}
	if s.Score != STRIPScoreMean && s.Score != STRIPScoreMixture {
		return errs.Invalidf(f+"strip.score: %q: want %s or %s", s.Score, STRIPScoreMean, STRIPScoreMixture)
	}
	if err := decodeSTRIPOverlays(s, has("model.strip.overlays")); err != nil {
		return err
	}
	switch {
	case s.Samples < 0:
		return errs.Invalidf(f+"strip.samples: %d: must be at least 0 (0: a third of the data per scored part)", s.Samples)
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
			keys = append(keys, "strip.auc")
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
	if err := checkModel(t, cfg); err != nil {
		return err
	}
	details := map[string]any{}
	var triggered *data.Dataset
	var trig *Compiled
	if cfg.Trigger != nil {
		var err error
		if trig, triggered, err = backdoorInputs(t, cfg); err != nil {
			return err
		}
		hit, err := countPredicted(ctx, t, triggered, func(int) int64 { return int64(*cfg.Target) })
		if err != nil {
			return fmt.Errorf("backdoor attack success rate: %w", err)
		}
		setBackdoor(t, cfg, r, details, hit, triggered.N)
	}
	if hasMethod(cfg.Methods, MethodSTRIP) {
		sd, hist, err := runSTRIP(ctx, t, cfg.STRIP, trig, cfg.Target, r)
		if err != nil {
			return fmt.Errorf("strip: %w", err)
		}
		details[MethodSTRIP] = sd
		r.Details["histograms"] = map[string]any{"strip.entropy": hist}
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

// backdoorInputs compiles the model block's trigger and returns it with
// the triggered evaluation inputs (Triggered: every input not of the
// target class, labelled as the target).
func backdoorInputs(t *suite.Target, cfg *ModelConfig) (*Compiled, *data.Dataset, error) {
	d := t.Data
	if d.Y == nil {
		return nil, nil, errs.Invalidf("suites.poisoning.model.trigger needs labels in the evaluation data (data.y)")
	}
	c, err := cfg.Trigger.Compile("config suites.poisoning.model.trigger", d.SampleShape, t.Range[0], t.Range[1], t.BaseDir)
	if err != nil {
		return nil, nil, err
	}
	return c, Triggered(d, c, *cfg.Target), nil
}

// setBackdoor sets the attack success rate, hit of n triggered inputs
// classified as the target, and its details.
func setBackdoor(t *suite.Target, cfg *ModelConfig, r *suite.Result, details map[string]any, hit, n int) {
	r.SetProportion("backdoor.attack_success_rate", hit, n, t.ConfidenceLevel)
	details["backdoor"] = map[string]any{"target": *cfg.Target, "triggered_inputs": n, "classified_as_target": hit}
}

// checkModel checks the model block against t's data and classes
// (errs.Invalid naming the key): runModel's and RunShard's checks.
func checkModel(t *suite.Target, cfg *ModelConfig) error {
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
