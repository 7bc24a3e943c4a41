package slices

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/evasion"
)

// The suite's work units are the batches of runtime.batch_size evaluation
// samples, in data order (docs/sharding.md): the model pass. A unit's
// result is its samples' predictions, labels and the values of the
// feature and sensitive columns; the binning, the slice search and its
// multiple-comparison correction need every sample and run once, in the
// merge. With an evasion block, the model pass's units are followed by
// one unit per attack batch (evasion.AttackBatchSize, which may differ
// from runtime.batch_size): the batch's attacks crafted as the unsharded
// run crafts them (evasion.Crafter), each sample's robust flag per attack
// and eps. Attacks that do not run batch by batch are refused
// (ShardRefusal, evasion.NewCrafter).

// shardCommon is what every shard computes alike: the sample count and,
// with an evasion block, its attack batch.
type shardCommon struct {
	N           int `json:"n"`
	AttackBatch int `json:"attack_batch,omitempty"`
}

// attackUnit is one attack batch's result: the gradient mode the attacks
// ran with and, per attack and eps (evasion.Craft's order), each sample's
// robust flag (correct clean and under the attack).
type attackUnit struct {
	Mode   string   `json:"gradient_mode"`
	Robust [][]bool `json:"robust"`
}

// shardUnit is one batch's result: per sample its predicted class, label
// and the value of each feature and sensitive column (as the search reads
// them: strings).
type shardUnit struct {
	Pred    []int32             `json:"pred"`
	Y       []int64             `json:"y"`
	Columns map[string][]string `json:"columns"`
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
		return "its evasion block (robust_accuracy slices): " + why
	}
	return ""
}

// checkRange is Run's and RunShard's check that an evasion block has
// data.range to attack within.
func checkRange(cfg Config, t *suite.Target) error {
	if cfg.evasion != nil && !(t.Range[1]-t.Range[0] > 0) {
		return errs.Invalidf("suite slices: its evasion block needs data.range, the valid input domain (for example [0, 1]); it is unset or empty (%v)", t.Range)
	}
	return nil
}

// attackUnits returns, with an evasion block, its attack batch and the
// number of attack batches of n samples (0, 0 without one).
func attackUnits(t *suite.Target, cfg Config, n int) (int, int) {
	if cfg.evasion == nil {
		return 0, 0
	}
	ab := evasion.AttackBatchSize(t, *cfg.evasion)
	return ab, (n + ab - 1) / ab
}

