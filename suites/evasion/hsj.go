package evasion

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// HopSkipJump is the name of the HopSkipJump decision-based attack (Chen,
// Jordan and Wainwright 2020) in attacks[].name.
const HopSkipJump = "hopskipjump"

// HopSkipJump defaults: ART 1.18.2's HopSkipJump.__init__ (init_eval,
// max_eval, init_size), and the query budgets of an entry without budgets.
const (
	DefaultHSJInitEval = 100
	DefaultHSJMaxEval  = 10000
	DefaultHSJInitSize = 100
	// hsjInitThreshold is ART's threshold of the binary search after the
	// random initialisation (_init_sample: threshold=0.001, L2).
	hsjInitThreshold = 0.001
	// hsjMaxHalvings caps the geometric step search (ART's is unbounded;
	// after 64 halvings the step is below float32 resolution and the point
	// is the adversarial one it starts from).
	hsjMaxHalvings = 64
)

// defaultBudgets are the query budgets of an entry that sets none.
func defaultBudgets() []int { return []int{1000, 5000} }

// validateHSJ checks a hopskipjump entry's budgets and parameters and fills
// in their defaults.
func (a *AttackConfig) validateHSJ(where string, has func(key string) bool) error {
	if err := a.validateBudgets(where, has); err != nil {
		return err
	}
	if !has("init_eval") {
		a.InitEval = DefaultHSJInitEval
	}
	if !has("max_eval") {
		a.MaxEval = max(DefaultHSJMaxEval, a.InitEval)
	}
	if !has("init_size") {
		a.InitSize = DefaultHSJInitSize
	}
	if a.InitEval > a.MaxEval {
		return errs.Invalidf("%s.init_eval %d: larger than max_eval %d", where, a.InitEval, a.MaxEval)
	}
	return nil
}

// validateBudgets checks a decision-based entry's budgets and fills in the
// default.
func (a *AttackConfig) validateBudgets(where string, has func(key string) bool) error {
	if !has("budgets") {
		a.Budgets = defaultBudgets()
	}
	if len(a.Budgets) == 0 {
		return errs.Invalidf("%s.budgets: empty; list query budgets per sample, for example [1000, 5000], or leave budgets out", where)
	}
	for i, b := range a.Budgets {
		if b < 1 || b > maxQueries {
			return errs.Invalidf("%s.budgets[%d] %d: want a number of queries in 1..%d", where, i, b, maxQueries)
		}
		if i > 0 && b <= a.Budgets[i-1] {
			return errs.Invalidf("%s.budgets[%d] %d: budgets must be ascending and distinct (after %d)", where, i, b, a.Budgets[i-1])
		}
	}
	return nil
}

// budgetKey is "<prefix>.<name>@<budget>".
func budgetKey(prefix, name string, b int) string {
	return prefix + "." + name + "@" + strconv.Itoa(b)
}

// hsjKeys are the metrics of a hopskipjump entry, prefix "<key>.<norm>".
func hsjKeys(prefix string, budgets []int) []string {
	var keys []string
	for _, b := range budgets {
		keys = append(keys, budgetKey(prefix, "median_norm", b))
		keys = append(keys, suite.ProportionKeys(budgetKey(prefix, "success_rate", b))...)
	}
	return append(keys, prefix+".queries")
}

// hsjScratch is HopSkipJump's per-worker memory, made on first use.
type hsjScratch struct {
	lb, ub, thr, delta, step []float64 // per sample
	ubCls                    []int     // per sample: the label at the search's upper end
	npos                     []int     // per sample: adversarial answers of the gradient estimate
	sfu, su                  []float64 // batch×d: Σ f·u and Σ u of the gradient estimate
	upd                      []float32 // batch×d: the update direction
	set, keep                []int
}

