package evasion

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/gauntlet-ml/gauntlet/onnx"
)

// FAB is the name of the Fast Adaptive Boundary attack in attacks[].name.
const FAB = "fab"

// headMarginT is the loss head of FAB: the logit difference z_t − z_y of
// a target t over the label y (labels and targets inputs as dlrt's).
const headMarginT = "margint"

// FAB constants of Croce & Hein (2020), as AutoAttack's FABAttack defaults
// (fab_base.py): alpha_max, eta (overshoot) and beta (backward step).
const (
	fabAlphaMax = 0.1
	fabEta      = 1.05
	fabBeta     = 0.9
	// DefaultFABSteps is FAB's n_iter in AutoAttack.
	DefaultFABSteps = 100
)

// withTargetedMargin returns a copy of m with two int64 [N] inputs (labels
// y and targets t, named as withTargetedDLR's) and a per-sample tensor
// z_t − z_y on the logits z (the input of a final Softmax when the output
// is one): the targeted logit difference whose gradient FAB-T linearises
// (AutoAttack's get_diff_logits_grads_batch_targeted).
func withTargetedMargin(m *onnx.Model, output string, classes int) (*onnx.Model, error) {
	if classes < 2 {
		return nil, fmt.Errorf("the logit difference needs at least 2 classes, the model has %d", classes)
	}
	out, b, h, err := labelHead(m, output, classes, "gauntlet_margint/")
	if err != nil {
		return nil, err
	}
	z, y, tg, row := h.z, h.y, h.tg, h.row
	pick := func(idx string) string {
		mk := b.Cast(b.Op("Equal", []string{row, b.Unsqueeze(idx, 1)}), onnx.Float32)
		return b.ReduceSum(b.Op("Mul", []string{z, mk}), []int64{1}, false)
	}
	b.NodeOut("Sub", []string{pick(tg), pick(y)}, []string{dlrtTensor})
	return out, nil
}

// twoLabelHead reports whether a head's graph reads labels and targets.
func twoLabelHead(h string) bool { return h == headDLRT || h == headMarginT }

// fabScratch is FAB's per-worker memory, made on first use.
type fabScratch struct {
	t, w, d1, d2, a, p, r, s, sb, ws []float64
	idx                              []int
	dist                             []float64 // per sample: distance to the best linearised boundary
	df                               []float64 // per sample: its logit difference
}

func (w *work) fabMem() *fabScratch {
	if w.fabS == nil {
		f := func(n int) []float64 { return make([]float64, n) }
		d := w.d
		w.fabS = &fabScratch{t: f(d), w: f(d), d1: f(d), d2: f(d), a: f(d), p: f(d), r: f(d),
			s: f(d + 1), sb: f(d + 1), ws: f(d), idx: make([]int, d), dist: f(w.batch), df: f(w.batch)}
	}
	return w.fabS
}

// fabT runs FAB-T (AutoAttack's targeted FAB): FAB towards each of the
// top-tc classes of the clean output in turn (the 2nd, 3rd, … largest),
// on the samples still correctly classified; a sample falls when FAB finds
// a misclassified point within eps.
func (w *work) fabT(ctx context.Context, j *job, o oracle, steps, restarts, tc int, rng *rand.Rand) error {
	for c := 1; c <= min(tc, w.k-1); c++ {
		for i := 0; i < j.n; i++ {
			w.tgt[i] = int64(rankClass(j.clean[i*w.k:(i+1)*w.k], c))
		}
		if err := w.fab(ctx, j, o, steps, restarts, true, rng); err != nil {
			return err
		}
	}
	return nil
}

