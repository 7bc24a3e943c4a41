package evasion

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// SignOPT is the name of the Sign-OPT decision-based attack (Cheng et al.
// 2020) in attacks[].name.
const SignOPT = "signopt"

// Sign-OPT defaults: ART 1.18.2's SignOPTAttack.__init__ (k, alpha, beta,
// epsilon, num_trial).
const (
	DefaultSignOPTK        = 200
	DefaultSignOPTAlpha    = 0.2
	DefaultSignOPTBeta     = 0.001
	DefaultSignOPTEpsilon  = 0.001
	DefaultSignOPTNumTrial = 100
	// signoptTolerate is the untargeted tolerance of ART's
	// _fine_grained_binary_search; signoptMaxLbd the bound of its local
	// search's expansion.
	signoptTolerate = 1e-3
	signoptMaxLbd   = 20
)

// validateSignOPT checks a signopt entry (L2 only, as ART's) and fills in
// its defaults.
func (a *AttackConfig) validateSignOPT(where string, has func(key string) bool) error {
	if a.Norm != L2 {
		return errs.Invalidf("%s.norm %q: signopt searches L2 distances only (as ART's SignOPTAttack); use norm: l2, or hopskipjump for linf", where, a.Norm)
	}
	if err := a.validateBudgets(where, has); err != nil {
		return err
	}
	if !has("k") {
		a.K = DefaultSignOPTK
	}
	if !has("num_trial") {
		a.NumTrial = DefaultSignOPTNumTrial
	}
	for _, c := range []struct {
		key string
		v   *float64
		def float64
	}{{"alpha", &a.Alpha, DefaultSignOPTAlpha}, {"beta", &a.Beta, DefaultSignOPTBeta}, {"epsilon", &a.Epsilon, DefaultSignOPTEpsilon}} {
		if !has(c.key) {
			*c.v = c.def
		}
		if !(*c.v > 0 && *c.v < 100) {
			return errs.Invalidf("%s.%s %v: want a number in (0, 100)", where, c.key, *c.v)
		}
	}
	return nil
}

// errOutOfBudget stops a sample whose next query would pass its budget.
var errOutOfBudget = errors.New("out of query budget")

// soScratch is Sign-OPT's per-worker memory, made on first use.
type soScratch struct {
	xg, theta, minTheta []float32 // d: the current, trial and best directions
	grad                []float64 // d: the sign-gradient estimate
	u                   []float32 // rows×d: the directions of a run
}

// signopt runs Sign-OPT (untargeted, L2) on each clean-correct sample of
// the batch in turn, as ART 1.18.2's SignOPTAttack._attack
// (art/attacks/evasion/sign_opt.py lines 410–584, with
// _fine_grained_binary_search 231–282, _fine_grained_binary_search_local
// 284–342 and _sign_grad 370–408): num_trial Gaussian directions θ, each
// that misclassifies x0 + θ searched for its distance g(θ) along θ (the
// smallest kept); then per iteration the sign of the directional
// derivative of g from k perturbed directions θ + ε·u (one batched run of
// k queries), a line search on the step α (doubled while g improves, else
// quartered), the local search for g at each trial (tolerance β/500).
// Points are x0 + λ·θ clipped to data.range (ART's _is_label clips); each
// evaluation is one query; a sample stops when its next run would pass
// the largest budget. The norm at budget B is that of the clipped point
// x0 + g·θ of the best direction known within B queries.
func (w *work) signopt(ctx context.Context, j *job, dc *decider, a AttackConfig, rng *rand.Rand, norms, last [][]float64) error {
	hn := hsjNorms{budgets: a.Budgets, best: norms, last: last}
	for b := range norms {
		clear(norms[b][:j.n])
		clear(last[b][:j.n])
	}
	if w.soS == nil {
		w.soS = &soScratch{xg: make([]float32, w.d), theta: make([]float32, w.d), minTheta: make([]float32, w.d), grad: make([]float64, w.d)}
	}
	maxB := int32(a.Budgets[len(a.Budgets)-1])
	for i := 0; i < j.n; i++ {
		if !j.correct[i] {
			continue
		}
		w.act = append(w.act[:0], i)
		copy(dc.in()[:w.d], j.x0[i*w.d:(i+1)*w.d])
		cls, err := w.decide(ctx, j, dc, w.act)
		if err != nil {
			return err
		}
		j.pred[i] = cls[0]
		if int64(cls[0]) != j.y[i] {
			j.success[i] = true // already wrong: norm 0
			continue
		}
		for b := range norms {
			norms[b][i], last[b][i] = math.Inf(1), math.Inf(1)
		}
		err = w.signoptOne(ctx, j, dc, i, a, maxB, rng, &hn)
		if err != nil && !errors.Is(err, errOutOfBudget) {
			return err
		}
	}
	return nil
}

