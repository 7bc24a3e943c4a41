package differential

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/groups"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/evasion"
)

// Suite is the differential suite.
type Suite struct{}

// Name implements suite.Suite.
func (Suite) Name() string { return "differential" }

// Version implements suite.Suite.
func (Suite) Version() string { return "1" }

// Folder is the folder under the run's output folder where the suite
// writes the variants it makes and the flips CSVs.
const Folder = "differential"

// outputs runs t's session over d and returns every sample's
// probabilities (softmax of logits), n×classes.
func outputs(ctx context.Context, t *suite.Target, d *data.Dataset) ([]float64, error) {
	k := t.Classes
	out := make([]float64, d.N*k)
	isProb := t.OutputKind == runtime.Probabilities
	err := suite.ForEachBatch(ctx, t, d, func(_, lo, hi int, o []float32) error {
		for i := lo; i < hi; i++ {
			probs(out[i*k:(i+1)*k], o[(i-lo)*k:(i-lo+1)*k], isProb)
		}
		return nil
	})
	return out, err
}

// Run implements suite.Suite.
func (s Suite) Run(ctx context.Context, t *suite.Target, cfgAny any) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	d := t.Data
	if err := checkData(cfg, t); err != nil {
		return nil, err
	}
	part, err := partition(cfg, d)
	if err != nil {
		return nil, err
	}
	dir, done, err := outDir(t)
	if err != nil {
		return nil, err
	}
	defer done()
	k := t.Classes
	ref, err := outputs(ctx, t, d)
	if err != nil {
		return nil, err
	}
	r := suite.NewResult()
	refCorrect := 0
	for i := 0; i < d.N; i++ {
		if int64(stats.Argmax(ref[i*k:(i+1)*k])) == d.Y[i] {
			refCorrect++
		}
	}
	r.SetProportion("accuracy", refCorrect, d.N, t.ConfidenceLevel)

	var crafted []evasion.Crafted
	var model attackRows
	if cfg.evasion != nil {
		var mode string
		if crafted, mode, err = evasion.Craft(ctx, t, *cfg.evasion); err != nil {
			return nil, fmt.Errorf("evasion on the model: %w", err)
		}
		model = rowsOf(crafted, mode, straightThrough(t, mode))
		reduceModelAttacks(r, t, cfg, model, d.N)
	}

	variants := make([]map[string]any, 0, len(cfg.Variants))
	for i, v := range cfg.Variants {
		// What r holds before the variant, to take its partial figures
		// back out if runtime.timeout stops it.
		metrics, nu, nw := maps.Clone(r.Metrics), len(r.Undefined), len(r.Warnings)
		det, err := s.variant(ctx, t, cfg, part, i, dir, ref, crafted, model, r)
		if err != nil {
			err = fmt.Errorf("variant %s: %w", v.Name, err)
			if !suite.TimedOut(ctx, err) || i == 0 {
				return nil, err
			}
			// Stopped by runtime.timeout: the figures of a run of the
			// variants that finished.
			r.Metrics, r.Undefined, r.Warnings = metrics, r.Undefined[:nu], r.Warnings[:nw]
			names := make([]string, i)
			for j := range names {
				names[j] = cfg.Variants[j].Name
			}
			r.Details["variants"] = variants
			r.SetTimedOut(d.N, d.N, map[string]any{"variants_finished": names, "stopped_in": v.Name})
			return r, err
		}
		variants = append(variants, det)
	}
	r.Details["variants"] = variants
	return r, nil
}

