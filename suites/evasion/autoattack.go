package evasion

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gauntlet-ml/gauntlet/suite"
)

// Versions of the autoattack preset (attacks[].version), as AutoAttack's
// set_version (autoattack.py) defines them for L∞ and L2.
const (
	AAStandard = "standard" // APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square (5000 queries)
	AAPlus     = "plus"     // APGD-CE and APGD-DLR (5 restarts), FAB (5 restarts), Square, APGD-T, FAB-T
	AARand     = "rand"     // APGD-CE and APGD-DLR (1 restart) for randomised models
)

// Parts of the autoattack preset; a version runs some of them, in its
// order, each only on the samples the parts before it left robust.
const (
	partAPGDCE  = "apgd-ce"
	partAPGDT   = "apgd-t"
	partAPGDDLR = "apgd-dlr"
	partFAB     = "fab"
	partFABT    = "fab-t"
	partSquare  = "square"
)

// aaVersions lists each version's parts in run order (autoattack.py's
// attacks_to_run).
var aaVersions = map[string][]string{
	AAStandard: {partAPGDCE, partAPGDT, partFABT, partSquare},
	AAPlus:     {partAPGDCE, partAPGDDLR, partFAB, partSquare, partAPGDT, partFABT},
	AARand:     {partAPGDCE, partAPGDDLR},
}

// numParts bounds the parts of a version: the stride of partQueries.
const numParts = 6

// parts returns the parts the autoattack entry runs, in order.
func (a AttackConfig) parts() []string { return aaVersions[a.version()] }

// version is the autoattack entry's version (standard when unset).
func (a AttackConfig) version() string {
	if a.Version == "" {
		return AAStandard
	}
	return a.Version
}

// Characters of details.attacks[].broken_by: one per sample.
const (
	brokenNotAttacked = '-' // clean prediction wrong: never attacked, never robust
	brokenNone        = '0' // every part failed: robust
	// '1' + part: the part that broke the sample, counted in the version's
	// order (standard: 1 APGD-CE, 2 APGD-T, 3 FAB-T, 4 Square)
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

// autoAttack runs the preset on one batch: the version's parts in order,
// each on the samples still robust. It records in j.brokenBy the part
// that broke each sample and in j.partQueries the model evaluations each
// part spent on it. Restarts: APGD-CE and APGD-DLR take restarts (1 in
// standard and rand, 5 in plus unless set), FAB 5 in plus, the targeted
// parts 1, as the reference.
func (w *work) autoAttack(ctx context.Context, j *job, a AttackConfig, rng func(string) *rand.Rand) error {
	heads := a.heads(w.k)
	restarts := a.Restarts
	for p, part := range a.parts() {
		var err error
		switch part {
		case partAPGDCE:
			err = w.apgd(ctx, j, w.oracles[headCE], apgdParams{steps: a.Steps, restarts: restarts}, rng(part))
		case partAPGDDLR:
			o := w.oracles[headDLR]
			if w.k < 3 {
				o = w.oracles[headCE]
			}
			err = w.apgd(ctx, j, o, apgdParams{steps: a.Steps, restarts: restarts}, rng(part))
		case partAPGDT:
			err = w.apgdT(ctx, j, w.oracles[heads[1]], a.Steps, 1, a.TargetClasses, rng(part))
		case partFAB:
			err = w.fab(ctx, j, w.oracles[headMarginT], a.Steps, restarts, false, rng(part))
		case partFABT:
			err = w.fabT(ctx, j, w.oracles[headMarginT], a.Steps, 1, a.TargetClasses, rng(part))
		case partSquare:
			sp := w.squareParams(a, false)
			switch {
			case a.Norm == Linf:
				err = w.square(ctx, j, sp, rng(part))
			case autoAttackSquareRuns(a.Norm, w.shape):
				err = w.squareL2(ctx, j, sp, rng(part))
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
			for p := range len(o.a.parts()) {
				queries[p] += int64(o.partQueries[i*numParts+p])
			}
		}
	}
	squareRuns := autoAttackSquareRuns(o.a.Norm, shape)
	names := o.a.parts()
	parts := make([]map[string]any, len(names))
	robust := nCorrect
	for p, name := range names {
		robust -= broke[p]
		r.SetProportion(afterPrefix(o.a.Key(), o.a.Norm, o.eps, name)+".robust_accuracy", robust, n, level)
		e := map[string]any{"part": name, "successes": broke[p], "robust_accuracy": float64(robust) / float64(n)}
		if nCorrect > 0 {
			e["queries"] = float64(queries[p]) / float64(nCorrect)
		}
		if name == partSquare && !squareRuns {
			e["skipped"] = "L2 Square needs image inputs ([C,H,W] or [H,W], H and W ≥ 3)"
		}
		parts[p] = e
	}
	return parts, string(enc)
}

// autoAttackSanity raises AutoAttack's Square check on the preset: Square
// runs only on the samples the white-box parts before it left robust, so
// every sample it breaks is one they missed. The figure is their share of
// all samples, the drop in robust accuracy from the part before Square to
// after Square.
func autoAttackSanity(o *outcome, warn func(kind, msg string, v float64)) {
	if o.a.Name != AutoAttack || o.brokenBy == nil {
		return
	}
	parts := o.a.parts()
	sqIdx := slices.Index(parts, partSquare)
	if sqIdx < 1 {
		return
	}
	sq, after := 0, 0 // broken by Square; robust after Square
	for i, b := range o.brokenBy {
		switch {
		case int(b) == sqIdx+1:
			sq++
		case int(b) > sqIdx+1 || o.robust[i]:
			after++
		}
	}
	if sq == 0 {
		return
	}
	n := float64(len(o.robust))
	v := float64(sq) / n
	warn("black_box_beats_white_box", fmt.Sprintf("%s: Square broke %d samples (%.2f%% of all) that %s missed: robust accuracy %.4g after %s, %.4g after Square; the gradients may be masked or the white-box attacks too weak",
		Prefix(o.a.Key(), o.a.Norm, o.eps), sq, 100*v, strings.Join(parts[:sqIdx], ", "), float64(after+sq)/n, parts[sqIdx-1], float64(after)/n), v)
}