// columnsOf lists the feature and sensitive columns, each once, in
// config order.
func columnsOf(cfg Config) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range append(append([]string(nil), cfg.Features...), cfg.Sensitive...) {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// RunShard implements suite.Sharder: it classifies the batches of sh's
// block that st does not hold and saves each batch's predictions, labels
// and column values; then, with an evasion block, crafts the attack
// batches of the block (units after the model pass's) and saves their
// robust flags.
func (s Suite) RunShard(ctx context.Context, t *suite.Target, cfgAny any, sh suite.Shard, st suite.UnitStore) (int, json.RawMessage, error) {
	cfg := cfgAny.(Config)
	if why := s.ShardRefusal(cfg); why != "" {
		return 0, nil, errs.Invalidf("suite slices: %s", why)
	}
	d := t.Data
	if err := s.CheckData(cfg, d, t.Classes); err != nil {
		return 0, nil, err
	}
	if err := checkRange(cfg, t); err != nil {
		return 0, nil, err
	}
	ab, na := attackUnits(t, cfg, d.N)
	common, err := json.Marshal(shardCommon{N: d.N, AttackBatch: ab})
	if err != nil {
		return 0, nil, err
	}
	nb := t.Batches(d.N)
	units := nb + na
	lo, hi := sh.Range(units)
	if err := modelPass(ctx, t, cfg, suite.Pending(st, lo, min(hi, nb)), st); err != nil {
		return 0, nil, err
	}
	if err := runAttackUnits(ctx, t, cfg, suite.Pending(st, max(lo, nb), hi), nb, st); err != nil {
		return 0, nil, err
	}
	return units, common, nil
}

// modelPass classifies the batches pending and saves each batch's
// predictions, labels and column values.
func modelPass(ctx context.Context, t *suite.Target, cfg Config, pending []int, st suite.UnitStore) error {
	if len(pending) == 0 {
		return nil
	}
	d := t.Data
	cols := map[string][]string{}
	for i, name := range columnsOf(cfg) {
		v, err := values(d, name)
		if err != nil {
			return errs.Invalidf(field+"columns[%d]: %v", i, err)
		}
		cols[name] = v
	}
	k := t.Classes
	for _, r := range suite.Runs(pending) {
		err := suite.ForBatches(ctx, t, d, r[0], r[1], func(b, blo, bhi int, out []float32) error {
			u := shardUnit{Pred: make([]int32, bhi-blo), Y: d.Y[blo:bhi], Columns: make(map[string][]string, len(cols))}
			for i := range u.Pred {
				u.Pred[i] = int32(stats.Argmax(out[i*k : (i+1)*k]))
			}
			for name, v := range cols {
				u.Columns[name] = v[blo:bhi]
			}
			return suite.SaveUnit(st, b, u)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// runAttackUnits crafts the evasion block's attack batches of the units
// pending (unit nb + b is attack batch b), a few batches at a time (one
// per worker, so a killed run loses at most those), and saves each
// batch's robust flags.
func runAttackUnits(ctx context.Context, t *suite.Target, cfg Config, pending []int, nb int, st suite.UnitStore) error {
	if len(pending) == 0 {
		return nil
	}
	// Progress counts the attack units as they are saved (the attacks'
	// own passes, a few batches each, report nothing).
	progress, saved := t.Pool.Progress, 0
	tq := *t
	tq.Pool.Progress = nil
	c, err := evasion.NewCrafter(&tq, *cfg.evasion)
	if err != nil {
		return fmt.Errorf("slices: evasion: %w", err)
	}
	defer c.Close()
	step := max(1, t.Pool.Workers)
	for _, r := range suite.Runs(pending) {
		for b0 := r[0] - nb; b0 < r[1]-nb; b0 += step {
			b1 := min(b0+step, r[1]-nb)
			crafted, err := c.CraftBatches(ctx, b0, b1)
			if err != nil {
				return fmt.Errorf("slices: evasion: %w", err)
			}
			off := b0 * c.BatchSize()
			for b := b0; b < b1; b++ {
				lo, hi := b*c.BatchSize()-off, min((b+1)*c.BatchSize(), t.Data.N)-off
				u := attackUnit{Mode: c.Mode(), Robust: make([][]bool, len(crafted))}
				for i, cr := range crafted {
					u.Robust[i] = cr.Robust[lo:hi]
				}
				if err := suite.SaveUnit(st, nb+b, u); err != nil {
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

// Merge implements suite.Sharder: it joins the batches' predictions,
// labels and column values in batch order, then searches the slices and
// corrects for multiple comparisons as Run does; with an evasion block,
// it joins the attack batches' robust flags and searches the
// robust-accuracy slices too.
func (Suite) Merge(_ context.Context, t *suite.Target, cfgAny any, common json.RawMessage, results []json.RawMessage) (*suite.Result, error) {
	cfg := cfgAny.(Config)
	var cm shardCommon
	if err := json.Unmarshal(common, &cm); err != nil {
		return nil, fmt.Errorf("slices: shard common part: %w", err)
	}
	nb := t.Batches(cm.N)
	ab, na := 0, 0
	if cfg.evasion != nil {
		if cm.AttackBatch < 1 {
			return nil, fmt.Errorf("slices: shard common part has no attack batch for the evasion block")
		}
		ab, na = cm.AttackBatch, (cm.N+cm.AttackBatch-1)/cm.AttackBatch
	}
	if len(results) != nb+na {
		return nil, fmt.Errorf("slices: %d units for %d samples in batches of %d and %d attack batches of %d (want %d)", len(results), cm.N, t.BatchSize, na, ab, nb+na)
	}
	attacks, results := results[nb:], results[:nb]
	names := columnsOf(cfg)
	d := &data.Dataset{N: cm.N, Y: make([]int64, 0, cm.N), Columns: make(map[string][]string, len(names))}
	pred := make([]int, 0, cm.N)
	for b, raw := range results {
		var u shardUnit
		if err := json.Unmarshal(raw, &u); err != nil {
			return nil, fmt.Errorf("slices: unit %d: %w", b, err)
		}
		lo, hi := t.BatchRange(b, cm.N)
		n := hi - lo
		if len(u.Pred) != n || len(u.Y) != n {
			return nil, fmt.Errorf("slices: unit %d: %d predictions and %d labels for %d samples", b, len(u.Pred), len(u.Y), n)
		}
		for _, p := range u.Pred {
			pred = append(pred, int(p))
		}
		d.Y = append(d.Y, u.Y...)
		for _, name := range names {
			v := u.Columns[name]
			if len(v) != n {
				return nil, fmt.Errorf("slices: unit %d: column %s has %d values for %d samples", b, name, len(v), n)
			}
			d.Columns[name] = append(d.Columns[name], v...)
		}
	}
	feats, searches, minSize, correct, err := prepare(cfg, d, pred)
	if err != nil {
		return nil, err
	}
	r := suite.NewResult()
	if cfg.evasion != nil {
		prefixes := evasionPrefixes(*cfg.evasion)
		robust := make([]bool, 0, cm.N)
		mode := ""
		for b, raw := range attacks {
			var u attackUnit
			if err := json.Unmarshal(raw, &u); err != nil {
				return nil, fmt.Errorf("slices: unit %d: %w", nb+b, err)
			}
			n := min((b+1)*ab, cm.N) - b*ab
			if len(u.Robust) != len(prefixes) {
				return nil, fmt.Errorf("slices: unit %d (attack batch %d): %d attacks, the evasion block has %d", nb+b, b, len(u.Robust), len(prefixes))
			}
			if b == 0 {
				mode = u.Mode
			} else if u.Mode != mode {
				return nil, fmt.Errorf("slices: unit %d (attack batch %d): gradient mode %s, attack batch 0's %s: the shards attacked differently", nb+b, b, u.Mode, mode)
			}
			for i := range n {
				g := b*ab + i
				ok := correct[g]
				for a, rs := range u.Robust {
					if len(rs) != n {
						return nil, fmt.Errorf("slices: unit %d (%s, attack batch %d): %d robust flags for %d samples", nb+b, prefixes[a], b, len(rs), n)
					}
					ok = ok && rs[i]
				}
				robust = append(robust, ok)
			}
		}
		r.Details["robust_attacks"] = prefixes
		r.Details["gradient_mode"] = mode
		searches = append(searches, search(RobustAccuracy, feats, robust, cfg.MaxDepth, minSize, cfg.Alpha, cfg.Correction))
	}
	write(r, cfg, searches, feats, minSize, cm.N)
	return r, nil
}

// evasionPrefixes lists the metric prefixes of cfg's attacks, each attack
// at each eps in config order (evasion.Craft's order).
func evasionPrefixes(cfg evasion.Config) []string {
	var out []string
	for _, a := range cfg.Attacks {
		for _, e := range a.Eps {
			out = append(out, evasion.Prefix(a.Key(), a.Norm, e))
		}
	}
	return out
}
