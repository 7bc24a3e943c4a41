package evasion

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gauntlet-ml/gauntlet/suite"
)

// fallback records the Square attack run on an attack's samples without
// gradient signal.
type fallback struct {
	samples int     // samples attacked: still robust, first gradient all zero
	broken  int     // of those, broken by Square
	norm    string  // Square's norm and radius (L∞ at eps/√d stands in
	eps     float64 // for L2 on inputs that are not images)
}

// squareFallback runs Square (gradient-free, the default budget) at the
// attack's norm and eps on the samples whose estimated gradient was all
// zero at their first point and that the attack left robust, and folds its
// successes into the attack's outcome: its robust accuracy becomes the
// worst case of the attack and Square on those samples. A targeted attack
// that must hit its target keeps its targets (drawn again from the
// attack's own stream). For L2 on inputs that are not images (Square L2
// needs H, W ≥ 3), Square L∞ at eps/√d runs instead: its ball lies inside
// the L2 ball, so each of its successes is an L2 adversarial example.
// Square draws from the stream of a standalone untargeted square attack at
// the same norm and eps, so on a batch whose samples are all attacked it
// repeats that attack's run.
func (rt *runners) squareFallback(ctx context.Context, t *suite.Target, keep int, o *outcome, clean []float32, correct []bool, pred []int, xadv [][]float32, seed uint64) error {
	ds := t.Data
	n, d, k := ds.N, ds.SampleSize(), t.Classes
	a := o.a
	cand := make([]bool, n)
	fb := &fallback{norm: a.Norm, eps: o.eps}
	for i := range cand {
		cand[i] = correct[i] && !o.success[i] && o.zero[i]
		if cand[i] {
			fb.samples++
		}
	}
	o.fallback = fb
	if fb.samples == 0 {
		return nil
	}
	if a.Norm == L2 && !squareL2Fits(shapeParams(ds.SampleShape)) {
		fb.norm, fb.eps = Linf, o.eps/math.Sqrt(float64(d))
	}
	hitTarget := a.Targeted && !(a.Name == APGD && a.Target == nil)
	sq := AttackConfig{Name: Square, Norm: fb.norm, Queries: DefaultQueries, PInit: DefaultPInit}
	succ, pr, qs := make([]bool, n), make([]int, n), make([]int32, n)
	// the stream of a standalone square attack at this norm and eps
	fseed := suite.DeriveSeed(suite.DeriveSeed(t.Seed, Prefix(Square, fb.norm, fb.eps)), "square")
	pool := t.Pool
	pool.Workers, pool.Progress = len(rt.works), nil
	err := pool.Run(ctx, t.Batches(n), func(ctx context.Context, wi, b int) error {
		lo, hi := t.BatchRange(b, n)
		if !slices.Contains(cand[lo:hi], true) {
			return nil
		}
		w := rt.works[wi]
		j := &job{n: hi - lo, eps: fb.eps, norm: fb.norm, x0: ds.X[lo*d : hi*d], y: ds.Y[lo:hi], correct: cand[lo:hi],
			clean: clean[lo*k : hi*k], success: succ[lo:hi], pred: pr[lo:hi], queries: qs[lo:hi], xadv: xadv[wi][:(hi-lo)*d]}
		w.begin(j)
		if hitTarget {
			var r *rand.Rand
			if a.Name != APGD {
				r = suite.BatchRand(suite.DeriveSeed(seed, a.Name), b) // runOne's first draws
			}
			w.drawTargets(j, a.Target, r)
		}
		p := w.squareParams(sq, hitTarget)
		r := suite.BatchRand(fseed, b)
		var err error
		if fb.norm == L2 {
			err = w.squareL2(ctx, j, p, r)
		} else {
			err = w.square(ctx, j, p, r)
		}
		if err != nil {
			return err
		}
		for i := 0; i < j.n; i++ {
			g := lo + i
			if !cand[g] {
				continue
			}
			o.queries[g] += j.queries[i]
			if !j.success[i] {
				continue
			}
			o.success[g], o.robust[g], pred[g] = true, false, j.pred[i]
			xa, x0 := j.xadv[i*d:(i+1)*d], j.x0[i*d:(i+1)*d]
			if a.Norm == L2 {
				o.pert[g] = distL2(xa, x0)
			} else {
				o.pert[g] = distLinf(xa, x0)
			}
			if o.adv != nil {
				copy(o.adv[g*d:(g+1)*d], xa)
			}
			if len(o.examples[b]) < keep {
				o.examples[b] = append(o.examples[b], example{i: g, pred: j.pred[i], x: append([]float32(nil), xa...)})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for g := range cand {
		if cand[g] && succ[g] {
			fb.broken++
		}
	}
	return nil
}
