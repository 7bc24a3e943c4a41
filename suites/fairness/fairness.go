package fairness

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Suite is the fairness suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "fairness" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// CheckData implements suite.DataChecker: the suite needs labels, a
// classifier, CSV data whose kept columns (data.keep) hold the sensitive
// attributes, and a favourable class that occurs in the labels. The engine
// calls it before any suite runs, so a mismatch is a config error (exit 2)
// and no report is written.
// DataColumns implements suite.ColumnUser: the sensitive columns and the
// counterfactual attributes.
func (Suite) DataColumns(cfgAny any) []string {
	cfg := cfgAny.(Config)
	cols := append([]string{}, cfg.Sensitive...)
	for _, cf := range cfg.Counterfactual {
		if !slices.Contains(cols, cf.Attribute) {
			cols = append(cols, cf.Attribute)
		}
	}
	return cols
}

func (Suite) CheckData(cfgAny any, d *data.Dataset, classes int) error {
	cfg := cfgAny.(Config)
	if d.Y == nil {
		return errs.Invalidf("suite fairness needs labels: set data.label (CSV) or data.y")
	}
	if classes < 2 {
		return errs.Invalidf("suite fairness needs a classifier with at least 2 outputs, the model has %d", classes)
	}
	if d.Features == nil && d.Columns == nil {
		return errs.Invalidf("suite fairness needs CSV data (data.csv) with the sensitive columns %s; NumPy data (data.x) has no columns", strings.Join(cfg.Sensitive, ", "))
	}
	if err := groups.CheckColumns("config suites.fairness.sensitive", cfg.Sensitive, "", d); err != nil {
		return err
	}
	pos, posName, err := positiveClass(cfg.PositiveLabel, d, classes)
	if err != nil {
		return err
	}
	if !slices.Contains(d.Y, int64(pos)) {
		return errs.Invalidf("config suites.fairness.positive_label: class %s does not occur in the labels of the data", posName)
	}
	return nil
}

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	d := t.Data
	k := t.Classes
	if err := s.CheckData(cfg, d, k); err != nil {
		return nil, err
	}
	cols := make([][]string, len(cfg.Sensitive))
	for i, name := range cfg.Sensitive {
		cols[i] = d.Columns[name]
	}
	pos, posName, err := positiveClass(cfg.PositiveLabel, d, k)
	if err != nil {
		return nil, err
	}
	part, err := NewPartition(cfg.Sensitive, cols, cfg.Intersections)
	if err != nil {
		return nil, err
	}

	dec := decider{k: k, pos: pos, probs: t.OutputKind == runtime.Probabilities, thr: -1}
	if cfg.Threshold != nil {
		dec.thr = *cfg.Threshold
	}
	in := &Input{Classes: k, Positive: pos, Y: d.Y, Pred: make([]int32, d.N), Score: make([]float64, d.N)}
	// finished[b] is written by the one worker that ran batch b.
	finished := make([]bool, t.Batches(d.N))
	err = suite.ForEachBatch(ctx, t, d, func(b, lo, hi int, out []float32) error {
		for i := lo; i < hi; i++ {
			in.Pred[i], in.Score[i] = dec.decide(out[(i-lo)*k : (i-lo+1)*k])
		}
		finished[b] = true
		return nil
	})
	if err != nil {
		if !suite.TimedOut(ctx, err) {
			return nil, err
		}
		return partial(t, cfg, in, cols, finished, pos, posName, err)
	}
	res, err := compute(t, cfg, in, part, pos, posName) // shard.go
	if err != nil {
		return nil, err
	}

	attrs := res.Details["attributes"].(map[string]any)
	for i, cf := range cfg.Counterfactual {
		det, warn, err := counterfactual(ctx, t, i, cf, dec, in.Pred, res)
		if err != nil {
			if !suite.TimedOut(ctx, err) {
				return nil, err
			}
			// The group figures are whole; the flip tests that finished
			// are in, the one the deadline stopped is not.
			done := []string{}
			for _, f := range cfg.Counterfactual[:i] {
				done = append(done, f.Attribute)
			}
			res.SetTimedOut(d.N, d.N, map[string]any{"counterfactual_finished": done, "stopped_in": cf.Attribute + ".counterfactual"})
			return res, err
		}
		attrs[cf.Attribute].(map[string]any)["counterfactual"] = det
		res.Warnings = append(res.Warnings, warn...)
	}
	return res, nil
}

