package evasion

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gauntlet-ml/gauntlet/stats"
)

// FMN is the name of the Fast Minimum-Norm attack (Pintor et al. 2021) in
// attacks[].name.
const FMN = "fmn"

// Norms only fmn takes (attacks[].norm).
const (
	L1 = "l1"
	L0 = "l0"
)

// FMN defaults: those of the authors' FMNAttackLp (github.com/pralab/
// Fast-Minimum-Norm-FMN-Attack, src/attacks/fmn.py lines 27–33 and 63;
// docs/metrics/evasion.md).
const (
	// DefaultFMNSteps is the reference's steps.
	DefaultFMNSteps = 10
	// DefaultFMNAlphaInit is the reference's max_stepsize, the initial
	// step of the normalised gradient (relative to the data.range width:
	// the reference's on [0, 1]).
	DefaultFMNAlphaInit = 1.0
	// fmnAlphaShare is the reference's min_stepsize = max_stepsize/100,
	// the default alpha_final.
	fmnAlphaShare = 0.01
	// DefaultFMNGamma is the reference's gamma, the initial step of the
	// ε update.
	DefaultFMNGamma = 0.05
	// fmnGammaFinal is where the reference anneals gamma to (line 173).
	fmnGammaFinal = 0.001
	// fmnNormFloor is foolbox's floor on the norms it divides by
	// (normalize_lp_norms, clip_lp_norms).
	fmnNormFloor = 1e-12
)

// fmnScratch is FMN's per-worker memory, made on first use.
type fmnScratch struct {
	delta []float32 // batch×d: the perturbation δ
	eps   []float64 // per sample: the norm constraint ε
	best  []float64 // per sample: ‖δ‖ of the best adversarial point (worst norm until one is found)
	worst []float64 // per sample: the largest norm the box allows
	loss  []float64 // per sample: z_y − z_c at the current point (c: best other class)
	adv   []bool    // per sample: the current point is misclassified
	found []bool    // per sample: some point was misclassified
	sort  []float64 // d: |δ| sorted (L1 and L0 projections)
	redo  []int     // samples whose best other class changed under the eval
}

func (w *work) fmnMem() *fmnScratch {
	if w.fmnS == nil {
		b := w.batch
		w.fmnS = &fmnScratch{delta: make([]float32, b*w.d), eps: make([]float64, b), best: make([]float64, b),
			worst: make([]float64, b), loss: make([]float64, b), adv: make([]bool, b), found: make([]bool, b),
			sort: make([]float64, w.d), redo: make([]int, 0, b)}
	}
	return w.fmnS
}

// fmnParams are FMN's knobs: steps, the step of the normalised gradient
// annealed from alpha0 to alpha1 (absolute: already scaled by the range
// width) and the ε step gamma0, annealed to fmnGammaFinal.
type fmnParams struct {
	steps          int
	alpha0, alpha1 float64
	gamma0         float64
}

// bestOther is the highest-scoring class of row other than y (the first on
// ties), the reference's best_other_classes (fmn.py lines 16–18).
func bestOther(row []float32, y int64) int64 {
	c := -1
	for l, v := range row {
		if int64(l) != y && (c < 0 || v > row[c]) {
			c = l
		}
	}
	return int64(c)
}

// fmn runs the Fast Minimum-Norm attack on the batch as the authors'
// FMNAttackLp.run (src/attacks/fmn.py lines 147–220, no initial attack:
// δ starts at 0). Each of steps iterations evaluates x0 + δ: the loss
// z_y − z_c with c the best other class there and its gradient (the
// logit-difference head, re-evaluated for the samples whose best other
// class differs from the one staged); keeps δ when misclassified and
// smaller than the best so far; updates ε (shrunk by 1−γ when
// misclassified, grown by 1+γ once some point was, else ‖δ‖ + |loss|/‖∇‖
// under the dual norm; L0: by whole features), capped at the box's largest
// norm; steps δ along the gradient normalised in L2 by α; projects δ onto
// the ε-ball and x0 + δ into the box. α and γ follow the reference's
// cosine annealing. eps[i] gets ε* of sample i: the norm of its best
// misclassified point (0 when misclassified clean, +Inf when none was
// found), which is in j.xadv.
func (w *work) fmn(ctx context.Context, j *job, o oracle, p fmnParams, eps []float64, rng *rand.Rand) error {
	m := w.fmnMem()
	w.epsStarStart(j, eps)
	for _, i := range w.act {
		x0 := j.x0[i*w.d : (i+1)*w.d]
		clear(w.row(m.delta, i))
		m.worst[i] = fmnWorst(x0, w.row(w.lo, i), w.row(w.hi, i), j.norm)
		m.best[i], m.found[i] = m.worst[i], false
		m.eps[i] = math.Inf(1) // lines 151–155
		if j.norm == L0 {
			m.eps[i] = 1
		}
		w.tgt[i] = bestOther(j.clean[i*w.k:(i+1)*w.k], j.y[i])
	}
	if len(w.act) == 0 {
		return nil
	}
	for it := 0; it < p.steps; it++ {
		// cosine annealing, lines 168–175
		cos := (1 + math.Cos(math.Pi*float64(it)/float64(p.steps))) / 2
		alpha := p.alpha1 + (p.alpha0-p.alpha1)*cos
		gamma := fmnGammaFinal + (p.gamma0-fmnGammaFinal)*cos
		if err := w.fmnEval(ctx, j, o, m, it == 0, rng); err != nil {
			return err
		}
		for _, i := range w.act {
			w.fmnUpdate(j, i, m, alpha, gamma)
		}
	}
	for _, i := range w.act {
		if m.found[i] {
			j.success[i] = true
			eps[i] = m.best[i]
		}
	}
	return nil
}

