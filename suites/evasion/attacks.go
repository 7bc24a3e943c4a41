package evasion

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
)

// job is one attack at one eps on one batch of n samples. The attack
// functions fill success, pred, queries and xadv.
type job struct {
	n       int
	eps     float64
	norm    string
	x0      []float32 // n×d clean inputs
	y       []int64   // n true labels
	correct []bool    // clean prediction is right
	clean   []float32 // n×k clean outputs

	success []bool    // the attack reached its goal on the sample
	pred    []int     // prediction at the sample's last evaluated point
	queries []int32   // model evaluations spent on the sample
	xadv    []float32 // n×d: the adversarial point of successful samples

	zeroGrad, gradSeen int    // samples whose first gradient was all zero, of those seen
	zero               []bool // per sample: its first gradient was all zero

	// autoattack only: per sample, 1 + the part that broke it (0: none),
	// and n×numParts model evaluations spent by each part
	brokenBy    []int8
	partQueries []int32
}

// work is one worker's scratch memory and model runners, reused across
// batches and attacks: the iteration loops allocate nothing.
type work struct {
	d, k, batch int
	rlo, rhi    float32
	probs       bool

	oracles map[string]oracle
	fwd     *runtime.Runner
	// loop runs PGD's middle iterations fused (fused.go), nil when per
	// step; loopL2 tells its inputs apart (L2 takes the clean input).
	loop   *runtime.GraphRunner
	loopL2 bool

	lo, hi, x, xprev, xbest, gbest, gcur []float32
	tgt                                  []int64
	act, next                            []int
	step                                 []float64
	objBest, objPrev, objBestLast        []float32
	reducedLast                          []bool
	inc                                  []int32
	wh, ww                               []int // Square: window corner per sample
	shape                                []int // sample shape
	perts                                map[int][2][]float32
	// fixed marks the input values the attacks keep at their clean value
	// (features, features.go); nil: every value is free.
	fixed []bool
	fabS  *fabScratch // FAB's scratch (fab.go), made on first use
	dfS   *dfScratch  // DeepFool's scratch (deepfool.go), made on first use
	fmnS  *fmnScratch // FMN's scratch (fmn.go), made on first use
	hsjS  *hsjScratch // HopSkipJump's scratch (hsj.go), made on first use
	soS   *soScratch  // Sign-OPT's scratch (signopt.go), made on first use
	// dc answers the decision-based attacks' label queries (decision.go);
	// nil without such an attack.
	dc *decider
}

func newWork(d, k, batch int, rlo, rhi float32, probs bool) *work {
	f := func() []float32 { return make([]float32, batch*d) }
	return &work{d: d, k: k, batch: batch, rlo: rlo, rhi: rhi, probs: probs, oracles: map[string]oracle{},
		lo: f(), hi: f(), x: f(), xprev: f(), xbest: f(), gbest: f(), gcur: f(),
		tgt: make([]int64, batch), act: make([]int, 0, batch), next: make([]int, 0, batch),
		step: make([]float64, batch), objBest: make([]float32, batch), objPrev: make([]float32, batch),
		objBestLast: make([]float32, batch), reducedLast: make([]bool, batch), inc: make([]int32, batch),
		wh: make([]int, batch), ww: make([]int, batch)}
}

func (w *work) row(v []float32, i int) []float32 { return v[i*w.d : (i+1)*w.d] }

// rowShrink is the ratio of the batch-size ladder: as samples leave an
// attack, ORT runs on the smallest ladder size ≥ the active count, so a
// batch sees a handful of shapes (ORT plans memory per shape) instead of
// one per count; padding rows hold stale, valid inputs whose results are
// ignored. The waste is below 1/rowShrink − 1 = 33 %.
const rowShrink = 0.75

// rows returns the ladder size for n active samples: the smallest of
// batch, ⌈batch·¾⌉, ⌈batch·(¾)²⌉, … that is ≥ n.
func (w *work) rows(n int) int { return ladder(w.batch, n) }

// ladder is rows for a runner of full rows.
func ladder(full, n int) int {
	m := full
	for {
		next := int(math.Ceil(float64(m) * rowShrink))
		if next < n || next >= m {
			return m
		}
		m = next
	}
}

// begin prepares the box of every sample and resets the job's outputs.
func (w *work) begin(j *job) {
	for i := 0; i < j.n; i++ {
		setBox(w.row(w.lo, i), w.row(w.hi, i), j.x0[i*w.d:(i+1)*w.d], j.eps, w.rlo, w.rhi, j.norm == Linf)
		w.fixBox(w.row(w.lo, i), w.row(w.hi, i), j.x0[i*w.d:(i+1)*w.d])
		j.pred[i] = stats.Argmax(j.clean[i*w.k : (i+1)*w.k])
	}
	copy(j.xadv, j.x0)
	clear(j.success)
	clear(j.queries)
	j.zeroGrad, j.gradSeen = 0, 0
	clear(j.zero)
}

