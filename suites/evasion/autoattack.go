package evasion

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/gauntlet-ml/gauntlet/suite"
)

// Parts of the autoattack preset, in the order they run; each runs only on
// the samples the parts before it left robust.
const (
	partAPGDCE = iota // APGD-CE
	partAPGDT         // APGD-T
	partSquare        // Square
	numParts
)

// autoAttackParts names the parts in metric keys and details, indexed by
// partAPGDCE, partAPGDT and partSquare.
var autoAttackParts = [numParts]string{"apgd-ce", "apgd-t", "square"}

// Characters of details.attacks[].broken_by: one per sample.
const (
	brokenNotAttacked = '-' // clean prediction wrong: never attacked, never robust
	brokenNone        = '0' // every part failed: robust
	// '1' + part: the part that broke the sample (1 APGD-CE, 2 APGD-T, 3 Square)
)

// autoAttackSquareRuns reports whether the preset's Square part runs on
// samples of the given shape: always for L∞, for L2 only on image inputs.
func autoAttackSquareRuns(norm string, shape []int) bool {
	return norm == Linf || squareL2Fits(shapeParams(shape))
}

// afterPrefix returns the metric prefix of the autoattack preset's robust
// accuracy after one part: "<key>.<norm>.eps=<eps>.after.<part>".
func afterPrefix(key, norm string, eps float64, part string) string {
	return Prefix(key, norm, eps) + ".after." + part
}

// autoAttack runs the preset on one batch: APGD-CE, APGD-T, then Square,
// each on the samples still robust. It records in j.brokenBy the part
// that broke each sample and in j.partQueries the model evaluations each
// part spent on it.
func (w *work) autoAttack(ctx context.Context, j *job, a AttackConfig, rng func(string) *rand.Rand) error {
	for p := range numParts {
		var err error
		switch p {
		case partAPGDCE:
			err = w.apgd(ctx, j, w.oracles[headCE], apgdParams{steps: a.Steps, restarts: a.Restarts}, rng("apgd-ce"))
		case partAPGDT:
			err = w.apgdT(ctx, j, w.oracles[a.heads(w.k)[1]], a.Steps, 1, a.TargetClasses, rng("apgd-t"))
		case partSquare:
			sp := w.squareParams(a, false)
			switch {
			case a.Norm == Linf:
				err = w.square(ctx, j, sp, rng("square"))
			case autoAttackSquareRuns(a.Norm, w.shape):
				err = w.squareL2(ctx, j, sp, rng("square"))
			}
		}
		if err != nil {
			return err
		}
		w.endPart(j, p)
	}
	return nil
}

// endPart books part p: the samples that fell during it, and the queries
// it spent on each sample (its total minus the earlier parts' shares).
func (w *work) endPart(j *job, p int) {
	for i := 0; i < j.n; i++ {
		if j.success[i] && j.brokenBy[i] == 0 {
			j.brokenBy[i] = int8(p + 1)
		}
		q := j.queries[i]
		for e := 0; e < p; e++ {
			q -= j.partQueries[i*numParts+e]
		}
		j.partQueries[i*numParts+p] = q
	}
}

// autoAttackSummary writes the preset's per-part metrics
// (<prefix>.after.<part>.robust_accuracy with its bounds) and returns the
// details: per part its successes, cumulative robust accuracy and mean
// queries per clean-correct sample; per sample the part that broke it.
func autoAttackSummary(r *suite.Result, o *outcome, shape []int, correct []bool, nCorrect int, level float64) ([]map[string]any, string) {
	n := len(correct)
	var broke [numParts]int
	var queries [numParts]int64
	enc := make([]byte, n)
	for i := range n {
		switch {
		case !correct[i]:
			enc[i] = brokenNotAttacked
		case o.brokenBy[i] == 0:
			enc[i] = brokenNone
		default:
			enc[i] = brokenNone + byte(o.brokenBy[i])
			broke[o.brokenBy[i]-1]++
		}
		if correct[i] {
			for p := range numParts {
				queries[p] += int64(o.partQueries[i*numParts+p])
			}
		}
	}
	squareRuns := autoAttackSquareRuns(o.a.Norm, shape)
	parts := make([]map[string]any, numParts)
	robust := nCorrect
	for p, name := range autoAttackParts {
		robust -= broke[p]
		r.SetProportion(afterPrefix(o.a.Key(), o.a.Norm, o.eps, name)+".robust_accuracy", robust, n, level)
		e := map[string]any{"part": name, "successes": broke[p], "robust_accuracy": float64(robust) / float64(n)}
		if nCorrect > 0 {
			e["queries"] = float64(queries[p]) / float64(nCorrect)
		}
		if p == partSquare && !squareRuns {
			e["skipped"] = "L2 Square needs image inputs ([C,H,W] or [H,W], H and W ≥ 3)"
		}
		parts[p] = e
	}
	return parts, string(enc)
}

// autoAttackSanity raises AutoAttack's Square check on the preset: Square
// runs only on the samples both APGD parts left robust, so every sample
// it breaks is one the white-box parts missed. The figure is their share
// of all samples, the drop in robust accuracy from after APGD-T to after
// Square.
func autoAttackSanity(o *outcome, warn func(kind, msg string, v float64)) {
	if o.a.Name != AutoAttack || o.brokenBy == nil {
		return
	}
	sq, rob := 0, 0
	for i, b := range o.brokenBy {
		if b == partSquare+1 {
			sq++
		}
		if o.robust[i] {
			rob++
		}
	}
	if sq == 0 {
		return
	}
	n := float64(len(o.robust))
	v := float64(sq) / n
	warn("black_box_beats_white_box", fmt.Sprintf("%s: Square broke %d samples (%.2f%% of all) that both APGD-CE and APGD-T missed: robust accuracy %.4g after APGD-T, %.4g after Square; the gradients may be masked or the white-box attacks too weak",
		Prefix(o.a.Key(), o.a.Norm, o.eps), sq, 100*v, float64(rob+sq)/n, float64(rob)/n), v)
}
