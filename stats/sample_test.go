package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestBinomialExact(t *testing.T) {
	// Frequencies of Binomial(n, p) draws against the pmf C(n,k)pᵏqⁿ⁻ᵏ,
	// each within 5 binomial standard errors (outcomes expected fewer than
	// 20 times pooled into one tail cell), on both samplers (inversion
	// for n·p < 10, BTRS above) and the p > ½ reflection.
	const draws = 200_000
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		n int64
		p float64
	}{{5, 0.37}, {40, 0.2}, {60, 0.4}, {60, 0.85}, {1000, 0.5}} {
		freq := map[int64]int{}
		for range draws {
			freq[Binomial(r, c.n, c.p)]++
		}
		var tailP, tailGot float64
		for k := int64(0); k <= c.n; k++ {
			pk := math.Exp(lchoose(c.n, k) + float64(k)*math.Log(c.p) + float64(c.n-k)*math.Log1p(-c.p))
			got := float64(freq[k]) / draws
			if pk*draws < 20 { // rare outcomes are pooled into one tail cell
				tailP += pk
				tailGot += got
				continue
			}
			if se := math.Sqrt(pk * (1 - pk) / draws); math.Abs(got-pk) > 5*se {
				t.Errorf("Binomial(%d, %v): P(%d) = %v, want %v ± %v", c.n, c.p, k, got, pk, 5*se)
			}
		}
		if se := math.Sqrt(tailP * (1 - tailP) / draws); math.Abs(tailGot-tailP) > 5*se+1/float64(draws) {
			t.Errorf("Binomial(%d, %v): rare outcomes %v, want %v ± %v", c.n, c.p, tailGot, tailP, 5*se)
		}
	}
	if Binomial(r, 10, 0) != 0 || Binomial(r, 10, 1) != 10 || Binomial(r, 0, 0.5) != 0 {
		t.Error("degenerate binomials")
	}
}

func TestMultinomial(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	counts := []int64{5, 0, 10, 85}
	dst := make([]int64, 4)
	var sum [4]float64
	const draws = 20000
	for range draws {
		Multinomial(dst, r, 100, counts)
		if dst[1] != 0 || dst[0]+dst[2]+dst[3] != 100 {
			t.Fatalf("draw %v", dst)
		}
		for i, v := range dst {
			sum[i] += float64(v)
		}
	}
	// Means n·pᵢ = 5, 0, 10, 85; standard error of the mean of cell 0 is
	// sqrt(100·.05·.95/20000) ≈ 0.0154.
	for i, want := range []float64{5, 0, 10, 85} {
		near(t, "mean", sum[i]/draws, want, 0.1)
	}
}
