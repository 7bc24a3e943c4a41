package differential

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The suite's work units are the batches of runtime.batch_size evaluation
// samples, in data order (docs/sharding.md): a unit runs the model and
// every variant on its samples. Every shard makes (or opens) the variants
// alike; their details and warnings are the common part. An evasion block
// does not shard (ShardRefusal).

// shardCommon is what every shard computes alike: the sample count and,
// per variant in config order, its details (the file loaded, its SHA-256,
// provider, quantisation or conversion report) and warnings.
type shardCommon struct {
	N        int             `json:"n"`
	Variants []variantCommon `json:"variants"`
}

// variantCommon is one variant's part of shardCommon.
type variantCommon struct {
	Details  map[string]json.RawMessage `json:"details"`
	Warnings []string                   `json:"warnings"`
}

// shardUnit is one batch's result: its samples' labels and the model's
// class, per variant (config order) each sample's class and max |Δp|, and
// the values of the by columns and of the id column (IDColumn, when kept).
type shardUnit struct {
	Y         []int64             `json:"y"`
	Reference []int32             `json:"reference"`
	Variant   [][]int32           `json:"variant"`
	ProbDelta []suite.Floats      `json:"prob_delta"`
	By        map[string][]string `json:"by,omitempty"`
	IDs       []string            `json:"ids,omitempty"`
}

// ShardRefusal implements suite.ShardRefuser: an evasion block does not
// shard (its attacks on the model and every variant run over all samples
// at the attack batch size).
func (Suite) ShardRefusal(cfgAny any) string {
	if cfgAny.(Config).evasion != nil {
		return "its evasion block does not shard; only the variants' comparison does"
	}
	return ""
}

// checkData is Run's and RunShard's check of the evaluation data.
func checkData(cfg Config, t *suite.Target) error {
	d := t.Data
	if d.Y == nil {
		return errs.Invalidf("suite differential needs labels: set data.y (NumPy) or data.label (CSV)")
	}
	if d.N == 0 {
		return errs.Invalidf("suite differential: the data has no samples")
	}
	if cfg.evasion != nil && !(t.Range[1]-t.Range[0] > 0) {
		return errs.Invalidf("suite differential: its evasion block needs data.range, the valid input domain (for example [0, 1]); it is unset or empty (%v)", t.Range)
	}
	return nil
}

// RunShard implements suite.Sharder: it opens every variant, then for
// each batch of sh's block that st does not hold runs the model and every
// variant on the batch and saves the batch's classes and probability
// deltas. Batches run a few at a time (one per worker), so a killed run
// loses at most those.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	if cfg.evasion != nil {
		return 0, nil, errs.Invalidf("suite differential: %s", s.ShardRefusal(cfg))
	}
	if err := checkData(cfg, t); err != nil {
		return 0, nil, err
	}
	d := t.Data
	if _, err := partition(cfg, d); err != nil {
		return 0, nil, err
	}
	dir, done, err := outDir(t)
	if err != nil {
		return 0, nil, err
	}
	defer done()
	cm := shardCommon{N: d.N}
	targets := make([]*suite.Target, len(cfg.Variants))
	for i, v := range cfg.Variants {
		op, err := open(ctx, t, cfg, i, dir)
		if err != nil {
			return 0, nil, fmt.Errorf("variant %s: %w", v.Name, err)
		}
		defer op.sess.Close()
		tv := *t
		tv.Session, tv.Model, tv.OutputKind = op.sess, op.sess.Model(), op.sess.OutputKind()
		tv.Seed = suite.DeriveSeed(t.Seed, "variant/"+v.Name)
		targets[i] = &tv
		// Each detail as JSON, so that the merge writes it as Run does
		// (a struct's fields in their order, not sorted as a map's).
		det := make(map[string]json.RawMessage, len(op.details))
		for k, v := range op.details {
			if det[k], err = json.Marshal(v); err != nil {
				return 0, nil, fmt.Errorf("variant %s: details: %w", cfg.Variants[i].Name, err)
			}
		}
		cm.Variants = append(cm.Variants, variantCommon{Details: det, Warnings: nonNil(op.warnings)})
	}
	common, err := json.Marshal(cm)
	if err != nil {
		return 0, nil, err
	}
	units := t.Batches(d.N)
	lo, hi := sh.Range(units)
	pending := suite.Pending(st, lo, hi)
	step := max(1, t.Pool.Workers)
	for len(pending) > 0 {
		chunk := pending[:min(step, len(pending))]
		pending = pending[len(chunk):]
		us := make(map[int]*shardUnit, len(chunk))
		for _, b := range chunk {
			blo, bhi := t.BatchRange(b, d.N)
			u := &shardUnit{Y: d.Y[blo:bhi], Reference: make([]int32, bhi-blo)}
			if cfg.By.Enabled() {
				u.By = map[string][]string{}
				for _, col := range cfg.By.Columns {
					u.By[col] = d.Columns[col][blo:bhi]
				}
			}
			if ids, ok := d.Columns[IDColumn]; ok {
				u.IDs = ids[blo:bhi]
			}
			us[b] = u
		}
		// The model's probabilities of the chunk, then each variant's.
		ref := make(map[int][]float64, len(chunk))
		for _, r := range suite.Runs(chunk) {
			err := batchProbs(ctx, t, d, r, func(b int, p []float64) {
				ref[b] = p
				k := t.Classes
				for i := range us[b].Reference {
					us[b].Reference[i] = int32(stats.Argmax(p[i*k : (i+1)*k]))
				}
			})
			if err != nil {
				return 0, nil, err
			}
		}
		for vi, tv := range targets {
			for _, r := range suite.Runs(chunk) {
				err := batchProbs(ctx, tv, d, r, func(b int, p []float64) {
					k := t.Classes
					n := len(us[b].Y)
					o := newOutcomes(n, us[b].Y)
					for i := range n {
						o.set(i, ref[b][i*k:(i+1)*k], p[i*k:(i+1)*k])
					}
					us[b].Variant = append(us[b].Variant, o.Variant)
					us[b].ProbDelta = append(us[b].ProbDelta, o.ProbDelta)
				})
				if err != nil {
					return 0, nil, fmt.Errorf("variant %s: %w", cfg.Variants[vi].Name, err)
				}
			}
		}
		for _, b := range chunk {
			if err := suite.SaveUnit(st, b, us[b]); err != nil {
				return 0, nil, err
			}
		}
	}
	return units, common, nil
}

