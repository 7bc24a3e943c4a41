package accuracy

import (
	"context"
	"math"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// DefaultBins is the number of equal-width confidence bins of the expected
// calibration error (Guo et al. 2017 use 15).
const DefaultBins = 15

// Config is the accuracy suite's config block.
type Config struct {
	// Bins is the number of equal-width confidence bins for ECE.
	Bins int `mapstructure:"bins"`
	// By reports accuracy by group (groups.go).
	groups.By `mapstructure:",squash"`
}

// Suite is the accuracy suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "accuracy" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// Decode implements suite.Suite.
func (s Suite) Decode(raw map[string]any) (any, error) {
	cfg := Config{Bins: DefaultBins}
	if err := suite.DecodeConfig(s.Name(), raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Bins < 1 || cfg.Bins > 1000 {
		return nil, errs.Invalidf("config suites.accuracy.bins: %d is outside 1..1000", cfg.Bins)
	}
	if err := cfg.By.Validate(s.Name()); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Metrics implements suite.Suite. The keys are documented in docs/metrics.md.
func (Suite) Metrics(cfgAny any, classes int) []string {
	keys := append(suite.ProportionKeys("accuracy"), "balanced_accuracy", "error_rate", "mean_confidence", "ece", "macro_precision")
	keys = append(keys, byKeys(cfgAny)...)
	for k := 0; k < classes; k++ {
		c := strconv.Itoa(k)
		keys = append(keys, "class."+c+".precision", "class."+c+".recall")
	}
	return keys
}

// counts are the sufficient statistics of one batch.
type counts struct {
	confusion []int64   // classes×classes, rows = true class
	binN      []int64   // samples per confidence bin
	binConf   []float64 // sum of confidence per bin
	binHit    []int64   // correct predictions per bin
	conf      float64   // sum of confidence
}

func newCounts(classes, bins int) *counts {
	return &counts{
		confusion: make([]int64, classes*classes),
		binN:      make([]int64, bins),
		binConf:   make([]float64, bins),
		binHit:    make([]int64, bins),
	}
}

func (c *counts) add(o *counts) {
	for i, v := range o.confusion {
		c.confusion[i] += v
	}
	for i := range c.binN {
		c.binN[i] += o.binN[i]
		c.binConf[i] += o.binConf[i]
		c.binHit[i] += o.binHit[i]
	}
	c.conf += o.conf
}

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	d := t.Data
	if d.Y == nil {
		return nil, errs.Invalidf("suite accuracy needs labels: set data.y (NumPy) or data.label (CSV)")
	}
	k := t.Classes
	probs := t.OutputKind == runtime.Probabilities
	parts := make([]*counts, t.Batches(d.N))
	// correct[i] is written by the one batch that holds sample i.
	correct := make([]bool, d.N)
	err := suite.ForEachBatch(ctx, t, d, func(b, lo, hi int, out []float32) error {
		parts[b] = batchCounts(out, d.Y, lo, hi, k, cfg.Bins, probs, correct[lo:hi]) // shard.go
		return nil
	})
	if err != nil && !suite.TimedOut(ctx, err) {
		return nil, err
	}
	return reduce(t, cfg, d, parts, correct, err) // shard.go
}

// IDColumn is the CSV column (kept with data.keep) whose values become the
// sample ids of the per-sample outcomes; without it, ids are row indices.
const IDColumn = "id"

// perSample packs per-sample correctness in the reports.PerSampleKey
// convention (outcome "correct"), for baseline comparisons.
func perSample(correct []bool, ids []string) map[string]any {
	bits := reports.NewBits(len(correct))
	for i, c := range correct {
		bits.Set(i, c)
	}
	return reports.PerSampleDetails(len(correct), ids, map[string]reports.Bits{"correct": bits})
}

// Top returns the arg max of a row of logits or probabilities and the
// softmax probability of that class (the row itself when probs is true).
// Ties go to the lowest index, as numpy's argmax does.
func Top(row []float32, probs bool) (int, float64) {
	best := stats.Argmax(row)
	if probs {
		return best, float64(row[best])
	}
	// max softmax = 1 / Σ_j exp(z_j − z_max): no overflow, exact 1 when
	// every other logit is far below.
	m := float64(row[best])
	var s float64
	for _, z := range row {
		s += math.Exp(float64(z) - m)
	}
	return best, 1 / s
}

// Bin returns the confidence bin of conf among n equal-width bins
// (k/n, (k+1)/n]; confidence 0 falls into bin 0.
func Bin(conf float64, n int) int {
	b := int(math.Ceil(conf*float64(n))) - 1
	return max(0, min(b, n-1))
}

func summarise(c *counts, k, n, bins int, level float64) *suite.Result {
	r := suite.NewResult()
	var correct int64
	rowSum := make([]int64, k)
	colSum := make([]int64, k)
	for y := 0; y < k; y++ {
		for p := 0; p < k; p++ {
			v := c.confusion[y*k+p]
			rowSum[y] += v
			colSum[p] += v
			if y == p {
				correct += v
			}
		}
	}
	acc := float64(correct) / float64(n)
	r.SetProportion("accuracy", int(correct), n, level)
	r.Set("error_rate", 1-acc, n > 0)
	r.Set("mean_confidence", c.conf/float64(n), n > 0)

	var ece float64
	binRows := make([]map[string]any, bins)
	for b := 0; b < bins; b++ {
		row := map[string]any{
			"lo": float64(b) / float64(bins), "hi": float64(b+1) / float64(bins),
			"count": c.binN[b], "accuracy": nil, "confidence": nil,
		}
		if c.binN[b] > 0 {
			bn := float64(c.binN[b])
			a, cf := float64(c.binHit[b])/bn, c.binConf[b]/bn
			ece += bn / float64(n) * math.Abs(a-cf)
			row["accuracy"], row["confidence"] = a, cf
		}
		binRows[b] = row
	}
	r.Set("ece", ece, n > 0)

	// Macro precision runs over the classes where precision is defined
	// (scikit-learn's zero_division=np.nan); balanced accuracy is the mean
	// recall over the classes present in the labels (scikit-learn's
	// balanced_accuracy_score).
	var recallSum, precSum float64
	var recallN, precN int
	perClass := make([]map[string]any, k)
	for j := 0; j < k; j++ {
		cj := strconv.Itoa(j)
		tp := c.confusion[j*k+j]
		pc := map[string]any{"class": j, "support": rowSum[j], "predicted": colSum[j], "precision": nil, "recall": nil}
		if colSum[j] > 0 {
			p := float64(tp) / float64(colSum[j])
			precSum += p
			precN++
			pc["precision"] = p
			r.Set("class."+cj+".precision", p, true)
		} else {
			r.Set("class."+cj+".precision", 0, false)
		}
		if rowSum[j] > 0 {
			rc := float64(tp) / float64(rowSum[j])
			recallSum += rc
			recallN++
			pc["recall"] = rc
			r.Set("class."+cj+".recall", rc, true)
		} else {
			r.Set("class."+cj+".recall", 0, false)
		}
		perClass[j] = pc
	}
	r.Set("macro_precision", precSum/float64(precN), precN > 0)
	r.Set("balanced_accuracy", recallSum/float64(recallN), recallN > 0)

	confusion := make([][]int64, k)
	for y := range confusion {
		confusion[y] = c.confusion[y*k : (y+1)*k]
	}
	r.Details["samples"] = n
	r.Details["per_class"] = perClass
	r.Details["confusion_matrix"] = confusion
	r.Details["calibration_bins"] = binRows
	return r
}