// fab runs the Fast Adaptive Boundary attack (Croce & Hein 2020) as
// AutoAttack's fab_base.py attack_single_run and perturb: each step
// linearises the decision boundary at x1 (the target's when targeted, else
// the nearest of all classes' under the dual norm), projects x1 and the
// clean x0 onto that hyperplane within the data range, and moves to the
// convex combination (x1 + η·d1)(1 − α) + (x0 + η·d2)α with
// α = min(‖d1‖/(‖d1‖ + ‖d2‖), α_max); a misclassified x1 is pulled back
// to x0 + β(x1 − x0). The first restart starts at x0, later ones at a
// random point at half eps. A sample succeeds at the first misclassified
// point within eps (FAB goes on lowering the norm; whether some point
// within eps was found is what robust accuracy counts). The target
// classes come from w.tgt when targeted.
func (w *work) fab(ctx context.Context, j *job, o oracle, steps, restarts int, targeted bool, rng *rand.Rand) error {
	linf := j.norm == Linf
	m := w.fabMem()
	in := w.fwdIn()
	for r := 0; r < restarts; r++ {
		w.activate(j, targeted)
		if len(w.act) == 0 {
			return nil
		}
		for _, i := range w.act {
			x, x0 := w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d]
			copy(x, x0)
			if r > 0 {
				w.fabStart(x, x0, j.eps, linf, rng)
			}
		}
		for it := 0; it < steps && len(w.act) > 0; it++ {
			if err := w.fabLinearise(ctx, j, o, targeted, rng); err != nil {
				return err
			}
			if r == 0 && it == 0 {
				w.fabCountZero(j)
			}
			for _, i := range w.act {
				w.fabStep(j, i, m.df[i], linf)
			}
			out, err := w.fwdActive(ctx, j, in, w.x)
			if err != nil {
				return err
			}
			w.next = w.next[:0]
			for row, i := range w.act {
				p := w.argmaxRow(out, row)
				x, x0 := w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d]
				if int64(p) != j.y[i] {
					dist := distLinf(x, x0)
					if !linf {
						dist = distL2(x, x0)
					}
					if dist <= j.eps {
						j.pred[i] = p
						w.succeed(j, i)
						continue
					}
					for q := range x {
						x[q] = x0[q] + float32(fabBeta*(float64(x[q])-float64(x0[q])))
					}
				}
				w.next = append(w.next, i)
			}
			w.act, w.next = w.next, w.act
		}
	}
	return nil
}