// activate lists the samples still to attack: clean-correct, not yet
// successful, and (when targets are given) with a target other than y.
func (w *work) activate(j *job, targeted bool) {
	w.act = w.act[:0]
	for i := 0; i < j.n; i++ {
		if j.correct[i] && !j.success[i] && (!targeted || w.tgt[i] != j.y[i]) {
			w.act = append(w.act, i)
		}
	}
}

// evalActive stages the active samples' current points in o and evaluates
// them; row r of o's outputs belongs to sample act[r].
func (w *work) evalActive(ctx context.Context, j *job, o oracle, targeted bool, rng *rand.Rand) error {
	in, lab, tg := o.in(), o.labels(), o.targets()
	for r, i := range w.act {
		copy(in[r*w.d:(r+1)*w.d], w.row(w.x, i))
		if tg != nil { // targeted DLR reads both
			lab[r], tg[r] = j.y[i], w.tgt[i]
		} else if targeted {
			lab[r] = w.tgt[i]
		} else {
			lab[r] = j.y[i]
		}
	}
	if err := o.eval(ctx, w.rows(len(w.act)), rng); err != nil {
		return err
	}
	w.maskGrad(o.grad(), len(w.act))
	c := o.cost()
	for _, i := range w.act {
		j.queries[i] += c
	}
	return nil
}

// hit records the prediction of row r (sample i) and reports whether the
// attack's goal is reached: the target (hitTarget) or any wrong class.
func (w *work) hit(j *job, logits []float32, r, i int, hitTarget bool) bool {
	p := stats.Argmax(logits[r*w.k : (r+1)*w.k])
	j.pred[i] = p
	if hitTarget {
		return int64(p) == w.tgt[i]
	}
	return int64(p) != j.y[i]
}

// countZero counts rows of the gradient that are all zero and flags their
// samples in j.zero.
func (w *work) countZero(j *job, g []float32) {
	for r, i := range w.act {
		j.gradSeen++
		zero := true
		for _, v := range g[r*w.d : (r+1)*w.d] {
			if v != 0 {
				zero = false
				break
			}
		}
		if zero {
			j.zeroGrad++
			if j.zero != nil {
				j.zero[i] = true
			}
		}
	}
}

// succeed marks sample i successful at its current point.
func (w *work) succeed(j *job, i int) {
	j.success[i] = true
	copy(j.xadv[i*w.d:(i+1)*w.d], w.row(w.x, i))
}

// pgdParams are the knobs of FGSM and PGD.
type pgdParams struct {
	alpha       float64
	steps       int
	restarts    int
	randomStart bool
	earlyStop   bool
	targeted    bool // w.tgt holds targets: descend on their cross-entropy
}

// pgd runs FGSM (one step of size eps, no random start) or PGD on the
// batch: every active sample advances in one oracle call per step; a
// sample leaves the batch once the attack succeeds on it (earlyStop) or
// after the last step, where it is judged on its last point.
func (w *work) pgd(ctx context.Context, j *job, o oracle, p pgdParams, rng *rand.Rand) error {
	dir := float32(1)
	if p.targeted {
		dir = -1
	}
	linf := j.norm == Linf
	for r := 0; r < p.restarts; r++ {
		w.activate(j, p.targeted)
		for _, i := range w.act {
			x, x0 := w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d]
			if p.randomStart {
				randomStart(x, x0, w.row(w.lo, i), w.row(w.hi, i), j.eps, linf, rng)
			} else {
				copy(x, x0)
			}
		}
		for it := 0; len(w.act) > 0; it++ {
			if err := w.evalActive(ctx, j, o, p.targeted, rng); err != nil {
				return err
			}
			logits, g := o.logits(), o.grad()
			if r == 0 && it == 0 {
				w.countZero(j, g)
			}
			last := it == p.steps
			w.next = w.next[:0]
			for row, i := range w.act {
				if w.hit(j, logits, row, i, p.targeted) && (p.earlyStop || last) {
					w.succeed(j, i)
					continue
				}
				if last {
					continue
				}
				x := w.row(w.x, i)
				gr := g[row*w.d : (row+1)*w.d]
				if linf {
					stepSign(x, gr, w.row(w.lo, i), w.row(w.hi, i), float32(p.alpha), dir)
				} else {
					stepL2(x, j.x0[i*w.d:(i+1)*w.d], gr, w.row(w.lo, i), w.row(w.hi, i), p.alpha, j.eps, dir)
				}
				w.next = append(w.next, i)
			}
			w.act, w.next = w.next, w.act
			if it == 0 && w.loop != nil && p.steps >= 2 && len(w.act) > 0 {
				// iterations 1 … steps−1 in one fused call; the last
				// evaluation (it = steps) stays per step
				if err := w.runLoop(ctx, j, p.steps, p.targeted); err != nil {
					return err
				}
				it = p.steps - 1
			}
		}
	}
	return nil
}

