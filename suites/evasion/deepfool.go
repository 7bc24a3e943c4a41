package evasion

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// DeepFool is the name of the DeepFool minimal-perturbation attack
// (Moosavi-Dezfooli et al. 2016) in attacks[].name.
const DeepFool = "deepfool"

// DeepFool defaults (docs/metrics/evasion.md).
const (
	// DefaultDeepFoolSteps is ART's max_iter.
	DefaultDeepFoolSteps = 100
	// DefaultOvershoot is the paper's overshoot η (ART's epsilon defaults
	// to 1e-6; the paper and its reference code use 0.02).
	DefaultOvershoot = 0.02
	// DefaultNBGrads is ART's nb_grads: the classes linearised are the
	// top nb_grads of the clean output.
	DefaultNBGrads = 10
	// deepfoolTol is ART's tol (10e-8), added to the norms it divides by.
	deepfoolTol = 10e-8
)

// dfScratch is DeepFool's per-worker memory, made on first use.
type dfScratch struct {
	rtot  []float64 // batch×d: the summed steps r_1 + … + r_i
	value []float64 // per sample: |f_l|/‖w_l‖_* of the best class so far
	f     []float64 // per sample: its logit difference f_l
}

func (w *work) dfMem() *dfScratch {
	if w.dfS == nil {
		w.dfS = &dfScratch{rtot: make([]float64, w.batch*w.d), value: make([]float64, w.batch), f: make([]float64, w.batch)}
	}
	return w.dfS
}

// epsStarStart begins a minimal-perturbation attack on the batch: eps[i]
// is 0 for a clean-wrong sample, +Inf (not broken yet) for the others,
// which are listed in w.act with their point w.x at the clean input.
func (w *work) epsStarStart(j *job, eps []float64) {
	w.act = w.act[:0]
	for i := 0; i < j.n; i++ {
		eps[i] = math.Inf(1)
		if !j.correct[i] {
			eps[i] = 0
			continue
		}
		copy(w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d])
		w.act = append(w.act, i)
	}
}

// deepfool runs DeepFool on the batch as ART's DeepFool.generate
// (art/attacks/evasion/deepfool.py) with the paper's overshoot applied as
// its reference code does: at every iteration each active sample's point
// x0 + (1+η)·Σr is evaluated; if misclassified, the sample succeeds there
// (ε* is its distance to x0); otherwise each candidate class l (the top
// nbGrads of the clean output but the label) gives f_l = z_l − z_y and
// w_l = ∇f_l, the class with the smallest |f_l|/(‖w_l‖_q + tol) is taken
// (q = 2 for L2, q = 1, the dual norm, for L∞), and
// r = |f_l|/(‖w_l‖₂² + tol)·w_l (L2) or |f_l|/(‖w_l‖₁ + tol)·sign(w_l)
// (L∞) is added to Σr. Points are clipped to the data range. eps[i] gets
// ε* of sample i (0 when misclassified clean, +Inf when no point was
// found within steps iterations).
func (w *work) deepfool(ctx context.Context, j *job, o oracle, steps, nbGrads int, overshoot float64, eps []float64, rng *rand.Rand) error {
	linf := j.norm == Linf
	m := w.dfMem()
	clear(m.rtot[:j.n*w.d])
	w.epsStarStart(j, eps)
	nc := min(nbGrads, w.k)
	for it := 0; len(w.act) > 0; it++ {
		for c := 1; c < nc; c++ {
			for _, i := range w.act {
				w.tgt[i] = int64(rankClass(j.clean[i*w.k:(i+1)*w.k], c))
			}
			if err := w.evalActive(ctx, j, o, true, rng); err != nil {
				return err
			}
			if c == 1 {
				if it == 0 {
					w.countZero(j, o.grad())
				}
				// the point's prediction: a success ends the sample here
				logits := o.logits()
				for r, i := range w.act {
					m.value[i] = math.Inf(1)
					if w.hit(j, logits, r, i, false) {
						w.succeed(j, i)
						x, x0 := w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d]
						if linf {
							eps[i] = distLinf(x, x0)
						} else {
							eps[i] = distL2(x, x0)
						}
					}
				}
				if it == steps {
					return nil // out of iterations: the others failed
				}
			}
			loss, g := o.loss(), o.grad()
			for r, i := range w.act {
				if j.success[i] {
					continue
				}
				gr := g[r*w.d : (r+1)*w.d]
				w.deepfoolFree(j, i, gr, m)
				f := float64(loss[r])
				v := math.Abs(f) / (dualNorm(gr, linf) + deepfoolTol)
				if v < m.value[i] {
					m.value[i], m.f[i] = v, f
					copy(w.row(w.gbest, i), gr)
				}
			}
			if c == 1 { // the other classes only for the samples still right
				w.next = w.next[:0]
				for _, i := range w.act {
					if !j.success[i] {
						w.next = append(w.next, i)
					}
				}
				w.act, w.next = w.next, w.act
				if len(w.act) == 0 {
					return nil
				}
			}
		}
		// step the samples still classified right
		w.next = w.next[:0]
		for _, i := range w.act {
			if math.IsInf(m.value[i], 1) {
				continue // no class to move towards: failed
			}
			w.deepfoolStep(j, i, m, linf, overshoot)
			w.next = append(w.next, i)
		}
		w.act, w.next = w.next, w.act
	}
	return nil
}

