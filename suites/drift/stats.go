package drift

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/gauntlet-ml/gauntlet/stats"
)

// PSIEpsilon replaces an empty bin's proportion in the PSI sum, so that a
// bin empty in one set gives a large finite term instead of an infinite
// one. 1e-4 is Evidently's choice (its psi_stat_test sets empty bins'
// percentages to 0.0001).
const PSIEpsilon = 1e-4

// QuantileEdges returns the inner bin edges of a numeric feature: the
// reference's j/bins quantiles (numpy's linear interpolation) for j =
// 1..bins−1, duplicates removed. The bins are (−∞, e₁], (e₁, e₂], …,
// (e_last, +∞) (numpy.digitize with right=True).
func QuantileEdges(sortedRef []float64, bins int) []float64 {
	edges := make([]float64, 0, bins-1)
	for j := 1; j < bins; j++ {
		e := stats.Quantile(sortedRef, float64(j)/float64(bins))
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	return edges
}

// BinCounts counts xs into dst over the bins of edges (len(edges)+1 bins,
// right-closed as QuantileEdges says). dst is zeroed first.
func BinCounts(dst []int, xs, edges []float64) {
	clear(dst)
	for _, v := range xs {
		dst[sort.SearchFloat64s(edges, v)]++
	}
}

// PSI returns the population stability index of the counts cur against
// the counts ref over the same bins: Σ (c−r)·ln(c/r) over the bins'
// proportions, an empty bin's proportion taken as PSIEpsilon.
func PSI(ref, cur []int) float64 {
	var nr, nc int
	for i := range ref {
		nr += ref[i]
		nc += cur[i]
	}
	var s float64
	for i := range ref {
		r := float64(ref[i]) / float64(nr)
		c := float64(cur[i]) / float64(nc)
		if r == 0 {
			r = PSIEpsilon
		}
		if c == 0 {
			c = PSIEpsilon
		}
		s += (c - r) * math.Log(c/r)
	}
	return s
}

// KS returns the two-sample Kolmogorov-Smirnov statistic D = sup |F₁−F₂|
// of two sorted samples and its asymptotic p-value: the Kolmogorov
// distribution's survival function at √(n·m/(n+m))·D (scipy's
// kstwobign.sf; ks_2samp's method="asymp" uses a finite-n refinement and
// its default "exact" method for samples under 10,000, so small samples
// differ in the p-value, not in D).
func KS(a, b []float64) (d, p float64) {
	n, m := len(a), len(b)
	i, j := 0, 0
	for i < n && j < m {
		v := min(a[i], b[j])
		for i < n && a[i] <= v {
			i++
		}
		for j < m && b[j] <= v {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(n)-float64(j)/float64(m)))
	}
	en := float64(n) * float64(m) / float64(n+m)
	return d, KolmogorovSF(math.Sqrt(en) * d)
}

// KolmogorovSF returns P(K > x) for the Kolmogorov distribution. Below
// x = 1.18 it is 1 − √(2π)/x · Σ_{k≥1} exp(−(2k−1)²π²/(8x²)), above it
// 2 Σ_{k≥1} (−1)^{k−1} exp(−2k²x²): each series converges fast on its side
// (Numerical Recipes, 3rd ed., §6.14).
func KolmogorovSF(x float64) float64 {
	if x <= 0 {
		return 1
	}
	if x < 1.18 {
		var s float64
		for k := 1; k <= 20; k++ {
			j := float64(2*k - 1)
			s += math.Exp(-j * j * math.Pi * math.Pi / (8 * x * x))
		}
		return min(1, max(0, 1-math.Sqrt(2*math.Pi)/x*s))
	}
	var s float64
	for k := 1; k <= 100; k++ {
		t := math.Exp(-2 * float64(k*k) * x * x)
		if k%2 == 1 {
			s += t
		} else {
			s -= t
		}
		if t < 1e-17 {
			break
		}
	}
	return min(1, max(0, 2*s))
}

// ChiSquare returns Pearson's χ² statistic of homogeneity of the 2×K
// table of category counts ref and cur (no continuity correction), its
// degrees of freedom K−1 over the categories seen in either set, and its
// p-value. One category gives 0, 0 and p = 1.
func ChiSquare(ref, cur []int) (chi2 float64, dof int, p float64) {
	var nr, nc int
	for i := range ref {
		nr += ref[i]
		nc += cur[i]
	}
	n := float64(nr + nc)
	k := 0
	for i := range ref {
		t := float64(ref[i] + cur[i])
		if t == 0 {
			continue
		}
		k++
		er, ec := t*float64(nr)/n, t*float64(nc)/n
		chi2 += (float64(ref[i])-er)*(float64(ref[i])-er)/er + (float64(cur[i])-ec)*(float64(cur[i])-ec)/ec
	}
	if k < 2 {
		return 0, 0, 1
	}
	return chi2, k - 1, distuv.ChiSquared{K: float64(k - 1)}.Survival(chi2)
}

// MMD returns the unbiased estimate of the squared maximum mean
// discrepancy (Gretton et al. 2012, eq. 3) between the rows of x (n×dim)
// and y (m×dim) under the RBF kernel exp(−‖a−b‖²/(2σ²)), σ the median
// pairwise distance of the pooled rows (the median heuristic), and its
// permutation p-value (1 + #{permuted ≥ observed}) / (1 + perms) over
// perms random relabellings drawn from r.
func MMD(x, y []float32, dim, perms int, r *rand.Rand) (mmd2, sigma, p float64) {
	n, m := len(x)/dim, len(y)/dim
	N := n + m
	row := func(i int) []float32 {
		if i < n {
			return x[i*dim : (i+1)*dim]
		}
		return y[(i-n)*dim : (i-n+1)*dim]
	}
	d2 := make([]float64, N*N)
	tri := make([]float64, 0, N*(N-1)/2)
	for i := 0; i < N; i++ {
		a := row(i)
		for j := i + 1; j < N; j++ {
			b := row(j)
			var s float64
			for k := range a {
				t := float64(a[k]) - float64(b[k])
				s += t * t
			}
			d2[i*N+j], d2[j*N+i] = s, s
			tri = append(tri, s)
		}
	}
	slices.Sort(tri)
	sigma = math.Sqrt(stats.Median(tri))
	if sigma == 0 {
		sigma = 1
	}
	g := 1 / (2 * sigma * sigma)
	kern := d2 // in place: d2 is not needed afterwards
	for i := range kern {
		kern[i] = math.Exp(-kern[i] * g)
	}
	// inX[i] says whether row i is in the first sample under the current
	// labelling; the sums run over the upper triangle, row by row.
	inX := make([]bool, N)
	for i := range n {
		inX[i] = true
	}
	cxx, cyy, cxy := 2/float64(n*(n-1)), 2/float64(m*(m-1)), -2/float64(n*m)
	stat := func() float64 {
		var sxx, syy, sxy float64
		for i := 0; i < N; i++ {
			ri, xi := kern[i*N:(i+1)*N], inX[i]
			for j := i + 1; j < N; j++ {
				switch xj := inX[j]; {
				case xi && xj:
					sxx += ri[j]
				case !xi && !xj:
					syy += ri[j]
				default:
					sxy += ri[j]
				}
			}
		}
		return cxx*sxx + cyy*syy + cxy*sxy
	}
	mmd2 = stat()
	ge := 0
	for range perms {
		r.Shuffle(N, func(i, j int) { inX[i], inX[j] = inX[j], inX[i] })
		if stat() >= mmd2 {
			ge++
		}
	}
	return mmd2, sigma, float64(1+ge) / float64(1+perms)
}