// apgdParams are the knobs of APGD.
type apgdParams struct {
	steps     int
	restarts  int
	targeted  bool // w.tgt holds targets: maximise −CE(target), or the targeted DLR
	hitTarget bool // success means predicting the target (else: any wrong class)
}

// APGD constants of Croce & Hein (2020) and their reference code.
const (
	apgdMomentum  = 0.75 // α of the momentum step
	apgdRho       = 0.75 // share of improving steps below which the step halves
	apgdFirstFrac = 0.22 // first checkpoint at 22 % of the iterations
	apgdMinFrac   = 0.06 // shortest checkpoint interval
	apgdDecrFrac  = 0.03 // interval shrink per checkpoint
)

// apgd runs Auto-PGD (Croce & Hein 2020): step size 2·eps halved at
// checkpoints when the loss oscillates or stalls, restarts from the best
// point, momentum 0.75.
func (w *work) apgd(ctx context.Context, j *job, o oracle, p apgdParams, rng *rand.Rand) error {
	dir := float32(1)
	if p.targeted && o.targets() == nil { // descend on the target's cross-entropy
		dir = -1
	}
	linf := j.norm == Linf
	n := p.steps
	for r := 0; r < p.restarts; r++ {
		w.activate(j, p.targeted)
		if len(w.act) == 0 {
			return nil
		}
		for _, i := range w.act {
			apgdStart(w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d], w.row(w.lo, i), w.row(w.hi, i), j.eps, linf, rng)
		}
		// initial point
		if err := w.evalActive(ctx, j, o, p.targeted, rng); err != nil {
			return err
		}
		logits, loss, g := o.logits(), o.loss(), o.grad()
		if r == 0 {
			w.countZero(j, g)
		}
		w.next = w.next[:0]
		for row, i := range w.act {
			if w.hit(j, logits, row, i, p.hitTarget) {
				w.succeed(j, i)
				continue
			}
			obj := dir * loss[row]
			copy(w.row(w.gcur, i), g[row*w.d:(row+1)*w.d])
			copy(w.row(w.gbest, i), w.row(w.gcur, i))
			copy(w.row(w.xbest, i), w.row(w.x, i))
			copy(w.row(w.xprev, i), w.row(w.x, i))
			w.objBest[i], w.objPrev[i], w.objBestLast[i] = obj, obj, obj
			w.reducedLast[i], w.inc[i] = true, 0 // as the reference code: no stall check at the first checkpoint
			w.step[i] = 2 * j.eps
			w.next = append(w.next, i)
		}
		w.act, w.next = w.next, w.act
		k := max(int(apgdFirstFrac*float64(n)), 1)
		kMin := max(int(apgdMinFrac*float64(n)), 1)
		kDecr := max(int(apgdDecrFrac*float64(n)), 1)
		counter := 0
		for it := 0; it < n && len(w.act) > 0; it++ {
			a := float32(apgdMomentum)
			if it == 0 {
				a = 1
			}
			for _, i := range w.act {
				w.apgdStep(j, i, a, dir, linf)
			}
			if err := w.evalActive(ctx, j, o, p.targeted, rng); err != nil {
				return err
			}
			logits, loss, g = o.logits(), o.loss(), o.grad()
			w.next = w.next[:0]
			for row, i := range w.act {
				if w.hit(j, logits, row, i, p.hitTarget) {
					w.succeed(j, i)
					continue
				}
				obj := dir * loss[row]
				if obj > w.objPrev[i] {
					w.inc[i]++
				}
				w.objPrev[i] = obj
				copy(w.row(w.gcur, i), g[row*w.d:(row+1)*w.d])
				if obj > w.objBest[i] {
					w.objBest[i] = obj
					copy(w.row(w.xbest, i), w.row(w.x, i))
					copy(w.row(w.gbest, i), w.row(w.gcur, i))
				}
				w.next = append(w.next, i)
			}
			w.act, w.next = w.next, w.act
			counter++
			if counter == k {
				for _, i := range w.act {
					osc := float64(w.inc[i]) <= float64(k)*apgdRho
					noImpr := !w.reducedLast[i] && w.objBestLast[i] >= w.objBest[i]
					fl := osc || noImpr
					w.reducedLast[i], w.objBestLast[i], w.inc[i] = fl, w.objBest[i], 0
					if fl {
						w.step[i] /= 2
						copy(w.row(w.x, i), w.row(w.xbest, i))
						copy(w.row(w.gcur, i), w.row(w.gbest, i))
					}
				}
				k = max(k-kDecr, kMin)
				counter = 0
			}
		}
	}
	return nil
}