// hsjMem returns the scratch, made on first use for deciders of up to
// rows rows.
func (w *work) hsjMem(rows int) *hsjScratch {
	if w.hsjS == nil {
		b := w.batch
		w.hsjS = &hsjScratch{lb: make([]float64, b), ub: make([]float64, b), thr: make([]float64, b),
			delta: make([]float64, b), step: make([]float64, b), ubCls: make([]int, b), npos: make([]int, b),
			sfu: make([]float64, b*w.d), su: make([]float64, b*w.d), upd: make([]float32, b*w.d),
			set: make([]int, 0, max(b, rows)), keep: make([]int, 0, max(b, rows))}
	}
	return w.hsjS
}

// hsjRun is a hopskipjump entry's result over the whole data: per budget
// and sample the norm reached (0 for samples the model already gets wrong,
// +Inf where no adversarial point was found within the budget), and the
// per-sample queries, points and labels at the largest budget (as dfRun,
// so that every eps is judged from the norm as for deepfool).
type hsjRun struct {
	norms [][]float64
	// last: per budget and sample, the norm of the point ART's
	// HopSkipJump.generate would return within the budget (the point after
	// its last full iteration's step, which lies past the boundary)
	last [][]float64
	df   *dfRun
}

// hsj runs HopSkipJump (untargeted, Chen et al. 2020) on the batch as ART
// 1.18.2's HopSkipJump.generate does for each sample
// (art/attacks/evasion/hop_skip_jump.py: _init_sample lines 337–372,
// _attack 374–462, _binary_search 464–530, _compute_delta 532–560,
// _compute_update 562–630, _interpolate 654–672), with the samples of the
// batch moved in lockstep so that every query of a phase runs in one
// batch: one query for the clean label; up to init_size uniform random
// points until one is misclassified, then an L2 binary search towards the
// clean point (threshold 0.001); then per iteration t: δ (0.1 of the
// range width at t = 0, else √d·θ·dist for L2 and d·θ·dist for L∞, θ =
// 0.01/√d or 0.01/d), a binary search to the boundary (threshold θ, or
// min(ub·θ, θ) for L∞), a gradient-direction estimate from
// min(init_eval·√(t+1), max_eval) points x + δ·u (u Gaussian for L2,
// uniform in [−1, 1] for L∞, normalised in L2, clipped; the ±1 answers
// centred unless all agree), and a geometric step search from
// 2·dist/√(t+1), halving until the point is misclassified. Every point
// evaluated is clipped to data.range and counts one query of its sample.
// A sample stops once its next query would exceed the largest budget.
// norms[b][i] is the distance of the closest misclassified point the
// attack found within budgets[b] queries: a point at the upper end of a
// binary search (on the boundary, what the authors' code returns) or after
// a step; last[b][i] is that of the point ART's generate would return when
// stopped within budgets[b] queries (the one after the last step).
func (w *work) hsj(ctx context.Context, j *job, dc *decider, a AttackConfig, rng *rand.Rand, norms, last [][]float64) error {
	m := w.hsjMem(dc.max)
	linf := j.norm == Linf
	maxB := int32(a.Budgets[len(a.Budgets)-1])
	d := float64(w.d)
	theta := 0.01 / math.Sqrt(d)
	if linf {
		theta = 0.01 / d
	}
	for b := range norms {
		clear(norms[b][:j.n])
		clear(last[b][:j.n])
	}
	hn := hsjNorms{budgets: a.Budgets, best: norms, last: last, linf: linf}
	in := dc.in()

	// the clean label
	w.act = w.act[:0]
	for i := 0; i < j.n; i++ {
		if j.correct[i] {
			w.act = append(w.act, i)
		}
	}
	if len(w.act) == 0 {
		return nil
	}
	for r, i := range w.act {
		copy(in[r*w.d:(r+1)*w.d], j.x0[i*w.d:(i+1)*w.d])
	}
	cls, err := w.decide(ctx, j, dc, w.act)
	if err != nil {
		return err
	}
	m.set = m.set[:0]
	for r, i := range w.act {
		j.pred[i] = cls[r]
		if int64(cls[r]) != j.y[i] {
			j.success[i] = true // the label output is already wrong: norm 0
			continue
		}
		for b := range norms {
			norms[b][i], last[b][i] = math.Inf(1), math.Inf(1)
		}
		m.set = append(m.set, i)
	}

	// initialisation: uniform random points until one is misclassified
	w.act = w.act[:0]
	for try := 0; try < a.InitSize && len(m.set) > 0; try++ {
		m.set = w.affordable(j, m.set, 1, maxB)
		for r, i := range m.set {
			row, lo, hi := in[r*w.d:(r+1)*w.d], w.row(w.lo, i), w.row(w.hi, i)
			for p := range row {
				row[p] = lo[p] + (hi[p]-lo[p])*rng.Float32()
			}
		}
		if len(m.set) == 0 {
			break
		}
		cls, err := w.decide(ctx, j, dc, m.set)
		if err != nil {
			return err
		}
		m.keep = m.keep[:0]
		for r, i := range m.set {
			if int64(cls[r]) == j.y[i] {
				m.keep = append(m.keep, i)
				continue
			}
			copy(w.row(w.x, i), in[r*w.d:(r+1)*w.d])
			m.ubCls[i] = cls[r]
			w.act = append(w.act, i)
		}
		m.set, m.keep = m.keep, m.set
	}
	slices.Sort(w.act)
	if err := w.hsjSearch(ctx, j, dc, false, hsjInitThreshold, theta, maxB); err != nil {
		return err
	}
	for _, i := range w.act {
		w.hsjCommit(j, i, m.ubCls[i], &hn, true)
	}

	width := float64(w.rhi - w.rlo)
	for it := 0; len(w.act) > 0; it++ {
		for _, i := range w.act {
			if it == 0 {
				m.delta[i] = 0.1 * width
			} else {
				// √d·θ·dist (L2) and d·θ·dist (L∞) are both 0.01·dist
				m.delta[i] = 0.01 * w.hsjDist(j, i, linf)
			}
		}
		if err := w.hsjSearch(ctx, j, dc, linf, theta, theta, maxB); err != nil {
			return err
		}
		for _, i := range w.act {
			w.hsjCommit(j, i, m.ubCls[i], &hn, false)
		}
		numEval := min(int(float64(a.InitEval)*math.Sqrt(float64(it+1))), a.MaxEval)
		w.act = w.affordable(j, w.act, int32(numEval), maxB)
		if len(w.act) == 0 {
			break
		}
		if err := w.hsjGrad(ctx, j, dc, numEval, linf, rng); err != nil {
			return err
		}
		m.set = append(m.set[:0], w.act...)
		for _, i := range m.set {
			m.step[i] = 2 * w.hsjDist(j, i, linf) / math.Sqrt(float64(it+1))
		}
		for halving := 0; halving < hsjMaxHalvings && len(m.set) > 0; halving++ {
			m.set = w.affordable(j, m.set, 1, maxB)
			if len(m.set) == 0 {
				break
			}
			for r, i := range m.set {
				m.step[i] /= 2
				row, x, u := in[r*w.d:(r+1)*w.d], w.row(w.x, i), w.row(m.upd, i)
				lo, hi := w.row(w.lo, i), w.row(w.hi, i)
				s := float32(m.step[i])
				for p := range row {
					row[p] = min(max(x[p]+s*u[p], lo[p]), hi[p])
				}
			}
			cls, err := w.decide(ctx, j, dc, m.set)
			if err != nil {
				return err
			}
			m.keep = m.keep[:0]
			for r, i := range m.set {
				if int64(cls[r]) == j.y[i] {
					m.keep = append(m.keep, i)
					continue
				}
				copy(w.row(w.x, i), in[r*w.d:(r+1)*w.d])
				w.hsjCommit(j, i, cls[r], &hn, true)
			}
			m.set, m.keep = m.keep, m.set
		}
		for _, i := range m.set {
			if j.queries[i] < maxB { // the halvings ran out: the boundary point stays
				w.hsjCommit(j, i, m.ubCls[i], &hn, true)
			}
		}
		w.act = w.affordable(j, w.act, 1, maxB)
	}
	return nil
}

