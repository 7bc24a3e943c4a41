package poisoning

import (
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/gauntlet-ml/gauntlet/stats"
)

// Spectral scores for SpectralConfig.Score.
const (
	// ScoreCentred is Tran et al.'s outlier score ((r − μ)·v)², v the top
	// right singular vector of the centred class activations.
	ScoreCentred = "centred"
	// ScoreART is ART 1.18.2's score |r·v| on the uncentred activations r
	// (same v).
	ScoreART = "art"
)

// Cluster analyses for ClusterConfig.Analysis (ART's names).
const (
	AnalysisSmaller      = "smaller"       // the smaller of the two clusters is poisoned
	AnalysisRelativeSize = "relative-size" // a cluster under size_threshold of the class is poisoned
	AnalysisSilhouette   = "silhouette"    // relative-size, and only when the silhouette exceeds its threshold
)

// topSingular returns the top right singular vector of the centred rows of
// a (n×d) and the column means. ok is false when the SVD fails.
func topSingular(a *mat.Dense) (v []float64, mean []float64, ok bool) {
	n, d := a.Dims()
	mean = colMeans(a)
	c := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			c.Set(i, j, a.At(i, j)-mean[j])
		}
	}
	var svd mat.SVD
	if !svd.Factorize(c, mat.SVDThinV) {
		return nil, mean, false
	}
	var vm mat.Dense
	svd.VTo(&vm)
	v = make([]float64, d)
	for j := 0; j < d; j++ {
		v[j] = vm.At(j, 0)
	}
	return v, mean, true
}

func colMeans(a *mat.Dense) []float64 {
	n, d := a.Dims()
	mean := make([]float64, d)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			mean[j] += a.At(i, j)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	return mean
}

// SpectralScores writes into dst (len n) the spectral-signature outlier
// score of each row of a (n×d): ((r − μ)·v)² for ScoreCentred or |r·v|
// for ScoreART. ok is false when the SVD fails.
func SpectralScores(dst []float64, a *mat.Dense, score string) bool {
	v, mean, ok := topSingular(a)
	if !ok {
		return false
	}
	n, d := a.Dims()
	for i := 0; i < n; i++ {
		var s float64
		for j := 0; j < d; j++ {
			r := a.At(i, j)
			if score == ScoreCentred {
				r -= mean[j]
			}
			s += r * v[j]
		}
		if score == ScoreCentred {
			dst[i] = s * s
		} else {
			dst[i] = math.Abs(s)
		}
	}
	return true
}

// SpectralProjection writes into dst (len n) the signed centred
// projection (r − μ)·v of each row of a (n×d), v as in SpectralScores,
// oriented so that its median is at most 0: poison is a minority of its
// class, so its side of the class mean is the side the median is not on.
// dst² is the ScoreCentred score. ok is false when the SVD fails.
func SpectralProjection(dst []float64, a *mat.Dense) bool {
	v, mean, ok := topSingular(a)
	if !ok {
		return false
	}
	n, d := a.Dims()
	for i := 0; i < n; i++ {
		var s float64
		for j := 0; j < d; j++ {
			s += (a.At(i, j) - mean[j]) * v[j]
		}
		dst[i] = s
	}
	if stats.Median(slices.Sorted(slices.Values(dst[:n]))) > 0 {
		for i := range dst[:n] {
			dst[i] = -dst[i]
		}
	}
	return true
}

// SpectralFlags marks in flag (len n) the rows of one class that ART's
// SpectralSignatureDefense flags: scores at or above the quantile
// 1 − eps·expected of the class's scores.
func SpectralFlags(flag []bool, scores []float64, expected, eps float64) {
	cut := stats.Quantile(slices.Sorted(slices.Values(scores)), max(1-eps*expected, 0))
	for i, s := range scores {
		flag[i] = s >= cut
	}
}