// apgdStep is one APGD update of sample i: z = P(x + η·step(g)), then
// x ← P(x + a(z − x) + (1 − a)(x − x_prev)).
func (w *work) apgdStep(j *job, i int, a, dir float32, linf bool) {
	x, xp, g := w.row(w.x, i), w.row(w.xprev, i), w.row(w.gcur, i)
	lo, hi := w.row(w.lo, i), w.row(w.hi, i)
	x0 := j.x0[i*w.d : (i+1)*w.d]
	eta := w.step[i]
	// xbest's slot is in use; z is built in place of the momentum term:
	// new = x + a(z − x) + (1−a)(x − xp), computed per value.
	if linf {
		e := float32(eta)
		for p, gv := range g {
			z := x[p]
			switch {
			case gv*dir > 0:
				z += e
			case gv*dir < 0:
				z -= e
			}
			z = min(max(z, lo[p]), hi[p])
			v := x[p] + a*(z-x[p]) + (1-a)*(x[p]-xp[p])
			xp[p] = x[p]
			x[p] = min(max(v, lo[p]), hi[p])
		}
		return
	}
	// L2: z = P(x + η g/‖g‖), then the momentum combination, then P.
	gn := norm2(g)
	f := float32(0)
	if gn > 0 {
		f = float32(eta/gn) * dir
	}
	// z's norm to x0 is needed before combining: compute z into xp's
	// partner by two passes (z − x0 norm first).
	var s float64
	for p, gv := range g {
		z := min(max(x[p]+f*gv, lo[p]), hi[p])
		d := float64(z) - float64(x0[p])
		s += d * d
	}
	scale := 1.0
	if n := math.Sqrt(s); n > j.eps {
		scale = j.eps / n
	}
	for p, gv := range g {
		z := min(max(x[p]+f*gv, lo[p]), hi[p])
		z = x0[p] + float32((float64(z)-float64(x0[p]))*scale)
		v := x[p] + a*(z-x[p]) + (1-a)*(x[p]-xp[p])
		xp[p] = x[p]
		x[p] = v
	}
	clampBox(x, lo, hi)
	projectL2(x, x0, j.eps)
}

// squareParams are the knobs of the Square attack.
type squareParams struct {
	queries  int
	pInit    float64
	targeted bool
	c, h, w  int // sample layout (channels, height, width)
}

// pSelection is the Square schedule of the share of changed values
// (Andriushchenko et al. 2020, reference code), for iteration it of n.
func pSelection(pInit float64, it, n int) float64 {
	i := int(float64(it) / float64(n) * 10000)
	switch {
	case i <= 10:
		return pInit
	case i <= 50:
		return pInit / 2
	case i <= 200:
		return pInit / 4
	case i <= 500:
		return pInit / 8
	case i <= 1000:
		return pInit / 16
	case i <= 2000:
		return pInit / 32
	case i <= 4000:
		return pInit / 64
	case i <= 6000:
		return pInit / 128
	case i <= 8000:
		return pInit / 256
	}
	return pInit / 512
}

