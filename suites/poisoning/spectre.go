package poisoning

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/stats"
)

// SPECTRE (Hayase, Kong, Somani and Oh 2021) as the authors' code
// (github.com/SewoongLab/spectre-defense, commit ccf594a) writes it:
// quantum_filters.jl (rcov_quantum_filter, rcov_auto_quantum_filter) and
// dkk17.jl (cov_estimation_filter, cov_estimation_iterate: the filter of
// Diakonikolas, Kamath, Kane, Li, Moitra and Stewart 2017 for robust
// covariance estimation). Their constants:
const (
	// spectreC is dkk17.jl's C (line 34): the early filter's bound
	// C·k·log(n/τ) on |y|² and the stopping test's 1 + C·ε·log²(1/ε).
	spectreC = 10
	// spectreTau is τ, the filter's failure probability (default 0.1).
	spectreTau = 0.1
	// spectreShift is the shift of the tail test (dkk17.jl line 69).
	spectreShift = 3
	// spectreLimit1 bounds the samples the filter removes to
	// limit1·ε·n (quantum_filters.jl line 3, limit1 = 2).
	spectreLimit1 = 2
	// spectreLimit2 is the share limit2·ε·n of a class that the QUE
	// scores flag when ε is given (line 20, limit2 = 1.5).
	spectreLimit2 = 1.5
	// spectreMaxK is the largest k: the filter's moment matrix has
	// k(k+1)/2 rows, 2080 at k = 64.
	spectreMaxK = 64
	// spectreRankTol is the relative singular value (of the centred
	// class activations) below which a direction is dropped, and the
	// relative eigenvalue floor of the matrices inverted.
	spectreRankTol = 1e-9
)

// spectreAutoK are the k tried when k is not set: the authors' grid
// round.(range(1, 10, length=10).^2) (quantum_filters.jl line 28) up to
// 16, where the filter's k(k+1)/2-row moment matrix (136 rows) still costs
// well under a second per filter step (25–100 are left out for that
// cost); a k is tried only when the class has at least k(k+1) samples,
// twice the rows of that moment matrix, which it must estimate.
var spectreAutoK = []int{1, 4, 9, 16}

// SpectreInfo records how SPECTRE scored one class.
type SpectreInfo struct {
	// K is the number of dimensions used (the configured or chosen k,
	// at most the rank of the centred activations).
	K int
	// Removed is the number of samples the robust covariance filter
	// removed; Steps its filter steps; Stop why it stopped.
	Removed, Steps int
	Stop           string
	// Reweighted is the number of rows kept by the reweighting step
	// (reweightMCD; 0 when it did not run).
	Reweighted int
	// Candidates holds, when k was chosen, each k tried and its
	// statistic tr(Σ′M)/tr(M) (rcov_auto_quantum_filter).
	Candidates [][2]float64
}