// PCA projects the centred rows of a (n×d) onto its top k principal
// components (scikit-learn's PCA.fit_transform up to the sign of each
// component, which no distance depends on). When d ≤ k, a is returned
// unchanged, as ART does.
func PCA(a *mat.Dense, k int) (*mat.Dense, bool) {
	n, d := a.Dims()
	if d <= k {
		return a, true
	}
	k = min(k, n)
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
	var v mat.Dense
	svd.VTo(&v)
	out := mat.NewDense(n, k, nil)
	out.Mul(c, v.Slice(0, d, 0, k))
	return out, true
}

// KMeans2 clusters the rows of a into two clusters with Lloyd's algorithm
// from greedy k-means++ seeds (2 local trials, as scikit-learn), restarts
// times, keeping the run with the least inertia. labels (len n) gets 0 or
// 1 per row. rng is the only source of randomness.
func KMeans2(labels []int, a *mat.Dense, restarts int, rng *rand.Rand) {
	n, d := a.Dims()
	if n < 2 {
		clear(labels)
		return
	}
	best := math.Inf(1)
	cur := make([]int, n)
	cent := make([]float64, 2*d)
	dist := make([]float64, n)
	cand := make([]float64, n)
	row := func(i int) []float64 { return a.RawRowView(i) }
	sq := func(x, c []float64) float64 {
		var s float64
		for j := range x {
			t := x[j] - c[j]
			s += t * t
		}
		return s
	}
	for r := 0; r < max(1, restarts); r++ {
		// k-means++: first centre uniform, second by D² sampling, best of 2 trials.
		copy(cent[:d], row(rng.IntN(n)))
		var total float64
		for i := 0; i < n; i++ {
			dist[i] = sq(row(i), cent[:d])
			total += dist[i]
		}
		bestPot, bestIdx := math.Inf(1), 0
		for trial := 0; trial < 2; trial++ {
			idx := n - 1
			if total > 0 {
				u := rng.Float64() * total
				var acc float64
				for i := 0; i < n; i++ {
					acc += dist[i]
					if acc > u {
						idx = i
						break
					}
				}
			} else {
				idx = rng.IntN(n)
			}
			var pot float64
			for i := 0; i < n; i++ {
				cand[i] = min(dist[i], sq(row(i), row(idx)))
				pot += cand[i]
			}
			if pot < bestPot {
				bestPot, bestIdx = pot, idx
			}
		}
		copy(cent[d:], row(bestIdx))
		inertia := lloyd(cur, cent, a, 300)
		if inertia < best {
			best = inertia
			copy(labels, cur)
		}
	}
}

// lloyd runs Lloyd iterations on two centres until the assignment stops
// changing (or iters), leaving the labels in lab and returning the inertia.
func lloyd(lab []int, cent []float64, a *mat.Dense, iters int) float64 {
	n, d := a.Dims()
	for i := range lab {
		lab[i] = -1
	}
	var inertia float64
	cnt := [2]int{}
	for it := 0; it < iters; it++ {
		changed := false
		inertia = 0
		for i := 0; i < n; i++ {
			x := a.RawRowView(i)
			var d0, d1 float64
			for j := 0; j < d; j++ {
				t0, t1 := x[j]-cent[j], x[j]-cent[d+j]
				d0 += t0 * t0
				d1 += t1 * t1
			}
			l := 0
			if d1 < d0 {
				l = 1
				inertia += d1
			} else {
				inertia += d0
			}
			if lab[i] != l {
				lab[i] = l
				changed = true
			}
		}
		if !changed {
			break
		}
		clear(cent)
		cnt = [2]int{}
		for i := 0; i < n; i++ {
			l := lab[i]
			cnt[l]++
			x := a.RawRowView(i)
			for j := 0; j < d; j++ {
				cent[l*d+j] += x[j]
			}
		}
		for l := 0; l < 2; l++ {
			if cnt[l] == 0 { // an empty cluster takes the farthest point
				far, fi := -1.0, 0
				for i := 0; i < n; i++ {
					x := a.RawRowView(i)
					var s float64
					for j := 0; j < d; j++ {
						t := x[j] - cent[(1-l)*d+j]/float64(max(1, cnt[1-l]))
						s += t * t
					}
					if s > far {
						far, fi = s, i
					}
				}
				copy(cent[l*d:(l+1)*d], a.RawRowView(fi))
				cnt[l] = 1
				continue
			}
			for j := 0; j < d; j++ {
				cent[l*d+j] /= float64(cnt[l])
			}
		}
	}
	return inertia
}

