package poisoning

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestSplitCriteria: 1-D points 0, 2 | 10 (clusters 0, 0, 1). The smaller
// cluster is 1 (share 1/3); the means are 1 and 10, 9 apart; the
// within-cluster deviations along the line are −1, 1, 0, so the pooled
// standard deviation is √(2/3) and the separation 9/√(2/3). The projection
// towards the smaller cluster's mean, from the larger's, is −1, 1, 9. The
// silhouette is Silhouette's (tested in detect_test.go).
func TestSplitCriteria(t *testing.T) {
	a := mat.NewDense(3, 1, []float64{0, 2, 10})
	proj := make([]float64, 3)
	s := SplitCriteria(a, []int{0, 0, 1}, proj)
	sil, _ := Silhouette(a, []int{0, 0, 1})
	if s.Sizes != [2]int{2, 1} || s.Smaller != 1 || math.Abs(s.Share-1.0/3) > tol ||
		math.Abs(s.Separation-9/math.Sqrt(2.0/3)) > tol || math.Abs(s.Silhouette-sil) > tol {
		t.Errorf("%+v", s)
	}
	for i, w := range []float64{-1, 1, 9} {
		if math.Abs(proj[i]-w) > tol {
			t.Errorf("proj %v; want [-1 1 9]", proj)
			break
		}
	}
}