// fmnEval evaluates every active sample at x0 + δ (in w.x) with the target
// of the logit-difference head set to its best other class there: the
// samples whose best other class differs from the one staged are
// evaluated again with it. Each sample's gradient lands in its row of
// w.gcur, its loss z_y − z_c in m.loss, whether it is misclassified in
// m.adv.
func (w *work) fmnEval(ctx context.Context, j *job, o oracle, m *fmnScratch, first bool, rng *rand.Rand) error {
	all := w.act
	defer func() { w.act = all }()
	for pass := 0; ; pass++ {
		if err := w.evalActive(ctx, j, o, true, rng); err != nil {
			return err
		}
		if first && pass == 0 {
			w.countZero(j, o.grad())
		}
		logits, loss, g := o.logits(), o.loss(), o.grad()
		m.redo = m.redo[:0]
		for r, i := range w.act {
			row := logits[r*w.k : (r+1)*w.k]
			if c := bestOther(row, j.y[i]); pass == 0 && c != w.tgt[i] {
				w.tgt[i] = c
				m.redo = append(m.redo, i)
				continue
			}
			copy(w.row(w.gcur, i), g[r*w.d:(r+1)*w.d])
			m.loss[i] = -float64(loss[r]) // the head gives z_c − z_y
			m.adv[i] = int64(stats.Argmax(row)) != j.y[i]
		}
		if len(m.redo) == 0 || pass == 1 {
			// a second pass sees the same points, so the classes just
			// staged (a tie that ORT's rounding at another batch shape
			// could flip is taken as it is)
			return nil
		}
		w.next = append(w.next[:0], m.redo...)
		w.act = w.next
	}
}

// fmnUpdate is one iteration of FMN on sample i after fmnEval (lines
// 182–218).
func (w *work) fmnUpdate(j *job, i int, m *fmnScratch, alpha, gamma float64) {
	norm := j.norm
	delta, g := w.row(m.delta, i), w.row(w.gcur, i)
	x, x0 := w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d]
	lp := lpNorm(delta, norm)
	if m.adv[i] {
		m.found[i] = true
		if lp <= m.best[i] { // is_both: keep the point
			m.best[i] = lp
			copy(j.xadv[i*w.d:(i+1)*w.d], x)
			j.pred[i] = int(w.tgt[i]) // misclassified: the arg max is the best other class
		}
	}
	// ε update, lines 189–206 (‖best δ‖ is m.best once a point was found)
	e := m.eps[i]
	if norm != L0 {
		switch {
		case m.adv[i]:
			e = min(e*(1-gamma), m.best[i])
		case m.found[i]:
			e *= 1 + gamma
		default:
			dn := dualNormP(g, norm)
			dist := math.Inf(1) // no gradient: nothing bounds the distance
			if dn > 0 {
				dist = math.Abs(m.loss[i]) / dn
			}
			e = lp + dist
		}
	} else {
		if m.adv[i] {
			e = min(e-1, math.Trunc(e*(1-gamma)), m.best[i])
		} else {
			e = max(e+1, math.Trunc(e*(1+gamma)))
		}
		e = max(0, e)
	}
	e = min(e, m.worst[i])
	m.eps[i] = e

	// δ += α·∇/‖∇‖₂ (normalize_lp_norms, p = 2), then the projections
	s := alpha / max(norm2(g), fmnNormFloor)
	for p, v := range g {
		delta[p] += float32(s * float64(v))
	}
	w.fmnProject(delta, e, norm, m)
	lo, hi := w.row(w.lo, i), w.row(w.hi, i)
	for p := range delta {
		xp := min(max(x0[p]+delta[p], lo[p]), hi[p])
		delta[p] = xp - x0[p]
		x[p] = x0[p] + delta[p]
	}
}