// soQuery reports whether the model misclassifies sample i's point
// x0 + lbd·θ clipped to its box (one query), and the label.
func (w *work) soQuery(ctx context.Context, j *job, dc *decider, i int, lbd float64, theta []float32, maxB int32) (bool, int, error) {
	if j.queries[i]+1 > maxB {
		return false, 0, errOutOfBudget
	}
	row := dc.in()[:w.d]
	x0, lo, hi := j.x0[i*w.d:(i+1)*w.d], w.row(w.lo, i), w.row(w.hi, i)
	l := float32(lbd)
	for p := range row {
		row[p] = min(max(x0[p]+l*theta[p], lo[p]), hi[p])
	}
	w.act = append(w.act[:0], i)
	cls, err := w.decide(ctx, j, dc, w.act)
	if err != nil {
		return false, 0, err
	}
	return int64(cls[0]) != j.y[i], cls[0], nil
}

// soCommit records sample i's direction theta at distance lbd: its point
// x0 + lbd·θ, clipped, is the sample's current adversarial point.
func (w *work) soCommit(j *job, i int, lbd float64, theta []float32, cls int, h *hsjNorms) {
	x, x0, lo, hi := w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d], w.row(w.lo, i), w.row(w.hi, i)
	l := float32(lbd)
	for p := range x {
		x[p] = min(max(x0[p]+l*theta[p], lo[p]), hi[p])
	}
	w.hsjCommit(j, i, cls, h, true)
}

// soNormalize scales v to unit L2 norm and returns its former norm.
func soNormalize(v []float32) float64 {
	n := norm2(v)
	if n > 0 {
		f := float32(1 / n)
		for p := range v {
			v[p] *= f
		}
	}
	return n
}

// signoptOne is Sign-OPT on sample i.
func (w *work) signoptOne(ctx context.Context, j *job, dc *decider, i int, a AttackConfig, maxB int32, rng *rand.Rand, h *hsjNorms) error {
	m := w.soS
	// the initial direction: the best of num_trial Gaussian ones
	gBest := math.Inf(1)
	bestCls := 0
	for trial := 0; trial < a.NumTrial; trial++ {
		for p := range m.theta {
			m.theta[p] = float32(rng.NormFloat64())
			if w.fixed != nil && w.fixed[p] {
				m.theta[p] = 0
			}
		}
		adv, cls, err := w.soQuery(ctx, j, dc, i, 1, m.theta, maxB)
		if err != nil {
			return err
		}
		if !adv {
			continue
		}
		lbd0 := soNormalize(m.theta)
		lbd, lc, err := w.soSearch(ctx, j, dc, i, m.theta, lbd0, gBest, maxB)
		if err != nil {
			return err
		}
		if lc >= 0 {
			cls = lc
		}
		if lbd < gBest {
			gBest, bestCls = lbd, cls
			copy(m.xg, m.theta)
			w.soCommit(j, i, gBest, m.xg, bestCls, h)
		}
	}
	if math.IsInf(gBest, 1) {
		return nil // no adversarial direction: failed
	}
	alpha, beta := a.Alpha, a.Beta
	g := gBest
	for it := 0; ; it++ {
		if err := w.soSignGrad(ctx, j, dc, i, a, g, maxB, rng); err != nil {
			return err
		}
		minG := g
		copy(m.minTheta, m.xg)
		tryStep := func(alpha float64) (float64, int, error) {
			for p := range m.theta {
				m.theta[p] = m.xg[p] - float32(alpha*m.grad[p])
			}
			soNormalize(m.theta)
			return w.soLocal(ctx, j, dc, i, m.theta, minG, beta/500, maxB)
		}
		for range 15 {
			ng, cls, err := tryStep(alpha)
			if err != nil {
				return err
			}
			alpha *= 2
			if ng < minG {
				copy(m.minTheta, m.theta)
				minG, bestCls = ng, cls
			} else {
				break
			}
		}
		if minG >= g {
			for range 15 {
				alpha *= 0.25
				ng, cls, err := tryStep(alpha)
				if err != nil {
					return err
				}
				if ng < g {
					copy(m.minTheta, m.theta)
					minG, bestCls = ng, cls
					break
				}
			}
		}
		if alpha < 1e-4 {
			alpha = 1
			beta *= 0.1
			if beta < 1e-8 {
				return nil
			}
		}
		copy(m.xg, m.minTheta)
		g = minG
		w.soCommit(j, i, g, m.xg, bestCls, h)
	}
}

