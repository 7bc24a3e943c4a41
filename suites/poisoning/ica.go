package poisoning

import (
	"math"
	"math/rand/v2"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// Dimensionality reductions for ClusteringConfig.Reduce (ART's
// ActivationDefence parameter reduce: "PCA" and "FastICA").
const (
	ReducePCA = "pca" // principal components (PCA)
	ReduceICA = "ica" // independent components (FastICA)
)

// ParseReduce returns the reduction named by s: pca, or ica with its alias
// fastica, in any case (so ART's "PCA" and "FastICA" are accepted). ok is
// false for any other name.
func ParseReduce(s string) (reduce string, ok bool) {
	switch strings.ToLower(s) {
	case ReducePCA:
		return ReducePCA, true
	case ReduceICA, "fastica":
		return ReduceICA, true
	}
	return "", false
}

// FastICA settings: scikit-learn's FastICA defaults (tol=1e-4,
// max_iter=200). ART's reduce_dimensionality asks scikit-learn for
// max_iter=1000, tol=0.005 instead.
const (
	// ICATol is the convergence tolerance: the iteration stops when no
	// unmixing row w turns by more than this, max over rows of
	// ||w_new·w_old| − 1| < ICATol (the rows are unit vectors).
	ICATol = 1e-4
	// ICAMaxIter bounds the fixed-point iterations.
	ICAMaxIter = 200
)

// Float64 limits used by FastICA.
const (
	// machEps is float64's machine epsilon (numpy finfo(float64).eps). As in
	// numpy's matrix_rank, singular values at or below max(n, d)·machEps·σ_max
	// count as zero; FastICA does not whiten those directions.
	machEps = 0x1p-52
	// tinyNormal is the smallest normal float64 (numpy finfo(float64).tiny),
	// the floor scikit-learn clips eigenvalues of W Wᵀ to.
	tinyNormal = 0x1p-1022
)

// ICAStats describes one FastICA run.
type ICAStats struct {
	Iterations int  // fixed-point iterations run
	Converged  bool // whether the change fell below ICATol within ICAMaxIter iterations
}

// FastICA projects the rows of a (n×d) onto k independent components
// (Hyvärinen 1999; scikit-learn's FastICA.fit_transform with
// algorithm="parallel", fun="logcosh", whiten="unit-variance",
// whiten_solver="svd"): the rows are centred and whitened to the top
// min(k, d, n) principal components (each direction's sign fixed as
// scikit-learn does, its first coordinate positive), then the unmixing
// matrix W, a k×k standard normal draw from rng as scikit-learn's w_init,
// is refined by the symmetric fixed-point iteration
//
//	W ← E[g(Wz) zᵀ] − diag(E[g′(Wz)]) W,  g = tanh,
//	W ← (W Wᵀ)^(−1/2) W
//
// until ICATol or ICAMaxIter. The result is n×min(k, d, n), each column
// scaled to unit variance; components and their signs come in no
// particular order. Principal directions of zero variance (a rank r below
// k) are not whitened: they give zero columns, and only the top-left r×r
// block of the draw is used. ok is false when a factorisation fails. rng
// is the only source of randomness, so a given rng state gives the same
// result. Unlike PCA, FastICA does not return a unchanged when d ≤ k:
// activation clustering applies that rule itself.
func FastICA(a *mat.Dense, k int, rng *rand.Rand) (s *mat.Dense, stats ICAStats, ok bool) {
	n, d := a.Dims()
	if k < 1 {
		panic("poisoning: FastICA needs k ≥ 1")
	}
	k = min(k, d, n)
	w0 := mat.NewDense(k, k, nil)
	for i := 0; i < k; i++ {
		row := w0.RawRowView(i)
		for j := range row {
			row[j] = rng.NormFloat64()
		}
	}
	return fastICA(a, w0)
}

// fastICA is FastICA from the start w0 (k×k, k ≤ min(d, n)), which it
// does not change.
func fastICA(a, w0 *mat.Dense) (s *mat.Dense, stats ICAStats, ok bool) {
	n, d := a.Dims()
	k, _ := w0.Dims()
	mean := colMeans(a)
	c := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		src, dst := a.RawRowView(i), c.RawRowView(i)
		for j := range dst {
			dst[j] = src[j] - mean[j]
		}
	}
	var svd mat.SVD
	if !svd.Factorize(c, mat.SVDThinV) {
		return nil, ICAStats{}, false
	}
	sv := svd.Values(nil)
	r := 0
	for r < k && sv[r] > sv[0]*float64(max(n, d))*machEps {
		r++
	}
	s = mat.NewDense(n, k, nil)
	if r == 0 { // all rows equal: nothing to separate
		return s, ICAStats{Converged: true}, true
	}

	// Whitening: z = √n · c V_r diag(1/σ) has identity covariance.
	var v mat.Dense
	svd.VTo(&v)
	kw := mat.NewDense(d, r, nil)
	sqn := math.Sqrt(float64(n))
	for j := 0; j < r; j++ {
		f := sqn / sv[j]
		if v.At(0, j) < 0 { // scikit-learn's u *= np.sign(u[0])
			f = -f
		}
		for i := 0; i < d; i++ {
			kw.Set(i, j, v.At(i, j)*f)
		}
	}
	z := mat.NewDense(n, r, nil)
	z.Mul(c, kw)

	w := mat.DenseCopyOf(w0.Slice(0, r, 0, r))
	ws := newDecorrelator(r)
	if !ws.apply(w) {
		return nil, ICAStats{}, false
	}
	gz := mat.NewDense(n, r, nil) // g(z Wᵀ)
	w1 := mat.NewDense(r, r, nil)
	gp := make([]float64, r) // E[g′(Wz)] per component
	wT, gzT := w.T(), gz.T() // views, hoisted out of the loop
	for it := 1; it <= ICAMaxIter; it++ {
		gz.Mul(z, wT)
		clear(gp)
		for i := 0; i < n; i++ {
			row := gz.RawRowView(i)
			for j, x := range row {
				t := math.Tanh(x)
				row[j] = t
				gp[j] += 1 - t*t
			}
		}
		w1.Mul(gzT, z)
		for i := 0; i < r; i++ {
			row, old := w1.RawRowView(i), w.RawRowView(i)
			g := gp[i] / float64(n)
			for j := range row {
				row[j] = row[j]/float64(n) - g*old[j]
			}
		}
		if !ws.apply(w1) {
			return nil, ICAStats{}, false
		}
		var lim float64
		for i := 0; i < r; i++ {
			var dot float64
			old := w.RawRowView(i)
			for j, x := range w1.RawRowView(i) {
				dot += x * old[j]
			}
			lim = max(lim, math.Abs(math.Abs(dot)-1))
		}
		w.Copy(w1)
		stats.Iterations = it
		if lim < ICATol {
			stats.Converged = true
			break
		}
	}

	out := s.Slice(0, n, 0, r).(*mat.Dense)
	out.Mul(z, wT)
	// Unit variance (population standard deviation), as scikit-learn's
	// whiten="unit-variance"; z Wᵀ is already so up to rounding.
	sd := make([]float64, r)
	for i := 0; i < n; i++ {
		for j, x := range out.RawRowView(i) {
			sd[j] += x * x
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j] / float64(n))
	}
	for i := 0; i < n; i++ {
		row := out.RawRowView(i)
		for j := range row {
			if sd[j] > 0 {
				row[j] /= sd[j]
			}
		}
	}
	return s, stats, true
}

