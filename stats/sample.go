package stats

import (
	"math"
	"math/rand/v2"
)

// binomialInversionMax is the mean n·p below which Binomial samples by
// inversion (sequential search of the CDF, O(n·p) uniforms-free steps);
// above it, by Hörmann's BTRS rejection, whose constants are tuned for
// n·p ≥ 10 (Hörmann 1993, section 3).
const binomialInversionMax = 10

// Binomial returns an exact draw from Binomial(n, p) using r.
//
// For n·min(p, 1−p) < 10 it inverts the CDF from 0 with the recurrence
// P(x+1) = P(x)·(n−x)/(x+1)·p/q; otherwise it uses BTRS, the transformed
// rejection sampler with squeeze of W. Hörmann, "The generation of binomial
// random variates", J. Statist. Comput. Simul. 46 (1993), the sampler of
// TensorFlow and JAX. It does not allocate.
func Binomial(r *rand.Rand, n int64, p float64) int64 {
	switch {
	case n <= 0 || !(p > 0):
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - Binomial(r, n, 1-p)
	}
	nf := float64(n)
	q := 1 - p
	if nf*p < binomialInversionMax {
		s := p / q
		a := (nf + 1) * s
		r0 := math.Exp(nf * math.Log1p(-p))
		for {
			u := r.Float64()
			pr := r0
			var x int64
			for u > pr {
				u -= pr
				x++
				if x > n {
					break // round-off left mass past n: draw again
				}
				pr *= a/float64(x) - s
			}
			if x <= n {
				return x
			}
		}
	}
	spq := math.Sqrt(nf * p * q)
	b := 1.15 + 2.53*spq
	a := -0.0873 + 0.0248*b + 0.01*p
	c := nf*p + 0.5
	vr := 0.92 - 4.2/b
	alpha := (2.83 + 5.1/b) * spq
	lpq := math.Log(p / q)
	m := math.Floor((nf + 1) * p)
	lm, _ := math.Lgamma(m + 1)
	lnm, _ := math.Lgamma(nf - m + 1)
	h := lm + lnm
	for {
		u := r.Float64() - 0.5
		v := r.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + c)
		if k < 0 || k > nf {
			continue
		}
		if us >= 0.07 && v <= vr {
			return int64(k)
		}
		v = math.Log(v * alpha / (a/(us*us) + b))
		lk, _ := math.Lgamma(k + 1)
		lnk, _ := math.Lgamma(nf - k + 1)
		if v <= h-lk-lnk+(k-m)*lpq {
			return int64(k)
		}
	}
}

// Multinomial draws dst ~ Multinomial(n, counts/Σcounts) by sequential
// conditional binomials: resampling n rows with replacement from rows that
// fall into cells with the given counts. len(dst) must be len(counts).
func Multinomial(dst []int64, r *rand.Rand, n int64, counts []int64) {
	var total int64
	for _, c := range counts {
		total += c
	}
	for i, c := range counts {
		switch {
		case n == 0 || c == 0:
			dst[i] = 0
		case c == total:
			dst[i] = n
		default:
			dst[i] = Binomial(r, n, float64(c)/float64(total))
		}
		n -= dst[i]
		total -= c
	}
}