// soSearch is ART's _fine_grained_binary_search (untargeted): the distance
// along the unit direction theta at which the label flips, from lbd (or the
// best so far, when closer and already misclassified there), to tolerance
// 1e-3; +Inf when theta is no better than the best. cls is the label at the
// returned distance when it was queried (−1 otherwise).
func (w *work) soSearch(ctx context.Context, j *job, dc *decider, i int, theta []float32, lbd, best float64, maxB int32) (float64, int, error) {
	cls := -1
	if lbd > best {
		adv, c, err := w.soQuery(ctx, j, dc, i, best, theta, maxB)
		if err != nil {
			return 0, 0, err
		}
		if !adv {
			return math.Inf(1), cls, nil
		}
		lbd, cls = best, c
	}
	return w.soBisect(ctx, j, dc, i, theta, 0, lbd, signoptTolerate, cls, maxB)
}

// soBisect halves [lo, hi] along theta until it is at most tol wide, hi
// misclassified (cls its class) and lo not, and returns hi and its class:
// the bisection that ends ART's fine-grained searches.
func (w *work) soBisect(ctx context.Context, j *job, dc *decider, i int, theta []float32, lo, hi, tol float64, cls int, maxB int32) (float64, int, error) {
	for hi-lo > tol {
		mid := (lo + hi) / 2
		adv, c, err := w.soQuery(ctx, j, dc, i, mid, theta, maxB)
		if err != nil {
			return 0, 0, err
		}
		if adv {
			hi, cls = mid, c
		} else {
			lo = mid
		}
	}
	return hi, cls, nil
}

// soLocal is ART's _fine_grained_binary_search_local (untargeted): from
// lbd, widen by 1.01 until misclassified (+Inf past 20) or narrow by 0.99
// until not, then bisect to tol.
func (w *work) soLocal(ctx context.Context, j *job, dc *decider, i int, theta []float32, lbd, tol float64, maxB int32) (float64, int, error) {
	var lo, hi float64
	cls := -1
	adv, c, err := w.soQuery(ctx, j, dc, i, lbd, theta, maxB)
	if err != nil {
		return 0, 0, err
	}
	if !adv {
		lo, hi = lbd, lbd*1.01
		for {
			adv, c, err := w.soQuery(ctx, j, dc, i, hi, theta, maxB)
			if err != nil {
				return 0, 0, err
			}
			if adv {
				cls = c
				break
			}
			hi *= 1.01
			if hi > signoptMaxLbd {
				return math.Inf(1), cls, nil
			}
		}
	} else {
		hi, lo, cls = lbd, lbd*0.99, c
		for {
			adv, _, err := w.soQuery(ctx, j, dc, i, lo, theta, maxB)
			if err != nil {
				return 0, 0, err
			}
			if !adv {
				break
			}
			lo *= 0.99
		}
	}
	return w.soBisect(ctx, j, dc, i, theta, lo, hi, tol, cls, maxB)
}

// soSignGrad is ART's _sign_grad: k unit Gaussian u, the point
// x0 + g·(θ + ε·u)/‖θ + ε·u‖ each, and the mean of u signed +1 where the
// label stays right and −1 where it flips, into m.grad; the k queries run
// in batches of the decider's rows.
func (w *work) soSignGrad(ctx context.Context, j *job, dc *decider, i int, a AttackConfig, g float64, maxB int32, rng *rand.Rand) error {
	m := w.soS
	if j.queries[i]+int32(a.K) > maxB {
		return errOutOfBudget
	}
	if m.u == nil {
		m.u = make([]float32, dc.max*w.d)
	}
	clear(m.grad)
	x0, lo, hi := j.x0[i*w.d:(i+1)*w.d], w.row(w.lo, i), w.row(w.hi, i)
	in := dc.in()
	eps, gl := float32(a.Epsilon), float32(g)
	for pos := 0; pos < a.K; {
		n := min(dc.max, a.K-pos)
		for r := 0; r < n; r++ {
			u, row := m.u[r*w.d:(r+1)*w.d], in[r*w.d:(r+1)*w.d]
			for p := range u {
				u[p] = float32(rng.NormFloat64())
				if w.fixed != nil && w.fixed[p] {
					u[p] = 0
				}
			}
			soNormalize(u)
			var s float64
			for p := range u {
				v := float64(m.xg[p] + eps*u[p])
				s += v * v
			}
			f := float32(1 / math.Sqrt(s))
			for p := range row {
				row[p] = min(max(x0[p]+gl*((m.xg[p]+eps*u[p])*f), lo[p]), hi[p])
			}
		}
		cls, err := dc.run(ctx, ladder(dc.max, n))
		if err != nil {
			return err
		}
		j.queries[i] += int32(n)
		for r := 0; r < n; r++ {
			sign := 1.0
			if int64(cls[r]) != j.y[i] {
				sign = -1
			}
			for p, v := range m.u[r*w.d : (r+1)*w.d] {
				m.grad[p] += sign * float64(v)
			}
		}
		pos += n
	}
	for p := range m.grad {
		m.grad[p] /= float64(a.K)
	}
	return nil
}