// fabCountZero books the zero-gradient count on the active samples'
// first linearisation (w.gbest).
func (w *work) fabCountZero(j *job) {
	for _, i := range w.act {
		j.gradSeen++
		zero := true
		for _, v := range w.row(w.gbest, i) {
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

// argmaxRow is the arg max of row r of a batch of outputs.
func (w *work) argmaxRow(out []float32, r int) int {
	row := out[r*w.k : (r+1)*w.k]
	best := 0
	for c, v := range row {
		if v > row[best] {
			best = c
		}
	}
	return best
}

// fabLinearise evaluates the active samples' x1 and leaves in w.gbest
// (gradient) and fabScratch.df (value) the logit difference z_c − z_y of
// each sample's class c: its target, or (untargeted) the class whose
// linearised boundary is nearest under the dual norm, |df|/‖dg‖_*, the
// true class excluded (AutoAttack's df[la] = 1e10). rng feeds NES
// estimates (exact gradients draw nothing).
func (w *work) fabLinearise(ctx context.Context, j *job, o oracle, targeted bool, rng *rand.Rand) error {
	m := w.fabS
	linf := j.norm == Linf
	if targeted {
		if err := w.evalActive(ctx, j, o, true, rng); err != nil {
			return err
		}
		loss, g := o.loss(), o.grad()
		for row, i := range w.act {
			m.df[i] = float64(loss[row])
			copy(w.row(w.gbest, i), g[row*w.d:(row+1)*w.d])
		}
		return nil
	}
	for _, i := range w.act {
		m.dist[i] = math.Inf(1)
	}
	for c := 0; c < w.k; c++ {
		for _, i := range w.act {
			w.tgt[i] = int64(c)
		}
		if err := w.evalActive(ctx, j, o, true, rng); err != nil {
			return err
		}
		loss, g := o.loss(), o.grad()
		for row, i := range w.act {
			if int64(c) == j.y[i] {
				continue
			}
			gr := g[row*w.d : (row+1)*w.d]
			var dn float64
			for _, v := range gr {
				if linf {
					dn += math.Abs(float64(v))
				} else {
					dn += float64(v) * float64(v)
				}
			}
			if !linf {
				dn = math.Sqrt(dn)
			}
			dist := math.Abs(float64(loss[row])) / (1e-12 + dn)
			if dist < m.dist[i] {
				m.dist[i], m.df[i] = dist, float64(loss[row])
				copy(w.row(w.gbest, i), gr)
			}
		}
	}
	return nil
}

// fabStep moves sample i's x1 (w.x) one FAB step, given the logit
// difference df at x1 and its gradient in w.gbest. The projections work
// in the data range scaled to [0, 1], as the reference's images.
func (w *work) fabStep(j *job, i int, df float64, linf bool) {
	m := w.fabS
	x, x0, g := w.row(w.x, i), j.x0[i*w.d:(i+1)*w.d], w.row(w.gbest, i)
	lo, width := float64(w.rlo), float64(w.rhi)-float64(w.rlo)
	// hyperplane w·x = b with w = dg, b = −df + dg·x1; in u = (x − lo)/width:
	// (width·w)·u = b − lo·Σw
	var b, sw float64
	for p, v := range g {
		b += float64(v) * float64(x[p])
		sw += float64(v)
		m.w[p] = float64(v) * width
	}
	b = -df + b - lo*sw
	for p, v := range x {
		m.t[p] = (float64(v) - lo) / width
	}
	fabProject(m.d1, m.t, m.w, b, linf, m)
	for p, v := range x0 {
		m.t[p] = (float64(v) - lo) / width
	}
	fabProject(m.d2, m.t, m.w, b, linf, m)
	a1, a2 := max(normOf(m.d1, linf), 1e-8), max(normOf(m.d2, linf), 1e-8)
	alpha := min(max(a1/(a1+a2), 0), fabAlphaMax)
	rlo, rhi := w.rlo, w.rhi
	for p := range x {
		if w.fixed != nil && w.fixed[p] {
			x[p] = x0[p]
			continue
		}
		u1 := (float64(x[p])-lo)/width + fabEta*m.d1[p]
		u0 := (float64(x0[p])-lo)/width + fabEta*m.d2[p]
		v := float32(lo + width*(u1*(1-alpha)+u0*alpha))
		x[p] = min(max(v, rlo), rhi)
	}
}

// fabStart is FAB's random restart point: x0 plus a random direction of
// norm eps/2 (L∞: uniform values scaled to max 1; L2: Gaussian), clamped
// to the data range; fixed features keep their value.
func (w *work) fabStart(x, x0 []float32, eps float64, linf bool, rng *rand.Rand) {
	var nrm float64
	for p := range x {
		var v float64
		if linf {
			v = 2*rng.Float64() - 1
			nrm = max(nrm, math.Abs(v))
		} else {
			v = rng.NormFloat64()
			nrm += v * v
		}
		x[p] = float32(v)
	}
	if !linf {
		nrm = math.Sqrt(nrm)
	}
	f := 0.0
	if nrm > 0 {
		f = eps / nrm * 0.5
	}
	for p := range x {
		if w.fixed != nil && w.fixed[p] {
			x[p] = x0[p]
			continue
		}
		x[p] = min(max(x0[p]+float32(f*float64(x[p])), w.rlo), w.rhi)
	}
}

func normOf(v []float64, linf bool) float64 {
	var s float64
	for _, x := range v {
		if linf {
			s = max(s, math.Abs(x))
		} else {
			s += x * x
		}
	}
	if linf {
		return s
	}
	return math.Sqrt(s)
}

// fabProject writes into d the smallest step (L∞ or L2) from t, within the
// box [0, 1], onto the hyperplane w·x = b, or the step to the box corner
// nearest to it when the hyperplane is out of reach.
func fabProject(d, t, w []float64, b float64, linf bool, m *fabScratch) {
	if linf {
		projectLinf(d, t, w, b, m)
	} else {
		projectL2Box(d, t, w, b, m)
	}
}

// projectLinf is AutoAttack's projection_linf (fab_projections.py) for
// one point: ws, a, p and sb, s are its working rows.
func projectLinf(d, t, wIn []float64, b float64, m *fabScratch) {
	n := len(t)
	w, a, p, idx, s, sb := m.ws, m.a, m.p, m.idx, m.s, m.sb
	var wt float64
	for i := range t {
		wt += wIn[i] * t[i]
	}
	sign := 1.0
	if wt-b < 0 {
		sign = -1
	}
	b *= sign
	var bt, b0 float64
	for i := range t {
		wi := wIn[i] * sign
		w[i] = wi
		ai := 0.0
		if wi < 0 {
			ai = 1
		}
		a[i] = ai
		d[i] = 0
		if wi != 0 {
			d[i] = ai - t[i]
		}
		p[i] = ai - t[i]*(2*ai-1)
		idx[i] = i
		bt += wi * t[i]
		b0 += wi * d[i]
	}
	slices.SortStableFunc(idx, func(u, v int) int { return cmp.Compare(p[u], p[v]) })
	b -= bt
	// descending p: the reference's indp2 = flip(indp)
	var cs, csb float64
	for j := 0; j < n; j++ {
		q := idx[n-1-j]
		cs += math.Abs(w[q])
		csb += -w[q] * d[q]
		s[j], sb[j] = cs, csb+b0
	}
	b2 := sb[n-1] - s[n-1]*p[idx[0]]
	cl := b-b2 > 0
	c2 := b-b0 > 0 && !cl
	switch {
	case cl:
		lm := 0.0
		if s[n-1] != 0 {
			lm = max((b-sb[n-1])/(-s[n-1]), 0)
		}
		for i := range d {
			d[i] = (2*a[i] - 1) * lm
		}
	case c2:
		lb, ub := 0.0, float64(n-1)
		for range int(math.Ceil(math.Log2(float64(n)))) {
			c4 := math.Floor((lb + ub) / 2)
			k := int(c4)
			cur := idx[n-1-k]
			if b-(sb[k]-s[k]*p[cur]) > 0 {
				lb = c4
			} else {
				ub = c4
			}
		}
		k := int(lb)
		lm := 0.0
		if s[k] != 0 {
			lm = max((b-sb[k])/(-s[k]), 0)
		}
		for i := range d {
			if a[i] == 1 {
				d[i] = min(lm, d[i])
			} else {
				d[i] = max(-lm, d[i])
			}
		}
	}
	for i := range d {
		if w[i] == 0 {
			d[i] = 0
		}
	}
}

// projectL2Box is AutoAttack's projection_l2 (fab_projections.py) for one
// point.
func projectL2Box(d, t, wIn []float64, b float64, m *fabScratch) {
	const big, tiny = 1e12, 1e-8
	n := len(t)
	w, r, idx, s, ws := m.ws, m.r, m.idx, m.s, m.a
	rs, rs2 := m.p, m.sb
	var c float64
	for i := range t {
		c += wIn[i] * t[i]
	}
	c -= b
	sign := 1.0
	if c < 0 {
		sign = -1
	}
	c *= sign
	for i := range t {
		wi := wIn[i] * sign
		w[i] = wi
		if math.Abs(wi) < tiny {
			r[i] = big
		} else {
			ri := min(max(max(t[i]/wi, (t[i]-1)/wi), -big), big)
			if ri == -big {
				ri = big
			}
			r[i] = ri
		}
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(u, v int) int { return cmp.Compare(r[u], r[v]) })
	var w5 float64
	for j := 0; j < n; j++ {
		rs[j] = r[idx[j]]
		w5 += w[idx[j]] * w[idx[j]]
	}
	for j := 0; j < n; j++ {
		if j+1 < n {
			rs2[j] = rs[j+1]
		} else {
			rs2[j] = 0
		}
	}
	for j := 0; j < n; j++ {
		if rs[j] == big {
			rs[j] = 0
		}
		if rs2[j] == big {
			rs2[j] = 0
		}
	}
	var cum float64
	for j := 0; j < n; j++ {
		cum += w[idx[j]] * w[idx[j]]
		ws[j] = w5 - cum
	}
	var dw float64
	for i := range d {
		d[i] = 0
		if math.Abs(w[i]) > tiny {
			d[i] = -r[i] * w[i]
		}
		dw += d[i] * w[i]
	}
	s[0] = -w5 * rs[0]
	cum = 0
	for j := 0; j < n; j++ {
		cum += (-rs2[j] + rs[j]) * ws[j]
		s[j+1] = cum - w5*rs[0]
	}
	c4 := s[0]+c < 0
	c3 := dw+c > 0
	switch {
	case c4:
		alpha := 0.0
		if w5 != 0 {
			alpha = c / w5
		}
		for i := range d {
			d[i] = -alpha * w[i]
		}
	case !c3:
		lb, ub := 0.0, float64(n-1)
		for range int(math.Ceil(math.Log2(float64(n)))) {
			c4 := math.Floor((lb + ub) / 2)
			if s[int(c4)]+c > 0 {
				lb = c4
			} else {
				ub = c4
			}
		}
		k := int(lb)
		alpha := 0.0
		if ws[k] != 0 {
			alpha = (s[k]+c)/ws[k] + rs[k]
		}
		for i := range d {
			if !(alpha > r[i]) {
				d[i] = -alpha * w[i]
			}
		}
	}
	for i := range d {
		if math.Abs(w[i]) <= tiny {
			d[i] = 0
		}
	}
}
