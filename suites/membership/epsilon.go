package membership

import (
	"math"

	"github.com/gauntlet-ml/gauntlet/learn"
	"github.com/gauntlet-ml/gauntlet/stats"
)

// epsilonTopK is how many of the largest bounds the details keep:
// TensorFlow Privacy's EPSILON_K.
const epsilonTopK = 5

// epsilonRatios names the four rate ratios of TensorFlow Privacy's
// two-sided EpsilonLowerBound, in its order: tpr/fpr, tnr/fnr and, for a
// rule that predicts "member" below the threshold, fpr/tpr, fnr/tnr.
var epsilonRatios = [4]string{"tpr/fpr", "tnr/fnr", "fpr/tpr", "fnr/tnr"}

// cpTable caches the Clopper-Pearson bounds of k/n for every k of one n at
// one level: an attack's ROC needs them at every point, and every attack
// shares the member and nonmember counts.
type cpTable struct {
	n      int
	level  float64
	lo, hi []float64 // NaN: not computed yet
}

func newCPTable(n int, level float64) *cpTable {
	c := &cpTable{n: n, level: level, lo: make([]float64, n+1), hi: make([]float64, n+1)}
	for i := range c.lo {
		c.lo[i], c.hi[i] = math.NaN(), math.NaN()
	}
	return c
}

// bounds returns the Clopper-Pearson interval of k/n (stats.ClopperPearson).
func (c *cpTable) bounds(k int) (lo, hi float64) {
	if math.IsNaN(c.lo[k]) {
		c.lo[k], c.hi[k], _ = stats.ClopperPearson(k, c.n, c.level)
	}
	return c.lo[k], c.hi[k]
}

// epsilonBound is an attack's differential-privacy ε lower bound.
type epsilonBound struct {
	// Value is the largest bound (0 when no ratio is positive).
	Value float64
	// Top holds the epsilonTopK largest bounds, decreasing.
	Top []float64
	// Point is the ROC point of Value, Ratio the ratio it bounds.
	Point int
	Ratio string
}

// epsilonLowerBound returns the ε lower bound of TensorFlow Privacy's
// EpsilonLowerBound with the Clopper-Pearson ratio bound
// (privacy/privacy_tests/epsilon_lower_bound.py, two_sided_threshold=True):
// at every ROC point, for each of the four ratios num/den of epsilonRatios,
// the lower Clopper-Pearson bound of num over the upper bound of den, each
// two-sided at the confidence level (statsmodels' proportion_confint
// method='beta' at α = 1 − level), 0 when the lower bound is 0 or the upper
// is 1; ε is the log of the largest positive ratio. With δ > 0 the numerator
// is (lower bound − δ), Jagielski et al. 2020's (ε, δ) form; TF Privacy's
// is δ = 0. mem and non are the cached bounds for roc.P and roc.N.
func epsilonLowerBound(roc *learn.ROC, mem, non *cpTable, delta float64) epsilonBound {
	best := epsilonBound{Point: -1}
	top := make([]float64, 0, epsilonTopK+1)
	for i := range roc.TP {
		tp, fp := roc.TP[i], roc.FP[i]
		fn, tn := roc.P-tp, roc.N-fp
		tpLo, tpHi := mem.bounds(tp)
		fnLo, fnHi := mem.bounds(fn)
		fpLo, fpHi := non.bounds(fp)
		tnLo, tnHi := non.bounds(tn)
		for r, q := range [4][2]float64{{tpLo, fpHi}, {tnLo, fnHi}, {fpLo, tpHi}, {fnLo, tnHi}} {
			num, den := q[0]-delta, q[1]
			if q[0] <= 0 || den >= 1 || num <= 0 {
				continue
			}
			e := math.Log(num / den)
			if best.Point < 0 || e > best.Value {
				best.Value, best.Point, best.Ratio = e, i, epsilonRatios[r]
			}
			top = insertTop(top, e)
		}
	}
	if best.Point < 0 {
		best.Value, best.Point = 0, 0
	}
	best.Top = top
	return best
}

// insertTop inserts v into top (decreasing), keeping at most epsilonTopK.
func insertTop(top []float64, v float64) []float64 {
	if len(top) == epsilonTopK && v <= top[len(top)-1] {
		return top
	}
	j := len(top)
	for j > 0 && top[j-1] < v {
		j--
	}
	top = append(top, 0)
	copy(top[j+1:], top[j:])
	top[j] = v
	if len(top) > epsilonTopK {
		top = top[:epsilonTopK]
	}
	return top
}
