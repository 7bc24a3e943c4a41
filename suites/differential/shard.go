package differential

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/evasion"
)

// The suite's work units are the batches of runtime.batch_size evaluation
// samples, in data order (docs/sharding.md): a unit runs the model and
// every variant on its samples. Every shard makes (or opens) the variants
// alike; their details and warnings are the common part. With an evasion
// block, these units are followed by one unit per attack batch
// (evasion.AttackBatchSize, which may differ from runtime.batch_size): the
// batch's attacks crafted on the model as the unsharded run crafts them
// (evasion.Crafter), replayed on every variant, and crafted on every
// variant. Attacks that do not run batch by batch are refused
// (ShardRefusal, evasion.NewCrafter).

// shardCommon is what every shard computes alike: the sample count, with
// an evasion block its attack batch, and, per variant in config order, its
// details (the file loaded, its SHA-256, provider, quantisation or
// conversion report) and warnings.
type shardCommon struct {
	N           int             `json:"n"`
	AttackBatch int             `json:"attack_batch,omitempty"`
	Variants    []variantCommon `json:"variants"`
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

// attackUnit is one attack batch's result: per attack and eps
// (Config.prefixes), each sample's outcome on the model (success and
// robust flags) and the gradient mode (with the operators its exact
// gradients took straight through); per variant (config order), its
// class on each of the model's adversarial points and its own attack's
// outcome.
type attackUnit struct {
	Mode     string          `json:"gradient_mode"`
	Straight []string        `json:"straight_through,omitempty"`
	Success  [][]bool        `json:"success"`
	Robust   [][]bool        `json:"robust"`
	Variants []variantAttack `json:"variants"`
}

// variantAttack is one variant's part of an attackUnit.
type variantAttack struct {
	Mode     string    `json:"gradient_mode"`
	Straight []string  `json:"straight_through,omitempty"`
	Replay   [][]int32 `json:"replay"`
	Robust   [][]bool  `json:"robust"`
}

// ShardRefusal implements suite.ShardRefuser: an evasion block with an
// attack that the evasion suite does not list as sharding (evasion's
// ShardRefusal names it) is refused; every attack is listed today.
func (Suite) ShardRefusal(cfgAny any) string {
	cfg := cfgAny.(Config)
	if cfg.evasion == nil {
		return ""
	}
	if why := (evasion.Suite{}).ShardRefusal(*cfg.evasion); why != "" {
		return "its evasion block: " + why
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
	if why := s.ShardRefusal(cfg); why != "" {
		return 0, nil, errs.Invalidf("suite differential: %s", why)
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
	na := 0 // attack batches
	if cfg.evasion != nil {
		cm.AttackBatch = evasion.AttackBatchSize(t, *cfg.evasion)
		na = (d.N + cm.AttackBatch - 1) / cm.AttackBatch
	}
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
	nb := t.Batches(d.N)
	units := nb + na
	lo, hi := sh.Range(units)
	pending := suite.Pending(st, lo, min(hi, nb))
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
	if err := runAttackUnits(ctx, t, cfg, targets, suite.Pending(st, max(lo, nb), hi), nb, st); err != nil {
		return 0, nil, err
	}
	return units, common, nil
}

// runAttackUnits crafts the evasion block's attack batches of the units
// pending (unit nb + b is attack batch b) on the model, replays the
// adversarial points on every variant (targets) and crafts the attacks on
// each variant, a few batches at a time (one per worker, so a killed run
// loses at most those), and saves each batch's outcomes.
func runAttackUnits(ctx context.Context, t *suite.Target, cfg Config, targets []*suite.Target, pending []int, nb int, st suite.UnitStore) error {
	if len(pending) == 0 {
		return nil
	}
	// Progress counts the attack units as they are saved (the attacks'
	// own passes, a few batches each, report nothing).
	progress, saved := t.Pool.Progress, 0
	quiet := func(t *suite.Target) *suite.Target {
		tq := *t
		tq.Pool.Progress = nil
		return &tq
	}
	model, err := evasion.NewCrafter(quiet(t), *cfg.evasion)
	if err != nil {
		return fmt.Errorf("differential: evasion on the model: %w", err)
	}
	defer model.Close()
	crafters := make([]*evasion.Crafter, len(targets))
	for i, tv := range targets {
		if crafters[i], err = evasion.NewCrafter(quiet(tv), *cfg.evasion); err != nil {
			return fmt.Errorf("differential: variant %s: evasion on the variant: %w", cfg.Variants[i].Name, err)
		}
		defer crafters[i].Close()
	}
	ab, n := model.BatchSize(), t.Data.N
	modelST := straightThrough(t, model.Mode())
	variantST := make([][]string, len(targets))
	for i, tv := range targets {
		variantST[i] = straightThrough(tv, crafters[i].Mode())
	}
	step := max(1, t.Pool.Workers)
	for _, r := range suite.Runs(pending) {
		for b0 := r[0] - nb; b0 < r[1]-nb; b0 += step {
			b1 := min(b0+step, r[1]-nb)
			lo, hi := b0*ab, min(b1*ab, n)
			crafted, err := model.CraftBatches(ctx, b0, b1)
			if err != nil {
				return fmt.Errorf("differential: evasion on the model: %w", err)
			}
			us := make([]attackUnit, b1-b0)
			for b := range us {
				blo, bhi := (b0+b)*ab-lo, min((b0+b+1)*ab, n)-lo
				u := &us[b]
				u.Mode, u.Straight = model.Mode(), modelST
				for _, c := range crafted {
					u.Success = append(u.Success, c.Success[blo:bhi])
					u.Robust = append(u.Robust, c.Robust[blo:bhi])
				}
				u.Variants = make([]variantAttack, len(targets))
			}
			for i, tv := range targets {
				name := cfg.Variants[i].Name
				for _, c := range crafted {
					cls, err := replayClasses(ctx, quiet(tv), ab, t.Data, c.Adv, hi-lo)
					if err != nil {
						return fmt.Errorf("differential: variant %s: replaying %s: %w", name, c.Prefix, err)
					}
					for b := range us {
						blo, bhi := (b0+b)*ab-lo, min((b0+b+1)*ab, n)-lo
						us[b].Variants[i].Replay = append(us[b].Variants[i].Replay, cls[blo:bhi])
					}
				}
				own, err := crafters[i].CraftBatches(ctx, b0, b1)
				if err != nil {
					return fmt.Errorf("differential: variant %s: evasion on the variant: %w", name, err)
				}
				for b := range us {
					blo, bhi := (b0+b)*ab-lo, min((b0+b+1)*ab, n)-lo
					va := &us[b].Variants[i]
					va.Mode, va.Straight = crafters[i].Mode(), variantST[i]
					for _, c := range own {
						va.Robust = append(va.Robust, c.Robust[blo:bhi])
					}
				}
			}
			for b := range us {
				if err := suite.SaveUnit(st, nb+b0+b, us[b]); err != nil {
					return err
				}
				if saved++; progress != nil {
					progress(saved, len(pending))
				}
			}
		}
	}
	return nil
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
	nb, na := t.Batches(cm.N), 0
	if cfg.evasion != nil {
		if cm.AttackBatch < 1 {
			return nil, fmt.Errorf("differential: shard common part has no attack batch for the evasion block")
		}
		na = (cm.N + cm.AttackBatch - 1) / cm.AttackBatch
	}
	if len(results) != nb+na {
		return nil, fmt.Errorf("differential: %d units for %d samples in batches of %d and %d attack batches of %d (want %d)", len(results), cm.N, t.BatchSize, na, cm.AttackBatch, nb+na)
	}
	attacks, results := results[nb:], results[:nb]
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
	var model attackRows
	var replays [][][]int32
	var owns []attackRows
	if cfg.evasion != nil {
		if model, replays, owns, err = mergeAttacks(cfg, attacks, nb, cm.AttackBatch, cm.N); err != nil {
			return nil, err
		}
		reduceModelAttacks(r, t, cfg, model, cm.N)
	}
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
		if cfg.evasion != nil {
			reduceAttacks(r, t, cfg, part, cfg.Variants[v].Name, d.Y, vars[v], model, replays[v], owns[v], det)
		}
		variants = append(variants, det)
	}
	r.Details["variants"] = variants
	return r, nil
}

// mergeAttacks joins the attack units (attack batches of ab of the n
// samples; unit nb + b is batch b) into the model's outcomes and, per
// variant, its classes on the model's adversarial points and its own
// outcomes, each over every sample. The units must agree on each model's
// gradient mode.
func mergeAttacks(cfg Config, units []json.RawMessage, nb, ab, n int) (attackRows, [][][]int32, []attackRows, error) {
	prefixes := cfg.prefixes()
	np, nv := len(prefixes), len(cfg.Variants)
	model := attackRows{success: make([][]bool, np), robust: make([][]bool, np)}
	replays := make([][][]int32, nv)
	owns := make([]attackRows, nv)
	for v := range nv {
		replays[v] = make([][]int32, np)
		owns[v] = attackRows{robust: make([][]bool, np)}
	}
	// same reports whether a unit's gradient mode and straight-through
	// operators are the first unit's.
	same := func(b int, name, mode string, straight []string, first *attackRows) error {
		if b == 0 {
			first.mode, first.straight = mode, straight
			return nil
		}
		if mode != first.mode || !slices.Equal(straight, first.straight) {
			return fmt.Errorf("differential: unit %d (attack batch %d): %s attacked with %s gradients (straight through %v), attack batch 0 with %s (%v): the shards attacked differently", nb+b, b, name, mode, straight, first.mode, first.straight)
		}
		return nil
	}
	for b, raw := range units {
		var u attackUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return model, nil, nil, fmt.Errorf("differential: unit %d: %w", nb+b, err)
		}
		m := min((b+1)*ab, n) - b*ab
		bad := len(u.Success) != np || len(u.Robust) != np || len(u.Variants) != nv
		for _, va := range u.Variants {
			bad = bad || len(va.Replay) != np || len(va.Robust) != np
		}
		if bad {
			return model, nil, nil, fmt.Errorf("differential: unit %d (attack batch %d): the outcomes do not cover the %d attacks on the model and %d variants", nb+b, b, np, nv)
		}
		if err := same(b, "the model", u.Mode, u.Straight, &model); err != nil {
			return model, nil, nil, err
		}
		for j := range np {
			if len(u.Success[j]) != m || len(u.Robust[j]) != m {
				return model, nil, nil, fmt.Errorf("differential: unit %d (%s, attack batch %d): %d success and %d robust flags for %d samples", nb+b, prefixes[j], b, len(u.Success[j]), len(u.Robust[j]), m)
			}
			model.success[j] = append(model.success[j], u.Success[j]...)
			model.robust[j] = append(model.robust[j], u.Robust[j]...)
		}
		for v, va := range u.Variants {
			name := cfg.Variants[v].Name
			if err := same(b, "variant "+name, va.Mode, va.Straight, &owns[v]); err != nil {
				return model, nil, nil, err
			}
			for j := range np {
				if len(va.Replay[j]) != m || len(va.Robust[j]) != m {
					return model, nil, nil, fmt.Errorf("differential: unit %d (variant %s, %s, attack batch %d): %d classes and %d robust flags for %d samples", nb+b, name, prefixes[j], b, len(va.Replay[j]), len(va.Robust[j]), m)
				}
				replays[v][j] = append(replays[v][j], va.Replay[j]...)
				owns[v].robust[j] = append(owns[v].robust[j], va.Robust[j]...)
			}
		}
	}
	return model, replays, owns, nil
}

// nonNil returns s, or an empty slice for nil (so that every shard's
// common part reads alike).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