// fmnProject projects δ onto the ε-ball of norm (the reference's project
// methods: L∞ lines 308–311, L2 286–287 via foolbox's clip_lp_norms, L1
// 252–253 and project_onto_l1_ball lines 364–406, L0 338–346).
func (w *work) fmnProject(delta []float32, e float64, norm string, m *fmnScratch) {
	switch norm {
	case Linf:
		ef := float32(e)
		for p, v := range delta {
			delta[p] = min(max(v, -ef), ef)
		}
	case L2:
		f := min(1, e/max(norm2(delta), fmnNormFloor))
		if f < 1 {
			for p, v := range delta {
				delta[p] = float32(float64(v) * f)
			}
		}
	case L1:
		projectL1(delta, e, m.sort)
	case L0:
		// keep the ⌊ε⌋ largest |δ| (and ties with the smallest kept);
		// the reference keeps all of δ at ε = 0 (argsort index −0), which
		// would let δ grow unconstrained: here ε = 0 keeps none
		k := int(e)
		if k >= len(delta) {
			return
		}
		if k <= 0 {
			clear(delta)
			return
		}
		s := m.sort
		for p, v := range delta {
			s[p] = math.Abs(float64(v))
		}
		slices.Sort(s)
		th := s[len(s)-k]
		for p, v := range delta {
			if math.Abs(float64(v)) < th {
				delta[p] = 0
			}
		}
	}
}

// projectL1 is the Euclidean projection of δ onto the L1 ball of radius e
// (Duchi et al. 2008), as the reference's project_onto_l1_ball: δ is kept
// when ‖δ‖₁ < e, else soft-thresholded at θ from the sorted |δ|. sorted
// is scratch of len(δ).
func projectL1(delta []float32, e float64, sorted []float64) {
	if e <= 0 {
		clear(delta)
		return
	}
	var l1 float64
	for p, v := range delta {
		a := math.Abs(float64(v))
		sorted[p] = a
		l1 += a
	}
	if l1 < e {
		return
	}
	slices.Sort(sorted)
	slices.Reverse(sorted)
	// ρ: the last j (1-based) with μ_j·j > Σ_{i≤j} μ_i − e
	var cum, cumRho float64
	rho := 0
	for jj, mu := range sorted {
		cum += mu
		if mu*float64(jj+1) > cum-e {
			rho, cumRho = jj+1, cum
		}
	}
	theta := (cumRho - e) / float64(rho)
	for p, v := range delta {
		a := math.Abs(float64(v)) - theta
		if a <= 0 {
			delta[p] = 0
			continue
		}
		if v < 0 {
			a = -a
		}
		delta[p] = float32(a)
	}
}

// lpNorm is ‖δ‖ in norm (L0: the count of non-zero values), in float64.
func lpNorm(v []float32, norm string) float64 {
	switch norm {
	case Linf:
		var s float64
		for _, x := range v {
			s = max(s, math.Abs(float64(x)))
		}
		return s
	case L2:
		return norm2(v)
	case L1:
		var s float64
		for _, x := range v {
			s += math.Abs(float64(x))
		}
		return s
	}
	n := 0
	for _, x := range v {
		if x != 0 {
			n++
		}
	}
	return float64(n)
}

// dualNormP is ‖g‖ in the dual of norm: L1 for L∞, L2 for L2, L∞ for L1.
func dualNormP(g []float32, norm string) float64 {
	switch norm {
	case Linf:
		return lpNorm(g, L1)
	case L1:
		return lpNorm(g, Linf)
	}
	return norm2(g)
}

// fmnWorst is the largest norm of a perturbation of x0 inside the box
// [lo, hi]: ‖max(x0 − lo, hi − x0)‖ (lines 156–160), for L0 the count of
// values the box lets move.
func fmnWorst(x0, lo, hi []float32, norm string) float64 {
	var s float64
	for p, v := range x0 {
		a := max(float64(v)-float64(lo[p]), float64(hi[p])-float64(v))
		switch norm {
		case Linf:
			s = max(s, a)
		case L2:
			s += a * a
		case L1:
			s += a
		case L0:
			if hi[p] > lo[p] {
				s++
			}
		}
	}
	if norm == L2 {
		return math.Sqrt(s)
	}
	return s
}

// fmnParamsOf is the fmnParams of an fmn entry on data.range rng: the
// gradient steps scaled by the range width.
func fmnParamsOf(a AttackConfig, rng [2]float64) fmnParams {
	w := rng[1] - rng[0]
	return fmnParams{steps: a.Steps, alpha0: *a.AlphaInit * w, alpha1: *a.AlphaFinal * w, gamma0: *a.Gamma}
}