// affordable keeps, in place, the samples of set whose queries plus cost
// stay within maxB.
func (w *work) affordable(j *job, set []int, cost, maxB int32) []int {
	out := set[:0]
	for _, i := range set {
		if j.queries[i]+cost <= maxB {
			out = append(out, i)
		}
	}
	return out
}

// decide runs the staged rows of the samples of set (row r is set[r]) and
// counts one query for each.
func (w *work) decide(ctx context.Context, j *job, dc *decider, set []int) ([]int, error) {
	cls, err := dc.run(ctx, ladder(dc.max, len(set)))
	if err != nil {
		return nil, err
	}
	for _, i := range set {
		j.queries[i]++
	}
	return cls, nil
}

// hsjDist is the distance of sample i's current point to its clean point.
func (w *work) hsjDist(j *job, i int, linf bool) float64 {
	x, x0 := w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d]
	if linf {
		return distLinf(x, x0)
	}
	return distL2(x, x0)
}

// hsjNorms are where hsjCommit records a batch's norms (hsj).
type hsjNorms struct {
	budgets    []int
	best, last [][]float64
	linf       bool
}

// hsjCommit records sample i's current point, which the model labels
// cls: at every budget its queries are within, its distance replaces a
// larger best norm (and the point becomes the sample's adversarial point),
// and, when it is the point ART would return (returned), the last norm.
func (w *work) hsjCommit(j *job, i, cls int, h *hsjNorms, returned bool) {
	dist := w.hsjDist(j, i, h.linf)
	for b, B := range h.budgets {
		if int(j.queries[i]) > B {
			continue
		}
		if returned {
			h.last[b][i] = dist
		}
		if dist < h.best[b][i] {
			h.best[b][i] = dist
			if b == len(h.budgets)-1 {
				j.success[i], j.pred[i] = true, cls
				copy(j.xadv[i*w.d:(i+1)*w.d], w.row(w.x, i))
			}
		}
	}
}