// deepfoolFree zeroes the values of g that would push sample i's point
// x0 + Σr further past a bound of its box it already sits on: the
// linearised distance is measured in the directions the box leaves free
// (without this, a step mostly spent on clipped pixels gains a fraction
// of the distance per iteration and never crosses; ART does not do it).
func (w *work) deepfoolFree(j *job, i int, g []float32, m *dfScratch) {
	rt := m.rtot[i*w.d : (i+1)*w.d]
	x0, lo, hi := j.x0[i*w.d:(i+1)*w.d], w.row(w.lo, i), w.row(w.hi, i)
	for p, v := range g {
		b := float64(x0[p]) + rt[p]
		if (v < 0 && b <= float64(lo[p])) || (v > 0 && b >= float64(hi[p])) {
			g[p] = 0
		}
	}
}

// dualNorm is ‖g‖₁ (linf: the dual of L∞) or ‖g‖₂ (norm2).
func dualNorm(g []float32, linf bool) float64 {
	if !linf {
		return norm2(g)
	}
	var s float64
	for _, v := range g {
		s += math.Abs(float64(v))
	}
	return s
}

// deepfoolStep adds sample i's step r to Σr, keeping x0 + Σr inside the
// box, and sets its point to x0 + (1+η)·Σr, clipped to the box.
func (w *work) deepfoolStep(j *job, i int, m *dfScratch, linf bool, overshoot float64) {
	g := w.row(w.gbest, i)
	f := math.Abs(m.f[i])
	var scale float64
	if linf {
		scale = f / (dualNorm(g, true) + deepfoolTol)
	} else {
		n := dualNorm(g, false)
		scale = f / (n*n + deepfoolTol)
	}
	rt := m.rtot[i*w.d : (i+1)*w.d]
	x, x0 := w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d]
	lo, hi := w.row(w.lo, i), w.row(w.hi, i)
	for p, v := range g {
		step := scale * float64(v)
		if linf {
			step = 0
			switch {
			case v > 0:
				step = scale
			case v < 0:
				step = -scale
			}
		}
		// Σr stays inside the box, as ART's clipped batch (lines 174–180):
		// a step past a bound is not kept for a later step to undo
		b0 := float64(x0[p])
		rt[p] = min(max(b0+rt[p]+step, float64(lo[p])), float64(hi[p])) - b0
		x[p] = min(max(float32(b0+(1+overshoot)*rt[p]), lo[p]), hi[p])
	}
}

// dfRun is the result of a minimal-perturbation attack (deepfool, fmn)
// over the whole data: ε* and the queries per sample, the adversarial
// points, and the zero-gradient count.
type dfRun struct {
	eps      []float64
	pred     []int // prediction at the last point evaluated
	queries  []int32
	adv      []float32
	zero     []bool
	zeroGrad int
	gradSeen int
}