// decorrelator holds the workspace of symmetric decorrelation of r×r
// matrices.
type decorrelator struct {
	wwt   *mat.SymDense
	eig   mat.EigenSym
	u, us *mat.Dense
	uT    mat.Matrix // view of u
	m, w  *mat.Dense
	vals  []float64
}

func newDecorrelator(r int) *decorrelator {
	dc := &decorrelator{
		wwt: mat.NewSymDense(r, nil),
		u:   mat.NewDense(r, r, nil), us: mat.NewDense(r, r, nil),
		m: mat.NewDense(r, r, nil), w: mat.NewDense(r, r, nil),
		vals: make([]float64, r),
	}
	dc.uT = dc.u.T()
	return dc
}

// apply replaces w by (W Wᵀ)^(−1/2) W, scikit-learn's
// _sym_decorrelation: eigenvalues of W Wᵀ are clipped below at the smallest
// normal float64 (tinyNormal). ok is false when the eigendecomposition fails.
func (dc *decorrelator) apply(w *mat.Dense) bool {
	dc.wwt.SymOuterK(1, w)
	if !dc.eig.Factorize(dc.wwt, true) {
		return false
	}
	dc.eig.Values(dc.vals)
	dc.eig.VectorsTo(dc.u)
	r := len(dc.vals)
	for i := 0; i < r; i++ {
		src, dst := dc.u.RawRowView(i), dc.us.RawRowView(i)
		for j := range dst {
			dst[j] = src[j] / math.Sqrt(max(dc.vals[j], tinyNormal))
		}
	}
	dc.m.Mul(dc.us, dc.uT)
	dc.w.Mul(dc.m, w)
	w.Copy(dc.w)
	return true
}