// Silhouette returns the mean silhouette coefficient of a two-cluster
// labelling of the rows of a (Rousseeuw 1987; scikit-learn's
// silhouette_score with the Euclidean metric). A sample alone in its
// cluster scores 0. ok is false when either cluster is empty.
func Silhouette(a *mat.Dense, labels []int) (float64, bool) {
	n, d := a.Dims()
	var cnt [2]int
	for _, l := range labels {
		cnt[l]++
	}
	if cnt[0] == 0 || cnt[1] == 0 {
		return 0, false
	}
	var total float64
	for i := 0; i < n; i++ {
		var sum [2]float64
		x := a.RawRowView(i)
		for k := 0; k < n; k++ {
			if k == i {
				continue
			}
			y := a.RawRowView(k)
			var s float64
			for j := 0; j < d; j++ {
				t := x[j] - y[j]
				s += t * t
			}
			sum[labels[k]] += math.Sqrt(s)
		}
		own := labels[i]
		if cnt[own] == 1 {
			continue
		}
		ai := sum[own] / float64(cnt[own]-1)
		bi := sum[1-own] / float64(cnt[1-own])
		if m := max(ai, bi); m > 0 {
			total += (bi - ai) / m
		}
	}
	return total / float64(n), true
}

// roundTo rounds x to places decimals, as numpy's round does for the
// values used here.
func roundTo(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.RoundToEven(x*p) / p
}

// ClusterFlags decides which of the two clusters of one class is poisoned
// and marks its rows in flag. It returns the cluster sizes and whether a
// cluster was flagged. sil is the class's silhouette (used only by
// AnalysisSilhouette).
func ClusterFlags(flag []bool, labels []int, analysis string, sizeThreshold, sil, silThreshold float64) (sizes [2]int, poisoned int) {
	for _, l := range labels {
		sizes[l]++
	}
	n := float64(len(labels))
	poisoned = -1
	switch analysis {
	case AnalysisSmaller:
		poisoned = 0 // np.argmin: ties go to cluster 0
		if sizes[1] < sizes[0] {
			poisoned = 1
		}
	default: // relative-size and silhouette: ART rounds shares to 2 decimals
		th := roundTo(sizeThreshold, 2)
		for c := 0; c < 2; c++ {
			if roundTo(float64(sizes[c])/n, 2) < th {
				poisoned = c
			}
		}
		if analysis == AnalysisSilhouette && sil <= silThreshold {
			poisoned = -1
		}
	}
	for i, l := range labels {
		flag[i] = l == poisoned
	}
	return sizes, poisoned
}

// Confusion counts flagged rows against ground truth.
type Confusion struct{ TP, FP, FN, TN int }

// Count returns the confusion counts of flagged against truth.
func Count(flagged, truth []bool) Confusion {
	var c Confusion
	for i, f := range flagged {
		switch {
		case f && truth[i]:
			c.TP++
		case f:
			c.FP++
		case truth[i]:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}

// F1 returns the harmonic mean of precision and recall, 2TP/(2TP+FP+FN);
// ok is false when there are no positives either way.
func (c Confusion) F1() (float64, bool) {
	den := 2*c.TP + c.FP + c.FN
	if den == 0 {
		return 0, false
	}
	return 2 * float64(c.TP) / float64(den), true
}