// SpectreScores writes into dst (len n) the QUantum Entropy (QUE) score
// of each row of a (n×d), one class's activations: the centred rows are
// projected onto their top k principal directions (k 0: chosen from
// spectreAutoK as rcov_auto_quantum_filter chooses it); the robust
// covariance filter (covFilter) removes at most limit rows; the kept rows'
// mean μ̂ and covariance Σ̂ whiten every row, x = Σ̂^(−1/2)(r − μ̂); with Σ′
// the covariance of the whitened rows, M = exp(α(Σ′ − I)/(‖Σ′‖ − 1))/tr,
// and the score is xᵀMx. eps is the filter's outlier share ε; with
// reweight the filter's kept rows are corrected and reweighted
// (reweightMCD) before they whiten. For k = 1 the score is the squared
// centred projection (no filter, as the authors'). ok is false when a
// factorisation fails.
func SpectreScores(dst []float64, a *mat.Dense, k int, alpha, eps float64, limit int, reweight bool) (SpectreInfo, bool) {
	n, _ := a.Dims()
	maxK := k
	if k == 0 {
		maxK = spectreAutoK[len(spectreAutoK)-1]
	}
	reps, ok := centredPCA(a, maxK)
	if !ok {
		return SpectreInfo{}, false
	}
	_, r := reps.Dims()
	if r == 0 { // every row equal: nothing stands out
		clear(dst[:n])
		return SpectreInfo{Stop: "no variance"}, true
	}
	if k != 0 {
		return spectreK(dst, reps, min(k, r), alpha, eps, limit, reweight)
	}
	// rcov_auto_quantum_filter: each k's kept set whitens the common
	// r-dimensional representation; the k whose Σ′ has the largest
	// tr(Σ′M)/tr(M) wins (the first on a tie).
	var best SpectreInfo
	bestStat := math.Inf(-1)
	var cands [][2]float64
	sc := make([]float64, n)
	for _, kk := range spectreAutoK {
		if kk > r || kk > 1 && kk*(kk+1) > n {
			break
		}
		info, keep, ok := spectreFilter(reps.Slice(0, n, 0, kk).(*mat.Dense), eps, limit, reweight)
		if !ok {
			return SpectreInfo{}, false
		}
		// Σ′ of the r-dim rows whitened by the kept rows' covariance.
		x, ok := whiten(reps, keep)
		if !ok {
			return SpectreInfo{}, false
		}
		sp := covariance(x, nil, true)
		w, u, ok := queWeights(sp, alpha)
		if !ok {
			return SpectreInfo{}, false
		}
		// tr(Σ′M)/tr(M) with M = U diag(w) Uᵀ, tr M = 1: Σ_j w_j u_jᵀΣ′u_j.
		var stat float64
		for j, wj := range w {
			col := u.ColView(j)
			stat += wj * mat.Inner(col, sp, col)
		}
		cands = append(cands, [2]float64{float64(kk), stat})
		if stat > bestStat {
			bestStat, best = stat, info
		}
	}
	if best.K == 0 { // no candidate fits (cannot happen: r ≥ 1)
		best.K = 1
	}
	info, ok := spectreK(sc, reps, best.K, alpha, eps, limit, reweight)
	if !ok {
		return SpectreInfo{}, false
	}
	copy(dst, sc)
	info.Candidates = cands
	return info, true
}

// spectreK scores the rows of reps (n×r, centred principal coordinates)
// with SPECTRE at k dims (rcov_quantum_filter).
func spectreK(dst []float64, reps *mat.Dense, k int, alpha, eps float64, limit int, reweight bool) (SpectreInfo, bool) {
	n, _ := reps.Dims()
	rk := reps.Slice(0, n, 0, k).(*mat.Dense)
	if k == 1 { // quantum_filters.jl lines 6–8: no filter, M = 1
		for i := 0; i < n; i++ {
			v := rk.At(i, 0)
			dst[i] = v * v
		}
		return SpectreInfo{K: 1, Stop: "k = 1: no filter"}, true
	}
	info, keep, ok := spectreFilter(rk, eps, limit, reweight)
	if !ok {
		return SpectreInfo{}, false
	}
	x, ok := whiten(rk, keep)
	if !ok {
		return SpectreInfo{}, false
	}
	w, u, ok := queWeights(covariance(x, nil, true), alpha)
	if !ok {
		return SpectreInfo{}, false
	}
	proj := mat.NewDense(n, k, nil)
	proj.Mul(x, u)
	for i := 0; i < n; i++ {
		var s float64
		for j, v := range proj.RawRowView(i) {
			s += w[j] * v * v
		}
		dst[i] = s
	}
	return info, true
}

// spectreFilter runs the robust covariance filter on rk and returns which
// rows it keeps.
func spectreFilter(rk *mat.Dense, eps float64, limit int, reweight bool) (SpectreInfo, []bool, bool) {
	n, k := rk.Dims()
	info := SpectreInfo{K: k}
	keep := make([]bool, n)
	for i := range keep {
		keep[i] = true
	}
	if k == 1 {
		info.Stop = "k = 1: no filter"
		return info, keep, true
	}
	var ok bool
	info.Removed, info.Steps, info.Stop, ok = covFilter(keep, rk, eps, limit)
	if ok && reweight {
		info.Reweighted, ok = reweightMCD(keep, rk)
	}
	return info, keep, ok
}