// TestGaussSplitSeparation: the 2-means split of a large standard normal
// sample has the separation 2√(2/π)/√(1 − 2/π) ≈ 2.6472 (the constant the
// auto analysis measures against) within sampling error, and is judged one
// group; a mixture 70/30 of N(0,1) and N(8,1) is two groups, its smaller
// cluster (1200 of 4000, ±2 for the few points past the midpoint 4, a
// tail of 3e-5 per point) flagged. The tolerance 0.1 on the Gaussian's
// separation at n = 4000 is sampling error (seed-to-seed spread measured
// about 0.02).
func TestGaussSplitSeparation(t *testing.T) {
	if math.Abs(gaussSplitSeparation-2.6472) > 1e-4 {
		t.Errorf("constant %g; want 2.6472", gaussSplitSeparation)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 4000
	g := mat.NewDense(n, 1, nil)
	m := mat.NewDense(n, 1, nil)
	for i := 0; i < n; i++ {
		g.Set(i, 0, rng.NormFloat64())
		v := rng.NormFloat64()
		if i%10 < 3 {
			v += 8
		}
		m.Set(i, 0, v)
	}
	lab := make([]int, n)
	KMeans2(lab, g, 3, rng)
	s := SplitCriteria(g, lab, nil)
	if math.Abs(s.Separation-gaussSplitSeparation) > 0.1 {
		t.Errorf("gaussian split separation %g; want %g", s.Separation, gaussSplitSeparation)
	}
	if sus, _ := s.Suspicious(0); sus {
		t.Errorf("gaussian judged two groups: %+v", s)
	}
	KMeans2(lab, m, 3, rng)
	s = SplitCriteria(m, lab, nil)
	if sus, _ := s.Suspicious(0); !sus || s.Sizes[s.Smaller] < 1198 || s.Sizes[s.Smaller] > 1202 {
		t.Errorf("mixture: %+v; want two groups, smaller cluster of 1200±2", s)
	}
}

// TestRobustZ: values 1, 2, 3, 4, 100 have median 3 and absolute
// deviations 2, 1, 0, 1, 97 (median 1), so z = (x − 3)/1.4826.
func TestRobustZ(t *testing.T) {
	z := make([]float64, 5)
	x := []float64{1, 2, 3, 4, 100}
	if !RobustZ(z, x) {
		t.Fatal("undefined")
	}
	for i, v := range x {
		if math.Abs(z[i]-(v-3)/1.4826) > tol {
			t.Errorf("z %v", z)
			break
		}
	}
	if RobustZ(z[:3], []float64{2, 2, 2}) {
		t.Error("MAD 0 should leave z undefined")
	}
}

// TestAUC: scores 0.9 (poisoned), 0.8 (clean), 0.7 (poisoned), 0.1
// (clean): of the 4 poisoned-clean pairs 3 are ordered right, AUC 0.75
// (scikit-learn's roc_auc_score([1,0,1,0], [.9,.8,.7,.1]) = 0.75).
func TestAUC(t *testing.T) {
	auc, ok := AUC([]float64{0.9, 0.8, 0.7, 0.1}, []bool{true, false, true, false})
	if !ok || math.Abs(auc-0.75) > tol {
		t.Errorf("auc %g ok %v; want 0.75", auc, ok)
	}
	if _, ok := AUC([]float64{1, 2}, []bool{false, false}); ok {
		t.Error("no poisoned samples: AUC should be undefined")
	}
}

// TestScoreCutoff: 90 scores near 0 and 10 near 20 (well separated, the
// upper group the smaller) flag exactly the upper 10; a lone high value
// among unimodal scores is caught by the robust z-score.
func TestScoreCutoff(t *testing.T) {
	sc := make([]float64, 100)
	for i := range sc {
		sc[i] = float64(i%9) * 0.1
		if i >= 90 {
			sc[i] += 20
		}
	}
	z := make([]float64, 100)
	zok := RobustZ(z, sc)
	flag := make([]bool, 100)
	rule := ScoreCutoff(flag, sc, z, zok, 0.35, rand.New(rand.NewPCG(3, 4)))
	for i, f := range flag {
		if f != (i >= 90) {
			t.Fatalf("flags %v (rule %s); want the last 10", flag, rule)
		}
	}
	uni := make([]float64, 101)
	for i := range uni[:100] {
		uni[i] = float64(i) / 100 // uniform on [0, 1): median 0.5, MAD 0.25
	}
	uni[100] = 5 // z = 4.5/(1.4826·0.25) ≈ 12
	z = make([]float64, 101)
	zok = RobustZ(z, uni)
	flag = make([]bool, 101)
	rule = ScoreCutoff(flag, uni, z, zok, 0.35, rand.New(rand.NewPCG(3, 4)))
	n := 0
	for _, f := range flag {
		if f {
			n++
		}
	}
	if !flag[100] || n != 1 {
		t.Errorf("flagged %d, last %v (rule %s); want only the last", n, flag[100], rule)
	}
}

// TestSuspiciousSizeFallback: a one-group split (separation 3, below
// 2×2.65) is suspicious only when its smaller cluster's share, rounded to
// 2 decimals as ART's relative-size rounds it, is below the bound: 0.19
// is, 0.345 (rounds to 0.34) is, 0.355 (0.36) and 0.41 are not; a bound
// of 0 turns the fallback off; a two-group split (separation 6) is
// suspicious at any share.
func TestSuspiciousSizeFallback(t *testing.T) {
	for _, c := range []struct {
		share, sep, bound float64
		want              bool
	}{{0.19, 3, 0.35, true}, {0.345, 3, 0.35, true}, {0.355, 3, 0.35, false}, {0.41, 3, 0.35, false},
		{0.19, 3, 0, false}, {0.45, 6, 0.35, true}} {
		s := Split{Sizes: [2]int{1000 - int(c.share*1000), int(c.share * 1000)}, Smaller: 1, Share: c.share, Separation: c.sep}
		if got, why := s.Suspicious(c.bound); got != c.want {
			t.Errorf("share %g separation %g bound %g: %v (%s); want %v", c.share, c.sep, c.bound, got, why, c.want)
		}
	}
}

// TestClassCutoff: 60 scores 0, 0.01, …, 0.59 and 40 scores 0.8, 0.81, …,
// 1.19 (a gap of 0.21 between them; the upper group is 40% of the class,
// the smaller cluster of the 2-means split, above ART's 35% relative-size
// bound). In a class the activations' split found suspicious the 40 are
// flagged; with the scores negated (the 40 below the 60) the same 40 are,
// since the smaller cluster is flagged whichever side it lies on. In a
// class not found suspicious only robust z-scores above 3.5 are flagged:
// none (median 0.495, MAD 0.35, the largest z (1.19 − 0.495)/(1.4826·0.35)
// = 1.34, computed with numpy).
func TestClassCutoff(t *testing.T) {
	for _, neg := range []bool{false, true} {
		sc := make([]float64, 100)
		for i := range sc {
			sc[i] = float64(i%60) * 0.01
			if i >= 60 {
				sc[i] = 0.8 + float64(i%40)*0.01
			}
			if neg {
				sc[i] = -sc[i]
			}
		}
		z := make([]float64, 100)
		zok := RobustZ(z, sc)
		flag := make([]bool, 100)
		rule := ClassCutoff(flag, sc, z, zok, true, "test", rand.New(rand.NewPCG(3, 4)))
		for i, f := range flag {
			if f != (i >= 60) {
				t.Fatalf("negated %v: flags %v (rule %s); want the 40 of the smaller group", neg, flag, rule)
			}
		}
		if side := map[bool]string{false: "the upper one", true: "the lower one"}[neg]; !strings.Contains(rule, side) {
			t.Errorf("negated %v: rule %q does not say %q", neg, rule, side)
		}
		rule = ClassCutoff(flag, sc, z, zok, false, "test", rand.New(rand.NewPCG(3, 4)))
		if slices.Contains(flag, true) {
			t.Errorf("negated %v: flags %v without suspicion (rule %s); want none", neg, flag, rule)
		}
	}
}
