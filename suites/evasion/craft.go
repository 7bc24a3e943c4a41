package evasion

import (
	"context"
	"fmt"

	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Crafted is one attack at one eps of Craft, over every sample of the
// target's data.
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
// suite, which replays the points on variants of the model; t.Data needs
// labels and t.Range must be set.
func Craft(ctx context.Context, t *suite.Target, cfg Config) ([]Crafted, string, error) {
	ds := t.Data
	n, dim, k := ds.N, ds.SampleSize(), t.Classes
	tb := *t
	tb.BatchSize = attackBatch(t, cfg, dim).size
	clean := make([]float32, n*k)
	err := suite.ForEachBatch(ctx, &tb, ds, func(_, lo, hi int, out []float32) error {
		copy(clean[lo*k:hi*k], out[:(hi-lo)*k])
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	correct := make([]bool, n)
	for i := range correct {
		correct[i] = int64(stats.Argmax(clean[i*k:(i+1)*k])) == ds.Y[i]
	}
	rt, gc, err := openRunners(&tb, cfg, dim, k)
	if err != nil {
		return nil, "", err
	}
	defer rt.close()
	rt.keepAdv = true
	var out []Crafted
	for _, a := range cfg.Attacks {
		for _, e := range a.Eps {
			p := Prefix(a.Key(), a.Norm, e)
			o, err := rt.attack(ctx, &tb, cfg, a, e, clean, correct)
			if err != nil {
				return nil, "", fmt.Errorf("attack %s: %w", p, err)
			}
			out = append(out, Crafted{Prefix: p, Adv: o.adv, Success: o.success, Robust: o.robust})
		}
	}
	return out, gc.mode, nil
}