// reweightMCD is FAST-MCD's correction and reweighting step (Rousseeuw and
// Van Driessen 1999, §2–3) applied to the filter's kept rows: with d² the
// squared distances of every row of rk (n×k) in the metric of the kept
// rows' mean and covariance, the covariance is scaled by c =
// median(d²)/χ²_k(0.5) so that it is consistent for a Gaussian class, and
// keep becomes the rows with d²/c ≤ χ²_k(0.975). It returns how many rows
// are kept.
func reweightMCD(keep []bool, rk *mat.Dense) (int, bool) {
	x, ok := whiten(rk, keep)
	if !ok {
		return 0, false
	}
	n, k := x.Dims()
	d2 := make([]float64, n)
	for i := range d2 {
		row := x.RawRowView(i)
		d2[i] = floats64Dot(row, row)
	}
	chi := distuv.ChiSquared{K: float64(k)}
	c := stats.Median(slices.Sorted(slices.Values(d2))) / chi.Quantile(0.5)
	if !(c > 0) {
		return 0, true
	}
	bound := chi.Quantile(0.975)
	kept := 0
	for i, v := range d2 {
		keep[i] = v/c <= bound
		if keep[i] {
			kept++
		}
	}
	return kept, true
}

// centredPCA returns the centred rows of a projected onto their top
// min(k, rank) principal directions (n×r); a direction whose singular
// value is below spectreRankTol of the largest is dropped.
func centredPCA(a *mat.Dense, k int) (*mat.Dense, bool) {
	n, d := a.Dims()
	mean := colMeans(a)
	c := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			c.Set(i, j, a.At(i, j)-mean[j])
		}
	}
	var svd mat.SVD
	if !svd.Factorize(c, mat.SVDThinV) {
		return nil, false
	}
	s := svd.Values(nil)
	r := 0
	for _, v := range s {
		if len(s) > 0 && v > spectreRankTol*s[0] {
			r++
		}
	}
	r = min(r, k)
	if r == 0 {
		return mat.NewDense(n, 1, nil).Slice(0, n, 0, 0).(*mat.Dense), true
	}
	var v mat.Dense
	svd.VTo(&v)
	out := mat.NewDense(n, r, nil)
	out.Mul(c, v.Slice(0, d, 0, r))
	return out, true
}