// hsjInterp writes into row the point between x0 and x at alpha: the
// convex combination (1−α)·x0 + α·x (l2), or x clipped to the L∞ ball of
// radius α around x0.
func hsjInterp(row, x, x0 []float32, alpha float64, linf bool) {
	if linf {
		for p := range row {
			row[p] = float32(min(max(float64(x[p]), float64(x0[p])-alpha), float64(x0[p])+alpha))
		}
		return
	}
	for p := range row {
		row[p] = float32((1-alpha)*float64(x0[p]) + alpha*float64(x[p]))
	}
}

// hsjSearch is ART's _binary_search on the active samples: between the
// clean point (α = 0) and the current point w.x, by interpolation weight
// in [0, 1] (L2, threshold thr) or L∞ radius in [0, ‖x − x0‖∞] (linf,
// threshold min(ub·θ, θ)), until ub − lb ≤ the threshold; then w.x is the
// point at ub. Samples out of budget leave w.act.
func (w *work) hsjSearch(ctx context.Context, j *job, dc *decider, linf bool, thr, theta float64, maxB int32) error {
	m := w.hsjS
	for _, i := range w.act {
		m.lb[i], m.ub[i], m.thr[i] = 0, 1, thr
		if linf {
			m.ub[i] = w.hsjDist(j, i, true)
			m.thr[i] = min(m.ub[i]*theta, theta)
		}
	}
	in := dc.in()
	for {
		w.act = w.affordable(j, w.act, 1, maxB)
		m.set = m.set[:0]
		for _, i := range w.act {
			if m.ub[i]-m.lb[i] > m.thr[i] {
				m.set = append(m.set, i)
			}
		}
		if len(m.set) == 0 {
			break
		}
		for r, i := range m.set {
			hsjInterp(in[r*w.d:(r+1)*w.d], w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d], (m.lb[i]+m.ub[i])/2, linf)
		}
		cls, err := w.decide(ctx, j, dc, m.set)
		if err != nil {
			return err
		}
		for r, i := range m.set {
			alpha := (m.lb[i] + m.ub[i]) / 2
			if int64(cls[r]) == j.y[i] {
				m.lb[i] = alpha
			} else {
				m.ub[i], m.ubCls[i] = alpha, cls[r]
			}
		}
	}
	for _, i := range w.act {
		x := w.row(w.x, i)
		// interpolating into x itself is safe: each value reads only its own
		hsjInterp(x, x, j.x0[i*w.d:(i+1)*w.d], m.ub[i], linf)
	}
	return nil
}

