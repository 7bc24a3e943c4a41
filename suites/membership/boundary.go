package membership

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// The boundary_distance attack (Choquette-Choo et al. 2021; Li & Zhang
// 2021; ART's LabelOnlyDecisionBoundary): a sample's score is its L2
// distance to the model's decision boundary, found by a search that reads
// only the predicted label, 0 for a misclassified sample. Members, fitted
// tightly, lie further from the boundary. The search is HopSkipJump's L2
// untargeted loop (Chen et al. 2020) as ART's HopSkipJump runs it
// (art/attacks/evasion/hop_skip_jump.py): a random uniform start in the
// box, then, per iteration, a binary search to the boundary, a gradient
// direction estimated from the labels of random probes around the boundary
// point, and a geometric step along it; all under a per-sample budget of
// boundary_queries model queries, which ART's LabelOnlyDecisionBoundary
// does not bound.

// HopSkipJump's constants, ART's defaults.
const (
	hsjInitEval = 100  // probes of the first gradient estimate; ×√(t+1) after
	hsjMaxEval  = 1e4  // at most this many probes per estimate
	hsjInitSize = 100  // random starts tried before giving up
	hsjInitBin  = 1e-3 // the binary search threshold after the random start
	// hsjHalvings bounds the step search (ART halves until a step lands on
	// the adversarial side, with no bound).
	hsjHalvings = 30
)

// DefaultBoundaryQueries is boundary_queries' default: the model queries
// the search may spend on one sample.
const DefaultBoundaryQueries = 1000

// minBoundaryQueries is the smallest budget: the clean prediction, a random
// start and one binary search.
const minBoundaryQueries = 20

// boundaryChunk is how many probes one model run holds.
const boundaryChunk = 256

