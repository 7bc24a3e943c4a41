package evasion

import (
	"context"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Crafted is one attack at one eps of Craft, over every sample of the
// target's data (of CraftBatches: over the samples of its batches).
type Crafted struct {
	// Prefix is the attack's metric prefix, Prefix(key, norm, eps).
	Prefix string
	// Adv holds every sample's adversarial point, n×d; the clean point
	// where the attack did not run (a sample misclassified clean).
	Adv []float32
	// Success marks the samples the attack fooled; Robust those correct
	// both clean and under attack.
	Success, Robust []bool
}

// Craft runs cfg's attacks on t as the suite does (the attack batch of
// suites.evasion.batch_size or its rule, gradient_mode, fuse, seeds derived
// from t.Seed) and returns each attack at each eps in config order with
// every sample's adversarial point, and the gradient mode used (exact or
// estimated). It is the evasion suite's entry point for the differential
// and slices suites, which replay the points on variants of the model or
// slice the robust samples; t.Data needs labels and t.Range must be set.
// A sharded run crafts the same points batch by batch (Crafter).
func Craft(ctx context.Context, t *suite.Target, cfg Config) ([]Crafted, string, error) {
	c, err := newCrafter(t, cfg)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	out, err := c.craft(ctx, 0, c.Batches(), false)
	if err != nil {
		return nil, "", err
	}
	return out, c.gc.mode, nil
}

// Crafter crafts cfg's attacks on a target batch by batch, for the suites
// that shard an evasion block (differential, slices: docs/sharding.md).
// Its batches are the attack batches of Craft (AttackBatchSize), and each
// batch runs with Craft's seeds and per-batch random stream
// (suite.BatchRand), on the same samples, so CraftBatches(b0, b1) returns
// exactly the points, successes and robust flags that Craft returns for
// the samples of batches [b0, b1), whichever batches were crafted before.
// A Crafter is not safe for concurrent use; Close releases its runners.
type Crafter struct {
	t   suite.Target // at the attack batch
	cfg Config
	rt  *runners
	gc  gradChoice
	// clean and correct hold the clean outputs and correctness of the
	// samples of the batches crafted so far (zero elsewhere).
	clean   []float32
	correct []bool
}

// AttackBatchSize is the attack batch Craft and a Crafter run cfg's
// attacks on t at: suites.evasion.batch_size, else its rule on the data's
// shape and t.BatchSize (runtime.batch_size). It depends on the config
// and the data's shape only.
func AttackBatchSize(t *suite.Target, cfg Config) int {
	return attackBatch(t, cfg, t.Data.SampleSize()).size
}

// NewCrafter opens the attacks of cfg on t for CraftBatches. It refuses,
// errs.Invalid naming the entry (attacks[i] (key)), the attacks that do
// not run batch by batch: those not yet listed as sharding (the evasion
// suite's ShardRefusal), and white-box attacks that run on estimated
// gradients here, which the square fallback reruns over the samples of
// the whole attack. t.Data needs labels and t.Range must be set.
func NewCrafter(t *suite.Target, cfg Config) (*Crafter, error) {
	for i, a := range cfg.Attacks {
		if !shardable[a.Name] {
			return nil, errs.Invalidf("attacks[%d] (%s): %s does not run batch by batch yet (docs/sharding.md lists the attacks that do): run it in an unsharded run", i, a.Key(), a.Name)
		}
	}
	c, err := newCrafter(t, cfg)
	if err != nil {
		return nil, err
	}
	if c.rt.mode == ModeEstimated {
		for i, a := range cfg.Attacks {
			if a.whiteBox() && a.Name != AutoAttack {
				c.Close()
				return nil, errs.Invalidf("attacks[%d] (%s): runs on estimated gradients here (%s), where the square fallback reruns the samples of the whole attack; a sharded or resumed run cannot split it (docs/sharding.md): run it unsharded", i, a.Key(), c.gc.reason)
			}
		}
	}
	return c, nil
}

// newCrafter opens the runners at the attack batch, without NewCrafter's
// refusals (Craft runs every attack, over every batch at once).
func newCrafter(t *suite.Target, cfg Config) (*Crafter, error) {
	ds := t.Data
	n, dim, k := ds.N, ds.SampleSize(), t.Classes
	c := &Crafter{t: *t, cfg: cfg, clean: make([]float32, n*k), correct: make([]bool, n)}
	c.t.BatchSize = attackBatch(t, cfg, dim).size
	rt, gc, err := openRunners(&c.t, cfg, dim, k)
	if err != nil {
		return nil, err
	}
	c.rt, c.gc = rt, gc
	c.rt.keepAdv = true
	return c, nil
}

// Close releases the crafter's runners and graphs.
func (c *Crafter) Close() { c.rt.close() }

// Batches is the number of attack batches of the data.
func (c *Crafter) Batches() int { return c.t.Batches(c.t.Data.N) }

// BatchSize is the attack batch (AttackBatchSize).
func (c *Crafter) BatchSize() int { return c.t.BatchSize }

// Mode is the gradient mode the attacks run with: exact, estimated, or
// none (no attack uses gradients); Craft's second result.
func (c *Crafter) Mode() string { return c.gc.mode }

// CraftBatches crafts every attack at every eps (config order, as Craft)
// on the samples of attack batches [b0, b1), 0 ≤ b0 < b1 ≤ Batches: each
// Crafted holds those samples only, in order (Adv (hi−lo)×d for the rows
// [lo, hi) of the batches).
func (c *Crafter) CraftBatches(ctx context.Context, b0, b1 int) ([]Crafted, error) {
	if b0 < 0 || b1 > c.Batches() || b0 >= b1 {
		return nil, fmt.Errorf("evasion: craft batches [%d, %d) of %d", b0, b1, c.Batches())
	}
	return c.craft(ctx, b0, b1, true)
}

// craft is Craft (span false: every batch, the square fallback allowed)
// and CraftBatches (span true: batches [b0, b1) only).
func (c *Crafter) craft(ctx context.Context, b0, b1 int, span bool) ([]Crafted, error) {
	t, ds, rt := &c.t, c.t.Data, c.rt
	n, d, k := ds.N, ds.SampleSize(), t.Classes
	lo, _ := t.BatchRange(b0, n)
	_, hi := t.BatchRange(b1-1, n)
	err := suite.ForBatches(ctx, t, ds, b0, b1, func(_, blo, bhi int, out []float32) error {
		copy(c.clean[blo*k:bhi*k], out[:(bhi-blo)*k])
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := lo; i < hi; i++ {
		c.correct[i] = int64(stats.Argmax(c.clean[i*k:(i+1)*k])) == ds.Y[i]
	}
	// A deepfool or decision-based entry's run (all its eps) is kept per
	// call: each call crafts other batches.
	rt.dfRuns, rt.hsjRuns, rt.span, rt.save = nil, nil, nil, nil
	if span {
		// save set: attack returns after the span's batches, without the
		// fallback that needs every batch (NewCrafter refuses the
		// attacks that may take it).
		rt.span = &[2]int{b0, b1}
		rt.save = func(*outcome, int, int, int, [2]int) error { return nil }
	}
	var out []Crafted
	for _, a := range c.cfg.Attacks {
		for _, e := range a.Eps {
			p := Prefix(a.Key(), a.Norm, e)
			o, err := rt.attack(ctx, t, c.cfg, a, e, c.clean, c.correct)
			if err != nil {
				return nil, fmt.Errorf("attack %s: %w", p, err)
			}
			out = append(out, Crafted{Prefix: p, Adv: o.adv[lo*d : hi*d], Success: o.success[lo:hi], Robust: o.robust[lo:hi]})
		}
	}
	return out, nil
}