// hsjGrad is ART's _compute_update for every active sample: numEval
// points x + δ·u around its current point, evaluated in batches of the
// runner's size, give the direction of the boundary's normal in m.upd
// (unit L2 norm for L2, its sign for L∞).
func (w *work) hsjGrad(ctx context.Context, j *job, dc *decider, numEval int, linf bool, rng *rand.Rand) error {
	m := w.hsjS
	for _, i := range w.act {
		clear(m.sfu[i*w.d : (i+1)*w.d])
		clear(m.su[i*w.d : (i+1)*w.d])
		m.npos[i] = 0
	}
	in := dc.in()
	total := len(w.act) * numEval
	for pos := 0; pos < total; {
		n := min(dc.max, total-pos)
		m.set = m.set[:0]
		for r := 0; r < n; r++ {
			i := w.act[(pos+r)/numEval]
			m.set = append(m.set, i)
			row, x := in[r*w.d:(r+1)*w.d], w.row(w.x, i)
			lo, hi := w.row(w.lo, i), w.row(w.hi, i)
			var s float64
			for p := range row {
				v := rng.NormFloat64()
				if linf {
					v = 2*rng.Float64() - 1
				}
				if w.fixed != nil && w.fixed[p] {
					v = 0
				}
				row[p] = float32(v)
				s += float64(row[p]) * float64(row[p])
			}
			f := 0.0
			if s > 0 {
				f = m.delta[i] / math.Sqrt(s)
			}
			for p := range row {
				row[p] = min(max(x[p]+float32(f*float64(row[p])), lo[p]), hi[p])
			}
		}
		cls, err := w.decide(ctx, j, dc, m.set)
		if err != nil {
			return err
		}
		for r, i := range m.set {
			fv := -1.0
			if int64(cls[r]) != j.y[i] {
				fv = 1
				m.npos[i]++
			}
			row, x := in[r*w.d:(r+1)*w.d], w.row(w.x, i)
			sfu, su := m.sfu[i*w.d:(i+1)*w.d], m.su[i*w.d:(i+1)*w.d]
			inv := 1 / m.delta[i]
			for p := range row {
				u := (float64(row[p]) - float64(x[p])) * inv
				sfu[p] += fv * u
				su[p] += u
			}
		}
		pos += n
	}
	ne := float64(numEval)
	for _, i := range w.act {
		// the mean of (f − mean f)·u; all answers alike: ±mean u, which
		// is Σ f·u / n as it stands
		mean := 0.0
		if m.npos[i] != 0 && m.npos[i] != numEval {
			mean = (2*float64(m.npos[i]) - ne) / ne
		}
		sfu, su, u := m.sfu[i*w.d:(i+1)*w.d], m.su[i*w.d:(i+1)*w.d], w.row(m.upd, i)
		var s float64
		for p := range sfu {
			g := (sfu[p] - mean*su[p]) / ne
			sfu[p] = g
			s += g * g
		}
		for p, g := range sfu {
			switch {
			case linf && g > 0:
				u[p] = 1
			case linf && g < 0:
				u[p] = -1
			case linf || s == 0:
				u[p] = 0
			default:
				u[p] = float32(g / math.Sqrt(s))
			}
		}
	}
	return nil
}

