package evasion

import (
	"context"
	"math/rand/v2"
)

// apgdT runs APGD-T: targeted APGD towards each of the top-tc classes of
// the clean output in turn, on the samples still correctly classified; a
// sample falls as soon as it is misclassified.
func (w *work) apgdT(ctx context.Context, j *job, o oracle, steps, restarts, tc int, r *rand.Rand) error {
	for c := 1; c <= min(tc, w.k-1); c++ {
		for i := 0; i < j.n; i++ {
			w.tgt[i] = int64(rankClass(j.clean[i*w.k:(i+1)*w.k], c))
		}
		if err := w.apgd(ctx, j, o, apgdParams{steps: steps, restarts: restarts, targeted: true}, r); err != nil {
			return err
		}
	}
	return nil
}

// rankClass returns the class with the (c+1)-th largest output (c = 0:
// the arg max); ties go to the lower index.
func rankClass(row []float32, c int) int {
	for j := range row {
		above := 0
		for l, v := range row {
			if v > row[j] || (v == row[j] && l < j) {
				above++
			}
		}
		if above == c {
			return j
		}
	}
	return 0
}

// drawTargets fills w.tgt: the fixed target, or a class drawn uniformly
// among the k−1 others.
func (w *work) drawTargets(j *job, fixed *int, r *rand.Rand) {
	for i := 0; i < j.n; i++ {
		if fixed != nil {
			w.tgt[i] = int64(*fixed)
			continue
		}
		w.tgt[i] = (j.y[i] + 1 + int64(r.IntN(w.k-1))) % int64(w.k)
	}
}

// squareParams derives the image layout Square works on: [C,H,W], [H,W]
// or a flat row of values.
func (w *work) squareParams(a AttackConfig, targeted bool) squareParams {
	p := shapeParams(w.shape)
	p.queries, p.pInit, p.targeted = a.Queries, a.PInit, targeted
	return p
}

// shapeParams lays a sample out as channels × height × width.
func shapeParams(s []int) squareParams {
	p := squareParams{c: 1, h: 1, w: 1}
	switch len(s) {
	case 3:
		p.c, p.h, p.w = s[0], s[1], s[2]
	case 2:
		p.h, p.w = s[0], s[1]
	default:
		for _, v := range s {
			p.w *= v
		}
	}
	return p
}

// squareL2Fits reports whether the L2 Square attack's windows (at least
// 3×3) fit the layout.
func squareL2Fits(p squareParams) bool { return p.h >= 3 && p.w >= 3 }