// covariance returns the covariance of the rows of x whose keep is true
// (all when keep is nil), about their mean, divided by m − 1 when
// corrected and by m otherwise (Julia's cov(·, corrected=…)).
func covariance(x *mat.Dense, keep []bool, corrected bool) *mat.SymDense {
	n, d := x.Dims()
	mean := make([]float64, d)
	m := 0
	for i := 0; i < n; i++ {
		if keep != nil && !keep[i] {
			continue
		}
		m++
		for j, v := range x.RawRowView(i) {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(max(m, 1))
	}
	c := mat.NewDense(m, d, nil)
	ri := 0
	for i := 0; i < n; i++ {
		if keep != nil && !keep[i] {
			continue
		}
		row := c.RawRowView(ri)
		for j, v := range x.RawRowView(i) {
			row[j] = v - mean[j]
		}
		ri++
	}
	den := float64(m)
	if corrected {
		den = float64(m - 1)
	}
	cov := mat.NewSymDense(d, nil)
	if m > 0 && den > 0 {
		cov.SymOuterK(1/den, c.T())
	}
	return cov
}

// invSqrt returns s^(−1/2) for a symmetric positive semi-definite s,
// eigenvalues floored at spectreRankTol of the largest.
func invSqrt(s *mat.SymDense) (*mat.Dense, bool) {
	var eig mat.EigenSym
	if !eig.Factorize(s, true) {
		return nil, false
	}
	vals := eig.Values(nil)
	var u mat.Dense
	eig.VectorsTo(&u)
	top := slices.Max(vals)
	d := len(vals)
	out := mat.NewDense(d, d, nil)
	for j, l := range vals {
		l = max(l, spectreRankTol*top, math.SmallestNonzeroFloat64)
		f := 1 / math.Sqrt(l)
		for a := 0; a < d; a++ {
			ua := u.At(a, j) * f
			for b := 0; b < d; b++ {
				out.Set(a, b, out.At(a, b)+ua*u.At(b, j))
			}
		}
	}
	return out, true
}

// whiten returns Σ̂^(−1/2)(r − μ̂) for every row r of x, μ̂ and Σ̂ the
// mean and the (uncorrected) covariance of the kept rows
// (quantum_filters.jl lines 11–13; the authors whiten the rows centred on
// the mean of all rows, the paper on the robust mean, which is used here).
func whiten(x *mat.Dense, keep []bool) (*mat.Dense, bool) {
	n, d := x.Dims()
	mean := make([]float64, d)
	m := 0
	for i := 0; i < n; i++ {
		if !keep[i] {
			continue
		}
		m++
		for j, v := range x.RawRowView(i) {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(max(m, 1))
	}
	w, ok := invSqrt(covariance(x, keep, false))
	if !ok {
		return nil, false
	}
	c := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		row := c.RawRowView(i)
		for j, v := range x.RawRowView(i) {
			row[j] = v - mean[j]
		}
	}
	out := mat.NewDense(n, d, nil)
	out.Mul(c, w) // w is symmetric
	return out, true
}

// queWeights returns the eigen-decomposition of M = exp(α(Σ′ − I)/(‖Σ′‖ −
// 1))/tr(…) (quantum_filters.jl lines 16–17): M = U diag(w) Uᵀ with Σw =
// 1. The exponent is shifted by its maximum α before exp, which the
// normalisation cancels, so no α overflows. When ‖Σ′‖ ≤ 1 (no direction
// has excess variance) M is I/k.
func queWeights(sp *mat.SymDense, alpha float64) ([]float64, *mat.Dense, bool) {
	var eig mat.EigenSym
	if !eig.Factorize(sp, true) {
		return nil, nil, false
	}
	vals := eig.Values(nil)
	var u mat.Dense
	eig.VectorsTo(&u)
	op := slices.Max(vals)
	w := make([]float64, len(vals))
	var sum float64
	for j, l := range vals {
		if op-1 > 0 {
			w[j] = math.Exp(alpha * ((l-1)/(op-1) - 1))
		} else {
			w[j] = 1
		}
		sum += w[j]
	}
	for j := range w {
		w[j] /= sum
	}
	return w, &u, true
}

// covFilter is dkk17.jl's cov_estimation_iterate (lines 87–130) with
// cov_estimation_filter (lines 32–85) on the rows of s (n×k): each step
// takes the kept rows S, their second moment Σ = SᵀS/m and Y = SΣ^(−1/2),
// and (early filter) removes the rows with |y|² ≥ C·k·log(m/τ); otherwise
// it finds the top eigenpair (λ, V) of T = E[vec(yyᵀ)vec(yyᵀ)ᵀ] −
// vec(I)vec(I)ᵀ (on symmetric V, ‖V‖ = 1), stops when λ ≤ 1 +
// C·ε·log²(1/ε) (the kept rows look Gaussian), and else removes the rows
// whose |p − median(p)|, p = (yᵀVy − tr V)/√2, exceeds T: going up the
// sorted deviations δ_i (i = 1…m), the first δ_i ≥ 3 with i/m ≥
// covTail(δ_i − 3) sets T = δ_i − 3 (lines 67–84 as written: where
// covTail is 1 only i = m passes, so a step removes the rows within 3 of
// the largest deviation; the loop ends without T when no δ ≥ 3). It never removes
// more than limit rows in all (the least deviant of a step are kept back
// when a step would pass the limit) and stops when a step removes none.
// keep (len n, all true on entry) gets the kept rows.
func covFilter(keep []bool, s *mat.Dense, eps float64, limit int) (removed, steps int, stop string, ok bool) {
	n, k := s.Dims()
	p := k * (k + 1) / 2
	// Buffers for the largest step (all n rows), sliced to the kept rows.
	idx := make([]int, 0, n)
	curBuf, yBuf, zBuf := mat.NewDense(n, k, nil), mat.NewDense(n, k, nil), mat.NewDense(n, p, nil)
	mom, t := mat.NewSymDense(k, nil), mat.NewSymDense(p, nil)
	qBuf, psBuf, diffBuf, scratch := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	dropBuf, vBuf := make([]bool, n), make([]float64, p)
	var eig mat.EigenSym
	var vecs mat.Dense
	for steps = 0; ; steps++ {
		if limit-removed <= 0 {
			return removed, steps, "limit reached", true
		}
		idx = idx[:0]
		for i := 0; i < n; i++ {
			if keep[i] {
				idx = append(idx, i)
			}
		}
		m := len(idx)
		left := limit - removed
		cur := curBuf.Slice(0, m, 0, k).(*mat.Dense)
		for ri, i := range idx {
			copy(cur.RawRowView(ri), s.RawRowView(i))
		}
		mom.SymOuterK(1/float64(m), cur.T())
		w, ok := invSqrt(mom)
		if !ok {
			return removed, steps, "", false
		}
		y := yBuf.Slice(0, m, 0, k).(*mat.Dense)
		y.Mul(cur, w)
		// Early filter (lines 40–49).
		q := qBuf[:m]
		early := false
		bound := spectreC * float64(k) * math.Log(float64(m)/spectreTau)
		for ri := range q {
			row := y.RawRowView(ri)
			q[ri] = floats64Dot(row, row)
			if q[ri] >= bound {
				early = true
			}
		}
		drop := dropBuf[:m]
		if early {
			for ri, v := range q {
				drop[ri] = v >= bound
			}
			keepLowest(drop, q, m-left, scratch)
		} else {
			// T on svec(yyᵀ): diagonal entries y_a², off-diagonal √2·y_a·y_b,
			// so that svec(A)·svec(B) = tr(AB) for symmetric A, B.
			z := zBuf.Slice(0, m, 0, p).(*mat.Dense)
			for ri := 0; ri < m; ri++ {
				svec(z.RawRowView(ri), y.RawRowView(ri))
			}
			t.SymOuterK(1/float64(m), z.T())
			// − svec(I)svec(I)ᵀ: svec(I) is 1 on the diagonal entries.
			for a := 0; a < k; a++ {
				for b := a; b < k; b++ {
					ia, ib := svecIndex(a, a, k), svecIndex(b, b, k)
					t.SetSym(ia, ib, t.At(ia, ib)-1)
				}
			}
			if !eig.Factorize(t, true) {
				return removed, steps, "", false
			}
			vals := eig.Values(nil)
			top := len(vals) - 1 // ascending
			lambda := vals[top]
			if lambda <= 1+spectreC*eps*math.Pow(math.Log(1/eps), 2) {
				return removed, steps, "covariance accepted", true
			}
			eig.VectorsTo(&vecs)
			for i := range vBuf {
				vBuf[i] = vecs.At(i, top)
			}
			var trV float64
			for a := 0; a < k; a++ {
				trV += vBuf[svecIndex(a, a, k)]
			}
			ps, diffs := psBuf[:m], diffBuf[:m]
			for ri := range ps {
				ps[ri] = (floats64Dot(z.RawRowView(ri), vBuf) - trV) / math.Sqrt2
			}
			sorted := scratch[:m]
			copy(sorted, ps)
			slices.Sort(sorted)
			med := stats.Median(sorted)
			for ri, v := range ps {
				diffs[ri] = math.Abs(v - med)
			}
			copy(sorted, diffs)
			slices.Sort(sorted)
			th := math.NaN()
			for i, diff := range sorted {
				if diff < spectreShift {
					continue
				}
				tt := diff - spectreShift
				if tt <= 0 {
					continue
				}
				if float64(i+1)/float64(m) >= covTail(tt, eps) {
					th = tt
					break
				}
			}
			if math.IsNaN(th) {
				return removed, steps, "no outlier found", true
			}
			for ri, dv := range diffs {
				drop[ri] = dv > th
			}
			keepLowest(drop, diffs, m-left, scratch)
		}
		nd := 0
		for ri, dr := range drop {
			if dr {
				keep[idx[ri]] = false
				nd++
			}
		}
		if nd == 0 {
			return removed, steps, "no row removable within the limit", true
		}
		removed += nd
	}
}

// covTail is dkk17.jl's cov_Tail (lines 7–14): 1 up to T = 10·log(1/ε),
// then 3ε/(T·log T)².
func covTail(t, eps float64) float64 {
	if t <= 10*math.Log(1/eps) {
		return 1
	}
	return 3 * eps / math.Pow(t*math.Log(t), 2)
}

// keepLowest clears drop for the rows whose value v is at or below the
// lo-th smallest value (util.jl's k_lowest_ind; none when lo ≤ 0), so a
// step keeps at least the lo least deviant rows. scratch (len ≥ len(v))
// is overwritten.
func keepLowest(drop []bool, v []float64, lo int, scratch []float64) {
	if lo <= 0 {
		return
	}
	sorted := scratch[:len(v)]
	copy(sorted, v)
	slices.Sort(sorted)
	cut := sorted[min(lo, len(v))-1]
	for i, x := range v {
		if x <= cut {
			drop[i] = false
		}
	}
}

// svecIndex is the position of entry (a, b), a ≤ b, of a symmetric k×k
// matrix in svec order (row-major upper triangle).
func svecIndex(a, b, k int) int { return a*k - a*(a-1)/2 + (b - a) }

// svec writes svec(yyᵀ) into dst (len k(k+1)/2).
func svec(dst, y []float64) {
	k := len(y)
	for a := 0; a < k; a++ {
		dst[svecIndex(a, a, k)] = y[a] * y[a]
		for b := a + 1; b < k; b++ {
			dst[svecIndex(a, b, k)] = math.Sqrt2 * y[a] * y[b]
		}
	}
}

func floats64Dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// spectreEps returns the filter's ε and removal limit for a class of n
// samples: with an expected poison rate p, ε = p and limit
// round(limit1·p·n) as the authors (their ε is the known poison count);
// without one, ε = 1/2 (the breakdown point: poison is a minority of its
// class) and the limit ⌊(n − 1)/2⌋, so the kept rows stay a majority.
func spectreEps(p float64, n int) (float64, int) {
	if p > 0 {
		return p, min(int(math.Round(spectreLimit1*p*float64(n))), (n-1)/2)
	}
	return 0.5, (n - 1) / 2
}

// details returns info for the per-class details.
func (info SpectreInfo) details() map[string]any {
	m := map[string]any{"k": info.K, "filter_removed": info.Removed, "filter_steps": info.Steps, "filter_stop": info.Stop}
	if info.Reweighted > 0 {
		m["reweighted_kept"] = info.Reweighted
	}
	if len(info.Candidates) > 0 {
		var c []string
		for _, kv := range info.Candidates {
			c = append(c, fmt.Sprintf("k %d: %.4g", int(kv[0]), kv[1]))
		}
		m["k_choice"] = c
	}
	return m
}

// SpectreConfig are the SPECTRE settings: K the dimensions kept (0:
// chosen from spectreAutoK), Alpha the QUE parameter α (the authors'
// default 4; 0 gives the whitened squared norm, large values the top
// whitened direction alone) and ExpectedPoisonRate the optional share ε
// of each class (0: the cut-off comes from the scores).
type SpectreConfig struct {
	K                  int     `mapstructure:"k"`
	Alpha              float64 `mapstructure:"alpha"`
	ExpectedPoisonRate float64 `mapstructure:"expected_poison_rate"`
}

// decodeSpectre fills SPECTRE's defaults and checks its keys; has reports
// whether a key was given.
func decodeSpectre(sc *SpectreConfig, has func(string) bool) error {
	const key = "config suites.poisoning.data.spectre."
	if !has("data.spectre.alpha") {
		sc.Alpha = 4
	}
	if has("data.spectre.k") && (sc.K < 1 || sc.K > spectreMaxK) {
		return errs.Invalidf(key+"k: %d is outside [1, %d]; leave it out to choose k from the data", sc.K, spectreMaxK)
	}
	if !(sc.Alpha >= 0) || math.IsInf(sc.Alpha, 0) {
		return errs.Invalidf(key+"alpha: %g must be a finite number ≥ 0", sc.Alpha)
	}
	if has("data.spectre.expected_poison_rate") && !(sc.ExpectedPoisonRate > 0 && sc.ExpectedPoisonRate <= 0.5) {
		return errs.Invalidf(key+"expected_poison_rate: %g is outside (0, 0.5]; leave it out to take the cut-off from the score distribution", sc.ExpectedPoisonRate)
	}
	return nil
}
