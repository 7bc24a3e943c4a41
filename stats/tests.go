package stats

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// fisherRelTol is the relative tolerance under which a table's probability
// counts as "as extreme as" the observed one in Fisher's two-sided test
// (scipy.stats.fisher_exact uses 1 + 1e-7).
const fisherRelTol = 1e-7

// cochranMin is the smallest expected cell count for which the
// two-proportion z-test is used (Cochran's rule); below it, Fisher's exact.
const cochranMin = 5

// Names of the two-proportion tests, as TwoProportionTest returns them and
// reports write them.
const (
	TwoProportionZName = "two_proportion_z"
	FisherExactName    = "fisher_exact"
)

// TwoProportionTest tests H0: p1 = p2 for k1 successes of n1 and k2 of n2,
// two-sided. It uses the pooled two-proportion z-test when every expected
// cell of the 2×2 table is at least 5, else Fisher's exact test. It returns
// the test's name (TwoProportionZName or FisherExactName) and p-value; ok is
// false when either n is 0.
func TwoProportionTest(k1, n1, k2, n2 int64) (name string, p float64, ok bool) {
	if n1 <= 0 || n2 <= 0 {
		return "", math.NaN(), false
	}
	n := n1 + n2
	k := k1 + k2
	minExp := math.Min(math.Min(float64(n1)*float64(k), float64(n2)*float64(k)),
		math.Min(float64(n1)*float64(n-k), float64(n2)*float64(n-k))) / float64(n)
	if minExp < cochranMin {
		return FisherExactName, FisherExact(k1, n1-k1, k2, n2-k2), true
	}
	return TwoProportionZName, TwoProportionZ(k1, n1, k2, n2), true
}

// TwoProportionZ is the two-sided p-value of the pooled two-proportion
// z-test: z = (p1 − p2) / sqrt(p(1−p)(1/n1 + 1/n2)), p = (k1+k2)/(n1+n2).
// A zero standard error (both proportions 0 or both 1) gives p-value 1.
func TwoProportionZ(k1, n1, k2, n2 int64) float64 {
	p1, p2 := float64(k1)/float64(n1), float64(k2)/float64(n2)
	p := float64(k1+k2) / float64(n1+n2)
	se := math.Sqrt(p * (1 - p) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 {
		return 1
	}
	z := (p1 - p2) / se
	return math.Erfc(math.Abs(z) / math.Sqrt2)
}

// FisherExact is the two-sided p-value of Fisher's exact test on the 2×2
// table [[a, b], [c, d]]: the total hypergeometric probability of the
// tables with the observed margins that are no more likely than the
// observed one (scipy.stats.fisher_exact's definition).
func FisherExact(a, b, c, d int64) float64 {
	r1, c1, n := a+b, a+c, a+b+c+d
	lo := max(0, c1-(n-r1))
	hi := min(r1, c1)
	logp := func(x int64) float64 {
		return lchoose(r1, x) + lchoose(n-r1, c1-x) - lchoose(n, c1)
	}
	obs := logp(a)
	limit := obs + math.Log1p(fisherRelTol)
	var p float64
	for x := lo; x <= hi; x++ {
		if lp := logp(x); lp <= limit {
			p += math.Exp(lp)
		}
	}
	return math.Min(p, 1)
}

// McNemarExact returns the two-sided exact McNemar p-value for b and c
// discordant pairs: 2·P(X ≤ min(b, c)) for X ~ Binomial(b+c, 1/2), capped
// at 1 (McNemar 1947; the exact form as in statsmodels'
// mcnemar(exact=True)). With no discordant pairs it is 1.
func McNemarExact(b, c int) float64 {
	n := b + c
	if n == 0 {
		return 1
	}
	k := min(b, c)
	p := 2 * distuv.Binomial{N: float64(n), P: 0.5}.CDF(float64(k))
	return min(p, 1)
}

// lchoose is log C(n, k).
func lchoose(n, k int64) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}