// deepfoolAll runs the minimal-perturbation attack a (DeepFool, or FMN:
// fmn.go) once on every batch; its outcomes at each eps follow from ε*
// (deepfoolOutcome), so the attack runs once however many eps are listed.
// Each batch draws from its own stream (NES gradients; the exact ones use
// none).
func (rt *runners) deepfoolAll(ctx context.Context, t *suite.Target, a AttackConfig, clean []float32, correct []bool) (*dfRun, error) {
	ds := t.Data
	n, d, k := ds.N, ds.SampleSize(), t.Classes
	nb := t.Batches(n)
	r := &dfRun{eps: make([]float64, n), queries: make([]int32, n), adv: make([]float32, n*d), zero: make([]bool, n)}
	success := make([]bool, n)
	r.pred = make([]int, n)
	zero := make([][2]int, nb)
	var done atomic.Int64
	seed := suite.DeriveSeed(t.Seed, a.Key()+"."+a.Norm)
	err := rt.forBatches(ctx, t, n, func(ctx context.Context, wi, b, lo, hi int) error {
		w := rt.works[wi]
		j := &job{n: hi - lo, eps: math.Inf(1), norm: a.Norm, x0: ds.X[lo*d : hi*d], y: ds.Y[lo:hi], correct: correct[lo:hi],
			clean: clean[lo*k : hi*k], success: success[lo:hi], pred: r.pred[lo:hi], queries: r.queries[lo:hi],
			xadv: r.adv[lo*d : hi*d], zero: r.zero[lo:hi]}
		w.begin(j)
		rng := suite.BatchRand(seed, b)
		var err error
		if a.Name == FMN {
			err = w.fmn(ctx, j, w.oracles[headMarginT], fmnParamsOf(a, t.Range), r.eps[lo:hi], rng)
		} else {
			err = w.deepfool(ctx, j, w.oracles[headMarginT], a.Steps, a.NBGrads, *a.Overshoot, r.eps[lo:hi], rng)
		}
		if err != nil {
			return err
		}
		zero[b] = [2]int{j.zeroGrad, j.gradSeen}
		done.Add(int64(j.n))
		if rt.dfSave != nil {
			return rt.dfSave(r, b, lo, hi, zero[b])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, z := range zero {
		r.zeroGrad += z[0]
		r.gradSeen += z[1]
	}
	return r, nil
}

// deepfoolAt is attack for a deepfool or fmn entry: the attack runs at the
// entry's first eps and is kept in rt.dfRuns; every eps is judged from its
// ε*.
func (rt *runners) deepfoolAt(ctx context.Context, t *suite.Target, cfg Config, a AttackConfig, eps float64, clean []float32, correct []bool) (*outcome, error) {
	key := a.Key() + "." + a.Norm
	df := rt.dfRuns[key]
	if df == nil {
		var err error
		if df, err = rt.deepfoolAll(ctx, t, a, clean, correct); err != nil {
			return nil, err
		}
		if rt.dfRuns == nil {
			rt.dfRuns = map[string]*dfRun{}
		}
		rt.dfRuns[key] = df
	}
	o := deepfoolOutcome(t, a, eps, df, correct, cfg.SaveExamples)
	if rt.keepAdv {
		d := t.Data.SampleSize()
		o.adv = slices.Clone(df.adv)
		for i, s := range o.success {
			if !s {
				copy(o.adv[i*d:(i+1)*d], t.Data.X[i*d:(i+1)*d])
			}
		}
	}
	return o, nil
}

// deepfoolOutcome is DeepFool's outcome at eps: a clean-correct sample
// falls when ε* ≤ eps (eps 0 breaks nothing).
func deepfoolOutcome(t *suite.Target, a AttackConfig, eps float64, r *dfRun, correct []bool, saveExamples int) *outcome {
	n, d := t.Data.N, t.Data.SampleSize()
	nb := t.Batches(n)
	o := &outcome{a: a, eps: eps, mode: ModeExact, success: make([]bool, n), robust: make([]bool, n),
		queries: r.queries, pert: make([]float64, n), examples: make([][]example, nb), zero: r.zero,
		zeroGrad: r.zeroGrad, gradSeen: r.gradSeen}
	for i := 0; i < n; i++ {
		if !correct[i] {
			continue
		}
		if eps > 0 && r.eps[i] <= eps {
			o.success[i], o.pert[i] = true, r.eps[i]
			b := i / t.BatchSize
			if len(o.examples[b]) < saveExamples {
				o.examples[b] = append(o.examples[b], example{i: i, pred: r.pred[i], x: append([]float32(nil), r.adv[i*d:(i+1)*d]...)})
			}
			continue
		}
		o.robust[i] = true
	}
	return o
}

// deepfoolKeys are the metrics of a deepfool or fmn entry, prefix
// "<key>.<norm>".
func deepfoolKeys(prefix string) []string {
	keys := []string{prefix + ".median_eps", prefix + ".mean_eps", prefix + ".eps_q10", prefix + ".eps_q25", prefix + ".eps_q75"}
	return append(keys, suite.ProportionKeys(prefix+".success_rate")...)
}

// deepfoolSummary sets the ε* metrics of a deepfool or fmn entry and replaces
// its curve in details with the one ε* gives: robust accuracy at every
// distinct finite ε* (a sample is robust at ε while ε < ε*), from ε = 0.
// The quantiles are over every clean-correct sample, a failure counting as
// +Inf; one that falls on +Inf (the median when DeepFool failed on half of
// them) is undefined, with a warning, as JSON has no +Inf. mean_eps is
// over the finite ones.
func deepfoolSummary(r *suite.Result, t *suite.Target, a AttackConfig, df *dfRun, correct []bool, nCorrect int) {
	n := t.Data.N
	prefix := a.Key() + "." + a.Norm
	var all, finite []float64
	for i, c := range correct {
		if !c {
			continue
		}
		all = append(all, df.eps[i])
		if !math.IsInf(df.eps[i], 1) {
			finite = append(finite, df.eps[i])
		}
	}
	slices.Sort(all)
	slices.Sort(finite)
	ok := len(all) > 0
	q := func(p float64) float64 {
		if !ok {
			return 0
		}
		return quantileInf(all, p)
	}
	med := 0.0
	if ok {
		med = stats.Median(all)
	}
	// JSON has no +Inf: a quantile among the failures is undefined
	var inf []string
	for _, kv := range []struct {
		key string
		v   float64
	}{{".median_eps", med}, {".eps_q10", q(0.1)}, {".eps_q25", q(0.25)}, {".eps_q75", q(0.75)}} {
		fin := !math.IsInf(kv.v, 1)
		r.Set(prefix+kv.key, kv.v, ok && fin)
		if ok && !fin {
			inf = append(inf, prefix+kv.key)
		}
	}
	if len(inf) > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %s found no adversarial point for %d of %d samples within %d steps, so %s fall among the failures (ε* = +Inf) and are undefined",
			prefix, epsStarTitle[a.Name], len(all)-len(finite), len(all), a.Steps, strings.Join(inf, ", ")))
	}
	var sum float64
	for _, v := range finite {
		sum += v
	}
	r.Set(prefix+".mean_eps", sum/float64(max(len(finite), 1)), len(finite) > 0)
	r.SetProportion(prefix+".success_rate", len(finite), nCorrect, t.ConfidenceLevel)

	if curves, _ := r.Details["curves"].(map[string][]map[string]any); curves != nil {
		curves[prefix] = epsCurve(finite, nCorrect, n)
	}
	dets, _ := r.Details[a.Name].(map[string]any)
	if dets == nil {
		dets = map[string]any{}
		r.Details[a.Name] = dets
	}
	epsStar := make([]any, n) // JSON has no +Inf: failures are null
	for i, v := range df.eps {
		if !math.IsInf(v, 1) {
			epsStar[i] = v
		}
	}
	det := map[string]any{"eps_star": epsStar, "failed": len(all) - len(finite), "attacked": len(all)}
	for k, v := range params(a) {
		det[k] = v
	}
	dets[prefix] = det
}