// boundaryBox returns the box the search stays in: data.range when set,
// else the smallest and largest value of the members and nonmembers (ART's
// HopSkipJump without clip_values takes the data's min and max).
func boundaryBox(t *suite.Target, sets ...*data.Dataset) [2]float64 {
	if t.Range[1] > t.Range[0] {
		return t.Range
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, d := range sets {
		for _, v := range d.X {
			lo, hi = min(lo, float64(v)), max(hi, float64(v))
		}
	}
	if !(hi > lo) { // constant data: a unit box around it
		lo, hi = lo-0.5, lo+0.5
	}
	return [2]float64{lo, hi}
}

// boundaryOut holds the search's per-sample results of one set.
type boundaryOut struct {
	Dist    []float64 // the score: L2 distance to the boundary, 0 when misclassified
	Queries []int32   // model queries spent
	Found   []bool    // false: no random start changed the label
}

func newBoundaryOut(n int) boundaryOut {
	return boundaryOut{Dist: make([]float64, n), Queries: make([]int32, n), Found: make([]bool, n)}
}

// boundaryBatches runs the search on batches [b0, b1) of d (the batches of
// suite.ForBatches), writing each sample's results at its index in out.
// Batch b draws from suite.BatchRand of the attack's seed for set, so the
// results do not depend on workers, scheduling or shards.
func boundaryBatches(ctx context.Context, t *suite.Target, d *data.Dataset, set string, b0, b1 int, budget int, box [2]float64, out boundaryOut) error {
	nb := b1 - b0
	if nb <= 0 {
		return nil
	}
	workers := max(1, min(t.Pool.Workers, nb))
	searchers := make([]*searcher, workers)
	defer func() {
		for _, s := range searchers {
			if s != nil {
				s.r.Close()
			}
		}
	}()
	size := d.SampleSize()
	for w := range searchers {
		r, err := t.Session.NewRunner(max(t.BatchSize, boundaryChunk))
		if err != nil {
			return fmt.Errorf("create runner: %w", err)
		}
		searchers[w] = &searcher{r: r, d: size, k: t.Classes, budget: budget, lo: box[0], hi: box[1]}
	}
	seed := suite.DeriveSeed(t.Seed, "membership/boundary_distance/"+set)
	pool := t.Pool
	pool.Workers = workers
	return pool.Run(ctx, nb, func(ctx context.Context, w, j int) error {
		b := b0 + j
		lo, hi := t.BatchRange(b, d.N)
		s := searchers[w]
		s.rng = suite.BatchRand(seed, b)
		err := s.batch(ctx, d.X[lo*size:hi*size], d.Y[lo:hi],
			boundaryOut{Dist: out.Dist[lo:hi], Queries: out.Queries[lo:hi], Found: out.Found[lo:hi]})
		if err != nil {
			return fmt.Errorf("batch %d (samples %d..%d): %w", b, lo, hi-1, err)
		}
		return nil
	})
}

// searcher is one worker's boundary search: its runner and scratch.
type searcher struct {
	r      *runtime.Runner
	rng    *rand.Rand
	d, k   int
	budget int
	lo, hi float64
	// scratch, grown as needed
	in      []float32 // probes for one run
	probe   []float64 // the probes' clipped directions, boundaryChunk×d
	sum, s1 []float64 // Σ u, Σ φu of a gradient estimate
	labels  []int
	// per-batch state, reused across batches: the clean labels, current
	// points and step directions of the batch's samples
	class []int
	cur   []float32
	v     []float64
	// per-iteration state: δ, bisection brackets, step sizes, sample lists
	delta, bLo, bHi, eps []float64
	todo                 []int
}

// grow returns s with at least n elements.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// labelsOf runs the m samples in x and returns their predicted labels
// (first maximum on ties), valid until the next call.
func (s *searcher) labelsOf(ctx context.Context, x []float32, m int) ([]int, error) {
	s.labels = grow(s.labels, m)
	for off := 0; off < m; off += s.r.Batch() {
		n := min(s.r.Batch(), m-off)
		o, err := s.r.Run(ctx, x[off*s.d:(off+n)*s.d], n)
		if err != nil {
			return nil, err
		}
		for i := range n {
			s.labels[off+i] = stats.Argmax(o[i*s.k : (i+1)*s.k])
		}
	}
	return s.labels[:m], nil
}

// batch searches the boundary of each sample of one batch (x0: the
// samples, y: their labels) and writes its results to out.
func (s *searcher) batch(ctx context.Context, x0 []float32, y []int64, out boundaryOut) error {
	n, d := len(y), s.d
	lab, err := s.labelsOf(ctx, x0, n)
	if err != nil {
		return err
	}
	s.class = grow(s.class, n)
	class := s.class
	copy(class, lab)
	var act []int // correctly classified: searched
	for i := range n {
		out.Queries[i] = 1
		out.Dist[i], out.Found[i] = 0, true // misclassified: distance 0 (ART)
		if class[i] == int(y[i]) {
			act = append(act, i)
		}
	}
	s.cur = grow(s.cur, n*d)
	cur := s.cur // each sample's current adversarial point
	row := func(v []float32, i int) []float32 { return v[i*d : (i+1)*d] }
	spent := func(i int) int { return int(out.Queries[i]) }

	// A random start on the adversarial side, up to hsjInitSize tries.
	pending := append([]int(nil), act...)
	var stuck []int // out of random tries' budget
	// ART tries 100 random starts; a smaller budget tries a tenth of it.
	for try := 0; try < min(hsjInitSize, max(1, s.budget/10)) && len(pending) > 0; try++ {
		s.in = grow(s.in, len(pending)*d)
		for j, i := range pending {
			p := row(s.in, j)
			for q := range p {
				p[q] = float32(s.lo + (s.hi-s.lo)*s.rng.Float64())
			}
			out.Queries[i]++
		}
		lab, err := s.labelsOf(ctx, s.in, len(pending))
		if err != nil {
			return err
		}
		next := pending[:0]
		for j, i := range pending {
			if lab[j] != class[i] {
				copy(row(cur, i), row(s.in, j))
			} else if spent(i) < s.budget-minBoundaryQueries {
				next = append(next, i)
			} else {
				stuck = append(stuck, i)
			}
		}
		pending = next
	}
	pending = append(pending, stuck...)
	// No random start changed the label (a model that labels all noise
	// alike: a binary table model, say): start from the nearest sample of
	// the batch the model labels otherwise, whose label is already known
	// (the data start of the Boundary attack and Foolbox).
	for _, i := range pending {
		near, nd := -1, math.Inf(1)
		for j := range n {
			if class[j] != class[i] {
				if e := dist(row(x0, j), row(x0, i)); e < nd {
					near, nd = j, e
				}
			}
		}
		if near >= 0 {
			copy(row(cur, i), row(x0, near))
			out.Found[i] = true
		} else {
			out.Found[i] = false
		}
	}
	live := act[:0]
	for _, i := range act {
		if out.Found[i] {
			live = append(live, i)
		} else {
			// No label change found: at least as far as the box allows.
			out.Dist[i] = farCorner(row(x0, i), s.lo, s.hi)
		}
	}
	if err := s.bisect(ctx, x0, cur, live, class, hsjInitBin, out); err != nil {
		return err
	}
	for _, i := range live {
		out.Dist[i] = dist(row(cur, i), row(x0, i))
	}

	theta := 0.01 / math.Sqrt(float64(d)) // ART's θ for L2
	steps := bisectSteps(theta)
	s.v = grow(s.v, n*d)
	v := s.v // each sample's step direction
	for it := 0; len(live) > 0; it++ {
		// Keep the samples that can afford a binary search, a gradient
		// estimate of at least 2 probes and a step.
		next := live[:0]
		for _, i := range live {
			if spent(i)+steps+2+1 <= s.budget {
				next = append(next, i)
			}
		}
		live = next
		if len(live) == 0 {
			break
		}
		s.delta = grow(s.delta, len(live))
		delta := s.delta
		for j, i := range live {
			if it == 0 {
				delta[j] = 0.1 * (s.hi - s.lo)
			} else {
				delta[j] = math.Sqrt(float64(d)) * theta * dist(row(cur, i), row(x0, i))
			}
		}
		if err := s.bisect(ctx, x0, cur, live, class, theta, out); err != nil {
			return err
		}
		next = live[:0]
		for j, i := range live {
			out.Dist[i] = min(out.Dist[i], dist(row(cur, i), row(x0, i)))
			m := min(int(float64(hsjInitEval)*math.Sqrt(float64(it+1))), int(hsjMaxEval), s.budget-spent(i)-1)
			if m < 2 {
				continue
			}
			ok, err := s.gradient(ctx, row(cur, i), class[i], delta[j], m, v[i*d:(i+1)*d])
			if err != nil {
				return err
			}
			out.Queries[i] += int32(m)
			if ok {
				next = append(next, i)
			}
		}
		live = next
		if err := s.step(ctx, x0, cur, v, live, class, it, out); err != nil {
			return err
		}
		for _, i := range live {
			out.Dist[i] = min(out.Dist[i], dist(row(cur, i), row(x0, i)))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// bisectSteps is the number of halvings of [0, 1] until its width is at
// most threshold (ART's binary search loop).
func bisectSteps(threshold float64) int {
	k := 0
	for w := 1.0; w > threshold; w /= 2 {
		k++
	}
	return k
}

// bisect moves each sample i of idx from its adversarial point cur to the
// boundary on the segment to x0: ART's L2 binary search over the blend
// (1 − α)·x0 + α·cur, α in [0, 1], until the bracket is at most threshold
// wide, keeping the adversarial end. All samples step together, one query
// each per halving.
func (s *searcher) bisect(ctx context.Context, x0, cur []float32, idx, class []int, threshold float64, out boundaryOut) error {
	if len(idx) == 0 {
		return nil
	}
	d := s.d
	s.bLo, s.bHi = grow(s.bLo, len(idx)), grow(s.bHi, len(idx))
	lo, hi := s.bLo, s.bHi
	for j := range hi {
		lo[j], hi[j] = 0, 1
	}
	s.in = grow(s.in, len(idx)*d)
	for k := bisectSteps(threshold); k > 0; k-- {
		for j, i := range idx {
			blend(s.in[j*d:(j+1)*d], x0[i*d:(i+1)*d], cur[i*d:(i+1)*d], (lo[j]+hi[j])/2)
			out.Queries[i]++
		}
		lab, err := s.labelsOf(ctx, s.in, len(idx))
		if err != nil {
			return err
		}
		for j, i := range idx {
			if mid := (lo[j] + hi[j]) / 2; lab[j] != class[i] {
				hi[j] = mid
			} else {
				lo[j] = mid
			}
		}
	}
	for j, i := range idx {
		c := cur[i*d : (i+1)*d]
		blend(c, x0[i*d:(i+1)*d], c, hi[j])
	}
	return nil
}

// blend writes (1 − a)·x0 + a·x1 to dst (dst may be x1).
func blend(dst, x0, x1 []float32, a float64) {
	for q := range dst {
		dst[q] = float32((1-a)*float64(x0[q]) + a*float64(x1[q]))
	}
}

// gradient estimates the direction that leaves class at the boundary point
// x from m probes x + δ·u (u a random unit Gaussian direction, clipped to
// the box, u' = (probe − x)/δ): ART's _compute_update, the mean of
// (φ − mean φ)·u' with φ = ±1 for an adversarial probe or not (the mean of
// ±u' when all agree). It writes the unit direction to v and reports
// false when the estimate is 0.
func (s *searcher) gradient(ctx context.Context, x []float32, class int, delta float64, m int, v []float64) (bool, error) {
	d := s.d
	s.sum = grow(s.sum, d)
	s.s1 = grow(s.s1, d)
	clear(s.sum)
	clear(s.s1)
	s.probe = grow(s.probe, boundaryChunk*d)
	s.in = grow(s.in, boundaryChunk*d)
	adv := 0
	for off := 0; off < m; off += boundaryChunk {
		c := min(boundaryChunk, m-off)
		for j := range c {
			u := s.probe[j*d : (j+1)*d]
			var nn float64
			for q := range u {
				u[q] = s.rng.NormFloat64()
				nn += u[q] * u[q]
			}
			nn = math.Sqrt(nn)
			p := s.in[j*d : (j+1)*d]
			for q := range u {
				e := min(max(float64(x[q])+delta*u[q]/nn, s.lo), s.hi)
				p[q] = float32(e)
				u[q] = (float64(p[q]) - float64(x[q])) / delta
			}
		}
		lab, err := s.labelsOf(ctx, s.in, c)
		if err != nil {
			return false, err
		}
		for j := range c {
			u := s.probe[j*d : (j+1)*d]
			phi := -1.0
			if lab[j] != class {
				phi = 1
				adv++
			}
			for q, uq := range u {
				s.sum[q] += uq
				s.s1[q] += phi * uq
			}
		}
	}
	// Σ(φ − φ̄)u = Σφu − φ̄Σu; when all φ agree, ±Σu (ART's special cases).
	mean := (2*float64(adv) - float64(m)) / float64(m)
	var nn float64
	for q := range v {
		switch adv {
		case m:
			v[q] = s.sum[q]
		case 0:
			v[q] = -s.sum[q]
		default:
			v[q] = s.s1[q] - mean*s.sum[q]
		}
		nn += v[q] * v[q]
	}
	if !(nn > 0) {
		return false, nil
	}
	nn = math.Sqrt(nn)
	for q := range v {
		v[q] /= nn
	}
	return true, nil
}

// step moves each sample of idx along its direction v from cur by ε =
// 2·dist/√(t+1), halved before each try until the clipped point is
// adversarial (ART's geometric step search; at most hsjHalvings tries and
// the budget, else the sample stays). All samples try together.
func (s *searcher) step(ctx context.Context, x0, cur []float32, v []float64, idx, class []int, it int, out boundaryOut) error {
	d := s.d
	s.eps = grow(s.eps, len(idx))
	eps := s.eps
	for j, i := range idx {
		eps[j] = 2 * dist(cur[i*d:(i+1)*d], x0[i*d:(i+1)*d]) / math.Sqrt(float64(it+1))
	}
	s.todo = grow(s.todo, len(idx))
	todo := s.todo // positions in idx
	for j := range todo {
		todo[j] = j
	}
	s.in = grow(s.in, len(idx)*d)
	for h := 0; h < hsjHalvings && len(todo) > 0; h++ {
		next := todo[:0]
		for _, j := range todo {
			if int(out.Queries[idx[j]]) < s.budget {
				next = append(next, j)
			}
		}
		todo = next
		for r, j := range todo {
			i := idx[j]
			eps[j] /= 2
			p, c, vi := s.in[r*d:(r+1)*d], cur[i*d:(i+1)*d], v[i*d:(i+1)*d]
			for q := range p {
				p[q] = float32(min(max(float64(c[q])+eps[j]*vi[q], s.lo), s.hi))
			}
			out.Queries[i]++
		}
		if len(todo) == 0 {
			break
		}
		lab, err := s.labelsOf(ctx, s.in, len(todo))
		if err != nil {
			return err
		}
		next = todo[:0]
		for r, j := range todo {
			i := idx[j]
			if lab[r] != class[i] {
				copy(cur[i*d:(i+1)*d], s.in[r*d:(r+1)*d])
			} else {
				next = append(next, j)
			}
		}
		todo = next
	}
	return nil
}

// dist is the L2 distance of a and b.
func dist(a, b []float32) float64 {
	var s float64
	for q := range a {
		e := float64(a[q]) - float64(b[q])
		s += e * e
	}
	return math.Sqrt(s)
}

// farCorner is the distance from x to the furthest corner of the box.
func farCorner(x []float32, lo, hi float64) float64 {
	var s float64
	for _, v := range x {
		e := max(float64(v)-lo, hi-float64(v))
		s += e * e
	}
	return math.Sqrt(s)
}

// calibration is ART's distance-threshold calibration
// (LabelOnlyDecisionBoundary.calibrate_distance_threshold) made honest by
// cross-fitting: the members and nonmembers are split in two halves
// (seeded, each set shuffled and dealt alternately), τ is chosen on one half
// by ART's rule and applied to the other, and the other way round.
type calibration struct {
	Tau      [2]float64 // τ chosen on half 0 and on half 1
	TP, FP   int        // members and nonmembers with distance > τ of the other half
	P, N     int
	Accuracy float64 // (TP + N − FP)/(P + N): ART's attack accuracy
}

// calibrate cross-fits ART's τ on dist (members first: member[i]).
func calibrate(dist []float64, member []bool, rng *rand.Rand) calibration {
	var half [2][]int
	for _, want := range []bool{true, false} {
		var idx []int
		for i, m := range member {
			if m == want {
				idx = append(idx, i)
			}
		}
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for k, i := range idx {
			half[k%2] = append(half[k%2], i)
		}
	}
	var c calibration
	for h := range 2 {
		c.Tau[h] = artTau(dist, member, half[h])
	}
	for h := range 2 {
		tau := c.Tau[1-h]
		for _, i := range half[h] {
			if member[i] {
				c.P++
				if dist[i] > tau {
					c.TP++
				}
			} else {
				c.N++
				if dist[i] > tau {
					c.FP++
				}
			}
		}
	}
	c.Accuracy = float64(c.TP+c.N-c.FP) / float64(c.P+c.N)
	return c
}

// artTau is ART's calibrate_distance_threshold on the rows idx: 99 evenly
// spaced τ = k·max(dist)/100, k = 1..99, the first of the highest accuracy
// of "member iff dist > τ" (0 when none beats accuracy 0).
func artTau(dist []float64, member []bool, idx []int) float64 {
	var top float64
	for _, i := range idx {
		top = max(top, dist[i])
	}
	inc := top / 100
	best, tau := 0.0, 0.0
	for k := 1; k < 100; k++ {
		t := float64(k) * inc
		right := 0
		for _, i := range idx {
			if (dist[i] > t) == member[i] {
				right++
			}
		}
		if acc := float64(right) / float64(len(idx)); acc > best {
			best, tau = acc, t
		}
	}
	return tau
}

// boundary returns the boundary_distance scores, writes the calibrated
// accuracy and returns the attack's extra details.
func (r *run) boundary(res *suite.Result) ([]float64, map[string]any) {
	bd := r.bd
	var total int64
	var most int32
	notFound, wrong := 0, 0
	for i, q := range bd.Queries {
		total += int64(q)
		most = max(most, q)
		if !bd.Found[i] {
			notFound++
		}
		if !r.scores[i].Correct {
			wrong++
		}
	}
	rng := rand.New(rand.NewPCG(suite.DeriveSeed(r.t.Seed, "membership/boundary_distance/calibration"), 0))
	c := calibrate(bd.Dist, r.member, rng)
	res.Set(BoundaryDistance+".calibrated_accuracy", c.Accuracy, true)
	n := len(bd.Queries)
	return bd.Dist, map[string]any{
		"search": "HopSkipJump L2, untargeted, labels only (ART's defaults: init_eval 100, max_eval 10000, init_size 100, θ 0.01/√d)",
		"budget": r.cfg.BoundaryQueries, "box": r.box[:],
		"queries":           map[string]any{"total": total, "mean": float64(total) / float64(n), "max": most},
		"misclassified":     wrong,
		"no_boundary_found": notFound,
		"calibration": map[string]any{"tau": c.Tau[:], "tp": c.TP, "fp": c.FP, "members": c.P, "nonmembers": c.N,
			"accuracy": c.Accuracy, "tpr": float64(c.TP) / float64(c.P), "fpr": float64(c.FP) / float64(c.N)},
	}
}