// variant runs variant i and writes its metrics into r; it returns its
// details.
func (s Suite) variant(ctx context.Context, t *suite.Target, cfg Config, part *groups.Partition, i int, dir string, ref []float64, crafted []evasion.Crafted, model attackRows, r *suite.Result) (map[string]any, error) {
	v := cfg.Variants[i]
	d := t.Data
	k := t.Classes
	op, err := open(ctx, t, cfg, i, dir)
	if err != nil {
		return nil, err
	}
	defer op.sess.Close()
	r.Warnings = append(r.Warnings, op.warnings...)
	tv := *t
	tv.Session, tv.Model, tv.OutputKind = op.sess, op.sess.Model(), op.sess.OutputKind()
	tv.Seed = suite.DeriveSeed(t.Seed, "variant/"+v.Name)
	out, err := outputs(ctx, &tv, d)
	if err != nil {
		return nil, err
	}
	o := newOutcomes(d.N, d.Y)
	for j := 0; j < d.N; j++ {
		o.set(j, ref[j*k:(j+1)*k], out[j*k:(j+1)*k])
	}
	det := op.details
	if err := reduceVariant(r, t, cfg, part, v.Name, o, d.Columns[IDColumn], dir, det); err != nil {
		return nil, err
	}
	if len(crafted) == 0 {
		return det, nil
	}
	// transfer: the model's adversarial points replayed on the variant,
	// in the attack batches (a sharded run replays each attack batch
	// alone: the same batches)
	ab := evasion.AttackBatchSize(t, *cfg.evasion)
	replay := make([][]int32, len(crafted))
	for ci, c := range crafted {
		if replay[ci], err = replayClasses(ctx, &tv, ab, d, c.Adv, d.N); err != nil {
			return nil, fmt.Errorf("replaying %s: %w", c.Prefix, err)
		}
	}
	// the same attacks on the variant itself
	own, mode, err := evasion.Craft(ctx, &tv, *cfg.evasion)
	if err != nil {
		return nil, fmt.Errorf("evasion on the variant: %w", err)
	}
	reduceAttacks(r, t, cfg, part, v.Name, d.Y, o.Variant, model, replay, rowsOf(own, mode, straightThrough(&tv, mode)), det)
	return det, nil
}

// attackRows are an evasion block's per-sample outcomes on one model, per
// attack and eps (evasion.Craft's order, Config.prefixes), over every
// sample: whether the attack fooled it and whether it stayed robust; and
// the gradient mode the attacks ran with, with the operators its exact
// gradients took straight through (straightThrough).
type attackRows struct {
	mode            string
	straight        []string
	success, robust [][]bool
}

// rowsOf returns Craft's outcomes as attackRows.
func rowsOf(crafted []evasion.Crafted, mode string, straight []string) attackRows {
	a := attackRows{mode: mode, straight: straight}
	for _, c := range crafted {
		a.success = append(a.success, c.Success)
		a.robust = append(a.robust, c.Robust)
	}
	return a
}

// reduceModelAttacks is Run's and Merge's reduction of the evasion block
// on the model: its gradient mode (and the operators its exact gradients
// took straight through) into details, each attack's robust accuracy over
// the n samples.
func reduceModelAttacks(r *suite.Result, t *suite.Target, cfg Config, model attackRows, n int) {
	r.Details["gradient_mode"] = model.mode
	if model.straight != nil {
		r.Details["straight_through"] = model.straight
	}
	for j, p := range cfg.prefixes() {
		r.SetProportion(p+".robust_accuracy", count(model.robust[j]), n, t.ConfidenceLevel)
	}
}

// reduceAttacks is Run's and Merge's reduction of the evasion block on
// variant name: the transfer rate of the model's adversarial points
// (replay: the variant's class on each, per attack) over the samples the
// attack fooled on the model and the variant classifies right (variant:
// its clean classes), the variant's own robust accuracy (own) and its
// delta to the model's, by group; the variant's gradient mode (and the
// operators its exact gradients took straight through) into det, and a
// warning when it differs from the model's.
func reduceAttacks(r *suite.Result, t *suite.Target, cfg Config, part *groups.Partition, name string, y []int64, variant []int32, model attackRows, replay [][]int32, own attackRows, det map[string]any) {
	p := name + "."
	n := len(y)
	prefixes := cfg.prefixes()
	eligible, fools := make([][]bool, len(prefixes)), make([][]bool, len(prefixes))
	for ci, c := range prefixes {
		eligible[ci], fools[ci] = make([]bool, n), make([]bool, n)
		fooled, m := 0, 0
		for j := range n {
			eligible[ci][j] = model.success[ci][j] && int64(variant[j]) == y[j]
			if !eligible[ci][j] {
				continue
			}
			m++
			if int64(replay[ci][j]) != y[j] {
				fooled++
				fools[ci][j] = true
			}
		}
		r.SetProportion(p+c+".transfer_rate", fooled, m, t.ConfidenceLevel)
	}
	det["gradient_mode"] = own.mode
	if own.straight != nil {
		det["straight_through"] = own.straight
	}
	if ref := r.Details["gradient_mode"]; own.mode != ref {
		r.Warnings = append(r.Warnings, fmt.Sprintf("differential: variant %s was attacked with %s gradients and the model with %s ones, so %s.*.robust_accuracy_delta also measures the change of gradient (estimated gradients on a quantised graph may overstate its robustness); %s.*.transfer_rate does not depend on it", name, own.mode, ref, name, name))
	}
	for j, c := range prefixes {
		rv, rr := count(own.robust[j]), count(model.robust[j])
		r.SetProportion(p+c+".robust_accuracy", rv, n, t.ConfidenceLevel)
		r.Set(p+c+".robust_accuracy_delta", float64(rv-rr)/float64(n), true)
		byGroupAttack(r, t, cfg, part, p+c, own.robust[j], model.robust[j], eligible[j], fools[j])
	}
}