// epsCurve is the robust-accuracy curve that per-sample minimal norms
// give (finite: those of the clean-correct samples broken, sorted; nCorrect
// of n samples clean-correct): the clean accuracy at 0, then one point at
// every distinct norm, the robust accuracy just after it (a sample is
// robust at ε while ε < its norm).
func epsCurve(finite []float64, nCorrect, n int) []map[string]any {
	curve := []map[string]any{{"eps": 0.0, "robust_accuracy": float64(nCorrect) / float64(n)}}
	robust := nCorrect
	for p := 0; p < len(finite); {
		e := finite[p]
		for p < len(finite) && finite[p] == e {
			robust--
			p++
		}
		if e == 0 {
			curve[0]["robust_accuracy"] = float64(robust) / float64(n)
			continue
		}
		curve = append(curve, map[string]any{"eps": e, "robust_accuracy": float64(robust) / float64(n)})
	}
	return curve
}

// epsStarTitle names the ε* attacks in warnings.
var epsStarTitle = map[string]string{DeepFool: "DeepFool", FMN: "FMN"}

// quantileInf is stats.Quantile on sorted values that may end in +Inf:
// a quantile interpolated towards +Inf is +Inf.
func quantileInf(sorted []float64, p float64) float64 {
	h := float64(len(sorted)-1) * p
	lo := int(math.Floor(h))
	switch {
	case lo >= len(sorted)-1 || h == float64(lo):
		return sorted[min(lo, len(sorted)-1)]
	case math.IsInf(sorted[lo+1], 1):
		return math.Inf(1)
	}
	return stats.Quantile(sorted, p)
}