// batchProbs runs t's session over batches [r[0], r[1]) of d and calls
// fn, one batch at a time and in no particular order, with each batch's
// probabilities (softmax of logits), rows×classes.
func batchProbs(ctx context.Context, t *suite.Target, d *data.Dataset, r [2]int, fn func(b int, p []float64)) error {
	k := t.Classes
	isProb := t.OutputKind == runtime.Probabilities
	var results = make([][]float64, r[1]-r[0])
	err := suite.ForBatches(ctx, t, d, r[0], r[1], func(b, lo, hi int, o []float32) error {
		p := make([]float64, (hi-lo)*k)
		for i := range hi - lo {
			probs(p[i*k:(i+1)*k], o[i*k:(i+1)*k], isProb)
		}
		results[b-r[0]] = p
		return nil
	})
	if err != nil {
		return err
	}
	for j, p := range results {
		fn(r[0]+j, p)
	}
	return nil
}

// Merge implements suite.Sharder: it joins the batches' outcomes in batch
// order and reduces them as Run does (agreement, McNemar, probability
// deltas, by-group figures, the flips CSVs written to the merge's output
// folder).
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("differential: shard common part: %w", err)
	}
	nv := len(cfg.Variants)
	if len(cm.Variants) != nv {
		return nil, fmt.Errorf("differential: shard common part has %d variants, the config %d", len(cm.Variants), nv)
	}
	if nb := t.Batches(cm.N); len(results) != nb {
		return nil, fmt.Errorf("differential: %d units for %d samples in batches of %d (want %d)", len(results), cm.N, t.BatchSize, nb)
	}
	d := &data.Dataset{N: cm.N, Y: make([]int64, 0, cm.N), Columns: map[string][]string{}}
	ref := make([]int32, 0, cm.N)
	vars := make([][]int32, nv)
	deltas := make([][]float64, nv)
	var ids []string
	for b, raw := range results {
		var u shardUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("differential: unit %d: %w", b, err)
		}
		lo, hi := t.BatchRange(b, cm.N)
		n := hi - lo
		if len(u.Y) != n || len(u.Reference) != n || len(u.Variant) != nv || len(u.ProbDelta) != nv || (u.IDs != nil && len(u.IDs) != n) {
			return nil, fmt.Errorf("differential: unit %d: %d labels, %d classes, %d/%d variants, %d ids (want %d samples, %d variants)",
				b, len(u.Y), len(u.Reference), len(u.Variant), len(u.ProbDelta), len(u.IDs), n, nv)
		}
		d.Y = append(d.Y, u.Y...)
		ref = append(ref, u.Reference...)
		for v := range nv {
			if len(u.Variant[v]) != n || len(u.ProbDelta[v]) != n {
				return nil, fmt.Errorf("differential: unit %d: variant %s has %d classes and %d deltas for %d samples", b, cfg.Variants[v].Name, len(u.Variant[v]), len(u.ProbDelta[v]), n)
			}
			vars[v] = append(vars[v], u.Variant[v]...)
			deltas[v] = append(deltas[v], u.ProbDelta[v]...)
		}
		if u.IDs != nil {
			ids = append(ids, u.IDs...)
		}
		for _, col := range cfg.By.Columns {
			v := u.By[col]
			if len(v) != n {
				return nil, fmt.Errorf("differential: unit %d: by column %s has %d values for %d samples", b, col, len(v), n)
			}
			d.Columns[col] = append(d.Columns[col], v...)
		}
	}
	if ids != nil && len(ids) != cm.N {
		return nil, fmt.Errorf("differential: %d sample ids for %d samples", len(ids), cm.N)
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
	r := suite.NewResult()
	refCorrect := 0
	for i, y := range d.Y {
		if int64(ref[i]) == y {
			refCorrect++
		}
	}
	r.SetProportion("accuracy", refCorrect, cm.N, t.ConfidenceLevel)
	variants := make([]map[string]any, 0, nv)
	for v, vc := range cm.Variants {
		r.Warnings = append(r.Warnings, vc.Warnings...)
		o := &Outcomes{Reference: ref, Variant: vars[v], Label: d.Y, ProbDelta: deltas[v]}
		det := make(map[string]any, len(vc.Details)+2)
		for k, raw := range vc.Details {
			det[k] = raw
		}
		if err := reduceVariant(r, t, cfg, part, cfg.Variants[v].Name, o, ids, dir, det); err != nil {
			return nil, err
		}
		variants = append(variants, det)
	}
	r.Details["variants"] = variants
	return r, nil
}

// nonNil returns s, or an empty slice for nil (so that every shard's
// common part reads alike).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