// partial is Run's result when runtime.timeout stopped the evaluation
// pass (stop): the group figures of a full run on the rows of the batches
// that finished (compute over those rows, in row order), without the flip
// tests, marked with details.timed_out. It returns no figures when no
// batch finished or those rows make no figures (compute's error).
func partial(t *suite.Target, cfg Config, in *Input, cols [][]string, finished []bool, pos int, posName string, stop error) (*suite.Result, error) {
	n := len(in.Y)
	sub := &Input{Classes: in.Classes, Positive: in.Positive}
	subCols := make([][]string, len(cols))
	for b, ok := range finished {
		if !ok {
			continue
		}
		lo, hi := t.BatchRange(b, n)
		sub.Y = append(sub.Y, in.Y[lo:hi]...)
		sub.Pred = append(sub.Pred, in.Pred[lo:hi]...)
		sub.Score = append(sub.Score, in.Score[lo:hi]...)
		for j, c := range cols {
			subCols[j] = append(subCols[j], c[lo:hi]...)
		}
	}
	if len(sub.Y) == 0 {
		return nil, stop
	}
	part, err := NewPartition(cfg.Sensitive, subCols, cfg.Intersections)
	if err != nil {
		return nil, stop
	}
	res, err := compute(t, cfg, sub, part, pos, posName)
	if err != nil {
		return nil, stop
	}
	res.SetTimedOut(len(sub.Y), n, nil)
	return res, stop
}

// positiveClass resolves positive_label to a class id and its name.
func positiveClass(label string, d *data.Dataset, k int) (int, string, error) {
	if label == "" {
		if k != 2 {
			return 0, "", errs.Invalidf("config suites.fairness.positive_label: required for a %d-class model (the favourable class)", k)
		}
		if len(d.LabelNames) == 1 {
			return 0, "", errs.Invalidf("config suites.fairness.positive_label: the labels hold a single class (%q); the favourable class is missing", d.LabelNames[0])
		}
		if d.LabelNames != nil {
			return 1, strconv.Quote(d.LabelNames[1]), nil
		}
		return 1, "1", nil
	}
	if d.LabelNames != nil {
		for i, n := range d.LabelNames {
			if n == label {
				return i, strconv.Quote(n), nil
			}
		}
		return 0, "", errs.Invalidf("config suites.fairness.positive_label: %q is not a label of the data (labels: %s)", label, strings.Join(d.LabelNames, ", "))
	}
	c, err := strconv.Atoi(strings.TrimSpace(label))
	if err != nil || c < 0 || c >= k {
		return 0, "", errs.Invalidf("config suites.fairness.positive_label: %q is not a class id of the %d-class model (0..%d)", label, k, k-1)
	}
	return c, strconv.Itoa(c), nil
}

// decider turns a model output row into a prediction and the positive
// class probability.
type decider struct {
	k, pos int
	probs  bool    // the row holds probabilities, else logits
	thr    float64 // threshold on the positive probability; < 0: arg max
}

// decide returns the predicted class and the positive-class probability
// (the row itself for probabilities, else its softmax, in float64). Arg
// max ties go to the lowest index (numpy). With a threshold, the positive
// class is predicted when its probability is at least the threshold, else
// the arg max of the other classes.
func (c decider) decide(row []float32) (int32, float64) {
	var score float64
	if c.probs {
		score = float64(row[c.pos])
	} else {
		m := float64(row[0])
		for _, z := range row[1:] {
			m = math.Max(m, float64(z))
		}
		var s float64
		for _, z := range row {
			s += math.Exp(float64(z) - m)
		}
		score = math.Exp(float64(row[c.pos])-m) / s
	}
	if c.thr >= 0 {
		if score >= c.thr {
			return int32(c.pos), score
		}
		best := -1
		for j, z := range row {
			if j != c.pos && (best < 0 || z > row[best]) {
				best = j
			}
		}
		return int32(best), score
	}
	return int32(stats.Argmax(row)), score
}