// replayClasses runs t's session on the n points adv (d's samples'
// shape) in batches of ab and returns each point's class.
func replayClasses(ctx context.Context, t *suite.Target, ab int, d *data.Dataset, adv []float32, n int) ([]int32, error) {
	ta := *t
	ta.BatchSize = ab
	da := *d
	da.X, da.N = adv, n
	k := t.Classes
	out := make([]int32, n)
	err := suite.ForEachBatch(ctx, &ta, &da, func(_, lo, hi int, o []float32) error {
		for i := lo; i < hi; i++ {
			out[i] = int32(stats.Argmax(o[(i-lo)*k : (i-lo+1)*k]))
		}
		return nil
	})
	return out, err
}

// reduceVariant is Run's and Merge's reduction of one variant's
// outcomes: its metrics and by-group figures into r, its flips CSV
// written to dir, and its name and the CSV's path (relative to the output
// folder, docs/metrics/differential.md) into det.
func reduceVariant(r *suite.Result, t *suite.Target, cfg Config, part *groups.Partition, name string, o *Outcomes, ids []string, dir string, det map[string]any) error {
	p := name + "."
	o.Tally(nil).set(r, p, t.ConfidenceLevel)
	byGroup(r, t, cfg, part, p, o)
	det["name"] = name
	flips := filepath.Join(dir, name+"_flips.csv")
	if err := writeFlips(flips, o, ids); err != nil {
		return err
	}
	if t.OutDir != "" {
		det["flips_csv"] = filepath.Join(Folder, name+"_flips.csv")
	}
	return nil
}

// outDir returns the folder the suite writes to (t.OutDir's Folder) and a
// function that removes it when it is a temporary folder (no OutDir).
func outDir(t *suite.Target) (string, func(), error) {
	dir := filepath.Join(t.OutDir, Folder)
	done := func() {}
	if t.OutDir == "" {
		tmp, err := os.MkdirTemp("", "gauntlet-differential-")
		if err != nil {
			return "", nil, fmt.Errorf("differential: %w", err)
		}
		dir, done = tmp, func() { os.RemoveAll(tmp) }
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		done()
		return "", nil, fmt.Errorf("differential: %w", err)
	}
	return dir, done, nil
}

// straightThrough lists the operators of t's model whose gradient the
// exact-path attacks took straight through (autodiff.StraightThroughOps:
// QuantizeLinear and DequantizeLinear of an INT8 QDQ graph, a BPDA
// approximation); nil when there are none or the gradients were not exact.
func straightThrough(t *suite.Target, mode string) []string {
	if mode != evasion.ModeExact {
		return nil
	}
	return autodiff.StraightThroughOps(t.Model)
}

// IDColumn is the CSV column (kept with data.keep) written as the flips
// CSV's id; without it the CSV has the sample index only.
const IDColumn = "id"

// writeFlips writes the samples whose decision flips: sample index (0-based
// row of the evaluation data), its id when the data has one, the model's
// class, the variant's class and the label.
func writeFlips(path string, o *Outcomes, ids []string) error {
	return reports.WriteFileAtomic(path, func(w io.Writer) error {
		head := "sample,reference_class,variant_class,label\n"
		if ids != nil {
			head = "sample,id,reference_class,variant_class,label\n"
		}
		if _, err := io.WriteString(w, head); err != nil {
			return err
		}
		var b []byte
		for _, i := range o.Flips() {
			b = strconv.AppendInt(b[:0], int64(i), 10)
			if ids != nil {
				b = append(b, ',')
				b = append(b, csvField(ids[i])...)
			}
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(o.Reference[i]), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(o.Variant[i]), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, o.Label[i], 10)
			b = append(b, '\n')
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
}

// csvField quotes s when it holds a comma, quote or line break (RFC 4180).
func csvField(s string) string {
	for _, c := range s {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			q := []byte{'"'}
			for _, c := range []byte(s) {
				if c == '"' {
					q = append(q, '"')
				}
				q = append(q, c)
			}
			return string(append(q, '"'))
		}
	}
	return s
}

func count(v []bool) int {
	n := 0
	for _, b := range v {
		if b {
			n++
		}
	}
	return n
}
