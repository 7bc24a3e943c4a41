// Command coverage measures how often the fairness suite's bootstrap
// intervals miss the true disparity, percentile against BCa, on simulated
// two-group data with a small group (docs/metrics/fairness.md, "How the two
// intervals cover"). Run from the repository root:
//
//	go run ./suites/fairness/testdata/coverage
//
// Group W: 850 rows, base rate 0.25, TPR 0.55, FPR 0.10. Group B: nB rows,
// base rate 0.12, TPR 0.55 + delta, FPR 0.10. Each of 400 simulated data sets
// gets both intervals at 95 % from 500 rounds; a miss is an upper bound
// below the true value (a gate on ci_high passes wrongly) or a lower bound
// above it. The nominal rate of each is 2.5 % (10 of 400). Deterministic:
// fixed PCG seeds.
package main

import (
	"fmt"
	"math/rand/v2"

	"github.com/gauntlet-ml/gauntlet/suites/fairness"
)

const sims = 400

type group struct {
	name     string
	n        int
	base, tp float64
}

const fpr = 0.1

func main() {
	keys := []string{"equal_opportunity_difference", "equal_opportunity_ratio", "demographic_parity_difference",
		"statistical_parity_difference", "disparate_impact"}
	fmt.Println("| nB | delta | metric | truth | percentile: covers, hi < truth, lo > truth | BCa: covers, hi < truth, lo > truth |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, nB := range []int{100, 400} {
		for _, delta := range []float64{0.1, 0.2} {
			gs := []group{{"W", 850, 0.25, 0.55}, {"B", nB, 0.12, 0.55 + delta}}
			r := rand.New(rand.NewPCG(9, uint64(nB)*100+uint64(delta*100)))
			type tally struct{ cov, hi, lo int }
			res := map[string]*[2]tally{}
			for _, k := range keys {
				res[k] = &[2]tally{}
			}
			for range sims {
				in, p := draw(r, gs)
				seed := r.Uint64()
				for i, m := range []string{fairness.IntervalPercentile, fairness.IntervalBCa} {
					out, err := fairness.Compute(in, p, fairness.Options{NBoot: 500, Bins: 15, Seed: seed, Level: 0.95, Interval: m})
					if err != nil {
						panic(err)
					}
					for _, k := range keys {
						lo, ok := out.Metrics["g."+k+".ci_low"]
						hi := out.Metrics["g."+k+".ci_high"]
						if !ok {
							continue
						}
						t := &res[k][i]
						switch tr := truth(k, gs); {
						case hi < tr:
							t.hi++
						case lo > tr:
							t.lo++
						default:
							t.cov++
						}
					}
				}
			}
			for _, k := range keys {
				a, b := res[k][0], res[k][1]
				fmt.Printf("| %d | %.1f | %s | %.4f | %d, %d, %d | %d, %d, %d |\n", nB, delta, k, truth(k, gs), a.cov, a.hi, a.lo, b.cov, b.hi, b.lo)
			}
		}
	}
}

// draw simulates one data set.
func draw(r *rand.Rand, gs []group) (*fairness.Input, *fairness.Partition) {
	in := &fairness.Input{Classes: 2, Positive: 1}
	var col []string
	for _, g := range gs {
		for range g.n {
			var y int64
			if r.Float64() < g.base {
				y = 1
			}
			var p int32
			if (y == 1 && r.Float64() < g.tp) || (y == 0 && r.Float64() < fpr) {
				p = 1
			}
			in.Y = append(in.Y, y)
			in.Pred = append(in.Pred, p)
			in.Score = append(in.Score, float64(p))
			col = append(col, g.name)
		}
	}
	p, err := fairness.NewPartition([]string{"g"}, [][]string{col}, false)
	if err != nil {
		panic(err)
	}
	return in, p
}

// truth is metric k of the groups' true rates.
func truth(k string, gs []group) float64 {
	sr := func(g group) float64 { return g.base*g.tp + (1-g.base)*fpr }
	w, b := gs[0], gs[1]
	switch k {
	case "equal_opportunity_difference":
		return max(w.tp, b.tp) - min(w.tp, b.tp)
	case "equal_opportunity_ratio":
		return min(w.tp, b.tp) / max(w.tp, b.tp)
	case "demographic_parity_difference":
		return max(sr(w), sr(b)) - min(sr(w), sr(b))
	case "statistical_parity_difference":
		return sr(b) - sr(w)
	case "disparate_impact":
		return sr(b) / sr(w)
	}
	panic(k)
}