// hsjAll runs a hopskipjump entry once on every batch.
func (rt *runners) hsjAll(ctx context.Context, t *suite.Target, a AttackConfig, clean []float32, correct []bool) (*hsjRun, error) {
	ds := t.Data
	n, d, k := ds.N, ds.SampleSize(), t.Classes
	r := &hsjRun{norms: make([][]float64, len(a.Budgets)), last: make([][]float64, len(a.Budgets)),
		df: &dfRun{queries: make([]int32, n), adv: make([]float32, n*d), zero: make([]bool, n), pred: make([]int, n)}}
	for b := range r.norms {
		r.norms[b], r.last[b] = make([]float64, n), make([]float64, n)
	}
	success := make([]bool, n)
	seed := suite.DeriveSeed(t.Seed, a.Key()+"."+a.Norm)
	var done atomic.Int64
	err := rt.forBatches(ctx, t, n, func(ctx context.Context, wi, b, lo, hi int) (err error) {
		w := rt.works[wi]
		j := &job{n: hi - lo, eps: math.Inf(1), norm: a.Norm, x0: ds.X[lo*d : hi*d], y: ds.Y[lo:hi], correct: correct[lo:hi],
			clean: clean[lo*k : hi*k], success: success[lo:hi], pred: r.df.pred[lo:hi], queries: r.df.queries[lo:hi],
			xadv: r.df.adv[lo*d : hi*d], zero: r.df.zero[lo:hi]}
		w.begin(j)
		norms, last := make([][]float64, len(a.Budgets)), make([][]float64, len(a.Budgets))
		for bi := range norms {
			norms[bi], last[bi] = r.norms[bi][lo:hi], r.last[bi][lo:hi]
		}
		rng := suite.BatchRand(suite.DeriveSeed(seed, a.Name), b)
		if a.Name == SignOPT {
			err = w.signopt(ctx, j, w.dc, a, rng, norms, last)
		} else {
			err = w.hsj(ctx, j, w.dc, a, rng, norms, last)
		}
		if err != nil {
			return err
		}
		done.Add(int64(j.n))
		if rt.hsjSave != nil {
			return rt.hsjSave(r, b, lo, hi)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.df.eps = r.norms[len(r.norms)-1]
	return r, nil
}

// hsjAt is attack for a hopskipjump entry: HopSkipJump runs once (at the
// first call, kept in rt.hsjRuns) and each eps is judged from the norm
// reached within the largest budget.
func (rt *runners) hsjAt(ctx context.Context, t *suite.Target, cfg Config, a AttackConfig, eps float64, clean []float32, correct []bool) (*outcome, error) {
	r, err := rt.hsjRun(ctx, t, a, clean, correct)
	if err != nil {
		return nil, err
	}
	o := deepfoolOutcome(t, a, eps, r.df, correct, cfg.SaveExamples)
	o.mode = "none"
	if rt.keepAdv {
		d := t.Data.SampleSize()
		o.adv = slices.Clone(r.df.adv)
		for i, s := range o.success {
			if !s {
				copy(o.adv[i*d:(i+1)*d], t.Data.X[i*d:(i+1)*d])
			}
		}
	}
	return o, nil
}

// hsjRun returns the entry's run, running it the first time.
func (rt *runners) hsjRun(ctx context.Context, t *suite.Target, a AttackConfig, clean []float32, correct []bool) (*hsjRun, error) {
	key := a.Key() + "." + a.Norm
	if r := rt.hsjRuns[key]; r != nil {
		return r, nil
	}
	r, err := rt.hsjAll(ctx, t, a, clean, correct)
	if err != nil {
		return nil, err
	}
	if rt.hsjRuns == nil {
		rt.hsjRuns = map[string]*hsjRun{}
	}
	rt.hsjRuns[key] = r
	return r, nil
}

// hsjQuantiles are the quantiles of the per-sample norms in details.
var hsjQuantiles = []float64{0.1, 0.25, 0.5, 0.75, 0.9}

// hsjSummary sets a hopskipjump entry's metrics and details: per budget
// the median norm over the clean-correct samples (a failure counting as
// +Inf: undefined, with a warning, when it falls among them) and the share
// broken; the mean queries; in details the quantiles and per-sample norms
// of every budget, and the curve from the norms at the largest budget.
func hsjSummary(r *suite.Result, t *suite.Target, a AttackConfig, run *hsjRun, correct []bool, nCorrect int, labels labelChoice) {
	n := t.Data.N
	prefix := a.Key() + "." + a.Norm
	var inf []string
	perBudget := make([]any, len(a.Budgets))
	var all []float64
	for b, B := range a.Budgets {
		all = all[:0]
		for i, c := range correct {
			if c {
				all = append(all, run.norms[b][i])
			}
		}
		slices.Sort(all)
		finite := 0
		for _, v := range all {
			if !math.IsInf(v, 1) {
				finite++
			}
		}
		ok := len(all) > 0
		med := 0.0
		if ok {
			med = stats.Median(all)
		}
		key := budgetKey(prefix, "median_norm", B)
		r.Set(key, med, ok && !math.IsInf(med, 1))
		if ok && math.IsInf(med, 1) {
			inf = append(inf, key)
		}
		r.SetProportion(budgetKey(prefix, "success_rate", B), finite, nCorrect, t.ConfidenceLevel)
		q := map[string]any{}
		for _, p := range hsjQuantiles {
			name := "q" + strconv.Itoa(int(math.Round(p*100)))
			q[name] = nil // JSON has no +Inf
			if ok {
				if v := quantileInf(all, p); !math.IsInf(v, 1) {
					q[name] = v
				}
			}
		}
		norms := make([]any, n) // JSON has no +Inf: failures are null
		for i, v := range run.norms[b] {
			if !math.IsInf(v, 1) {
				norms[i] = v
			}
		}
		// the median norm of the points ART's generate would return
		all = all[:0]
		for i, c := range correct {
			if c {
				all = append(all, run.last[b][i])
			}
		}
		slices.Sort(all)
		var returned any // JSON has no +Inf
		if len(all) > 0 {
			if v := stats.Median(all); !math.IsInf(v, 1) {
				returned = v
			}
		}
		perBudget[b] = map[string]any{"budget": B, "quantiles": q, "broken": finite, "failed": len(all) - finite, "norms": norms,
			"returned_median": returned}
	}
	if len(inf) > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %s found no adversarial point within the budget for half of the clean-correct samples or more, so %s fall among the failures (+Inf) and are undefined",
			prefix, a.Name, strings.Join(inf, ", ")))
	}
	var q int64
	for i, c := range correct {
		if c {
			q += int64(run.df.queries[i])
		}
	}
	r.Set(prefix+".queries", float64(q)/float64(max(nCorrect, 1)), nCorrect > 0)
	queries := make([]int32, n)
	copy(queries, run.df.queries)

	var finite []float64
	for i, c := range correct {
		if v := run.df.eps[i]; c && !math.IsInf(v, 1) {
			finite = append(finite, v)
		}
	}
	slices.Sort(finite)
	if curves, _ := r.Details["curves"].(map[string][]map[string]any); curves != nil {
		curves[prefix] = epsCurve(finite, nCorrect, n)
	}
	dets, _ := r.Details[a.Name].(map[string]any)
	if dets == nil {
		dets = map[string]any{}
		r.Details[a.Name] = dets
	}
	d := map[string]any{"budgets": perBudget, "queries": queries, "attacked": nCorrect, "labels": labels.details()}
	if a.Name == SignOPT {
		d["k"], d["alpha"], d["beta"], d["epsilon"], d["num_trial"] = a.K, a.Alpha, a.Beta, a.Epsilon, a.NumTrial
	} else {
		d["init_eval"], d["max_eval"], d["init_size"] = a.InitEval, a.MaxEval, a.InitSize
	}
	dets[prefix] = d
}