// square runs the L∞ Square attack (Andriushchenko et al. 2020): from a
// random vertical-stripe start, each query moves one random s×s window
// per sample to a vertex of the eps box and keeps it when the margin loss
// drops. Forward passes only.
func (w *work) square(ctx context.Context, j *job, p squareParams, rng *rand.Rand) error {
	w.activate(j, p.targeted)
	if len(w.act) == 0 {
		return nil
	}
	in := w.fwdIn()
	for _, i := range w.act {
		x, x0 := w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d]
		lo, hi := w.row(w.lo, i), w.row(w.hi, i)
		for c := 0; c < p.c; c++ {
			for col := 0; col < p.w; col++ {
				s := float32(j.eps)
				if rng.IntN(2) == 0 {
					s = -s
				}
				for r := 0; r < p.h; r++ {
					q := (c*p.h+r)*p.w + col
					x[q] = min(max(x0[q]+s, lo[q]), hi[q])
				}
			}
		}
	}
	if err := w.squareFirst(ctx, j, in, p.targeted); err != nil {
		return err
	}
	for it := 1; it < p.queries && len(w.act) > 0; it++ {
		pp := pSelection(p.pInit, it, p.queries)
		sh, sw := 1, 1
		if p.h > 1 {
			s := int(math.Round(math.Sqrt(pp * float64(p.h*p.w))))
			s = min(max(s, 1), p.h-1)
			sh, sw = s, min(s, p.w)
		} else {
			sw = min(max(int(math.Round(pp*float64(p.w))), 1), max(p.w-1, 1))
		}
		// stage candidates: the current point with one window moved
		for r, i := range w.act {
			cand := in[r*w.d : (r+1)*w.d]
			x, x0 := w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d]
			lo, hi := w.row(w.lo, i), w.row(w.hi, i)
			copy(cand, x)
			for try := 0; try < 10; try++ {
				vh, vw := rng.IntN(p.h-sh+1), rng.IntN(p.w-sw+1)
				w.wh[i], w.ww[i] = vh, vw
				changed := false
				for c := 0; c < p.c; c++ {
					s := float32(j.eps)
					if rng.IntN(2) == 0 {
						s = -s
					}
					for a := vh; a < vh+sh; a++ {
						for b := vw; b < vw+sw; b++ {
							q := (c*p.h+a)*p.w + b
							v := min(max(x0[q]+s, lo[q]), hi[q])
							if v != x[q] {
								changed = true
							}
							cand[q] = v
						}
					}
				}
				if changed {
					break
				}
			}
		}
		if err := w.squareStep(ctx, j, in, p.targeted); err != nil {
			return err
		}
	}
	return nil
}

// squareLoss is the loss both Square attacks lower for sample i with
// output row: the margin of the class to beat, y (untargeted), or minus the
// target's margin (targeted).
func (w *work) squareLoss(j *job, row []float32, i int, targeted bool) float32 {
	if targeted {
		return float32(-margin(row, int(w.tgt[i])))
	}
	return float32(margin(row, int(j.y[i])))
}

// squareFirst runs the Square attacks' starting points (w.x of the active
// samples, staged through in): a sample that already reaches the goal
// succeeds, the others keep their loss as the best so far and stay active.
func (w *work) squareFirst(ctx context.Context, j *job, in []float32, targeted bool) error {
	out, err := w.fwdActive(ctx, j, in, w.x)
	if err != nil {
		return err
	}
	w.next = w.next[:0]
	for r, i := range w.act {
		if w.hit(j, out, r, i, targeted) {
			w.succeed(j, i)
			continue
		}
		w.objBest[i] = w.squareLoss(j, out[r*w.k:(r+1)*w.k], i, targeted)
		w.next = append(w.next, i)
	}
	w.act, w.next = w.next, w.act
	return nil
}

// squareStep runs one query of the Square attacks: the candidates staged in
// in (a row per active sample) are run, and a candidate that lowers its
// sample's loss replaces the current point; a sample whose new point
// reaches the goal succeeds, the others stay active.
func (w *work) squareStep(ctx context.Context, j *job, in []float32, targeted bool) error {
	m := w.rows(len(w.act))
	out, err := w.fwd.Run(ctx, in[:m*w.d], m)
	if err != nil {
		return err
	}
	w.next = w.next[:0]
	for r, i := range w.act {
		j.queries[i]++
		l := w.squareLoss(j, out[r*w.k:(r+1)*w.k], i, targeted)
		if l < w.objBest[i] {
			w.objBest[i] = l
			copy(w.row(w.x, i), in[r*w.d:(r+1)*w.d])
			if w.hit(j, out, r, i, targeted) {
				w.succeed(j, i)
				continue
			}
		}
		w.next = append(w.next, i)
	}
	w.act, w.next = w.next, w.act
	return nil
}

// fwdIn returns the staging buffer for forward runs (the xbest slot,
// unused by Square).
func (w *work) fwdIn() []float32 { return w.xbest }

// fwdActive runs the forward model on the active samples' points in src.
func (w *work) fwdActive(ctx context.Context, j *job, in, src []float32) ([]float32, error) {
	for r, i := range w.act {
		copy(in[r*w.d:(r+1)*w.d], w.row(src, i))
	}
	m := w.rows(len(w.act))
	out, err := w.fwd.Run(ctx, in[:m*w.d], m)
	if err != nil {
		return nil, err
	}
	for _, i := range w.act {
		j.queries[i]++
	}
	return out, nil
}
