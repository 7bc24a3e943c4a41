package learn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestROCTies(t *testing.T) {
	// Positives {3, 2, 2}, negatives {2, 1}. Mann-Whitney by hand: pairs
	// (3>2) 1, (3>1) 1, (2=2) ½ twice, (2>1) 1 twice → 5/6.
	scores := []float64{3, 2, 2, 2, 1}
	labels := []bool{true, true, true, false, false}
	r := NewROC(scores, labels, nil)
	if got := r.AUC(); math.Abs(got-5.0/6) > 1e-15 {
		t.Errorf("AUC = %v, want 5/6", got)
	}
	// Points: (0,0), (0,1/3), (1/2,1), (1,1); TPR−FPR max = 1/2 at (1/2,1).
	if len(r.TP) != 4 {
		t.Fatalf("points = %d, want 4 (ties grouped)", len(r.TP))
	}
	if adv, p := r.Advantage(); adv != 0.5 || p != 2 {
		t.Errorf("advantage = %v at %d, want 0.5 at 2", adv, p)
	}
	// FPR ≤ 0.1: only the first two points; TPR 1/3.
	if p := r.TPRAt(0.1); r.TP[p] != 1 {
		t.Errorf("TPR@0.1: TP = %d, want 1", r.TP[p])
	}
	if pts := r.Downsample(5); len(pts) != 4 || pts[0].Threshold != nil {
		t.Errorf("downsampled = %+v", pts)
	}
}

func TestScoresStable(t *testing.T) {
	// Logits (0, −40, −50): s = e^−40 + e^−50; log p_0 = −log1p(s) ≈ −s,
	// which a plain max+log Σ exp returns as exactly 0.
	z := []float64{0, -40, -50}
	var s Scores
	s.Compute(z, 0)
	want := -(math.Exp(-40) + math.Exp(-50))
	if math.Abs(s.LogPY-want) > 1e-30 || s.LogPY == 0 {
		t.Errorf("LogPY = %g, want %g", s.LogPY, want)
	}
	// Two classes: φ = z_y − z_other exactly.
	s.Compute([]float64{1.5, -0.5}, 1)
	if s.Phi != -2 {
		t.Errorf("Phi = %v, want -2", s.Phi)
	}
	// Uniform 3 classes: −H = log(1/3); −Mentr = (2/3)log(1/3) + 2·(1/3)log(2/3).
	s.Compute([]float64{0, 0, 0}, 2)
	if math.Abs(s.NegEntropy-math.Log(1.0/3)) > 1e-15 {
		t.Errorf("NegEntropy = %v", s.NegEntropy)
	}
	wantM := 2.0/3*math.Log(1.0/3) + 2.0/3*math.Log(2.0/3)
	if math.Abs(s.NegMEntropy-wantM) > 1e-15 {
		t.Errorf("NegMEntropy = %v, want %v", s.NegMEntropy, wantM)
	}
}

// TestModifiedEntropyConfident checks −Mentr (Song & Mittal 2021) on rows so
// confident that p_y rounds to 1 in float64, where the low-FPR thresholds of
// the membership attack sit. The expected values were computed from the
// definition (1 − p_y) log p_y + Σ_{j≠y} p_j log(1 − p_j) with Python's
// decimal module at 80 significant digits.
func TestModifiedEntropyConfident(t *testing.T) {
	const relTol = 1e-12 // a few hundred ulps: exp, log1p and expm1 each round
	for _, c := range []struct {
		z    []float64
		y    int
		want float64
	}{
		{[]float64{40, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0, -1.62436624906087359e-33},
		{[]float64{40, 5, 0, 0, 0, 0, 0, 0, 0, 0}, 0, -8.39247631569906467e-31},
		{[]float64{40, 5, 0, 0, 0, 0, 0, 0, 0, 0}, 1, -6.99474990379436008e+01},
		{[]float64{2, 1, 0.5, -1}, 2, -2.35474356864110579e+00},
		{[]float64{3, -2}, 1, -9.94641229808270388e+00},
	} {
		var s Scores
		s.Compute(c.z, c.y)
		if math.Abs(s.NegMEntropy-c.want) > relTol*math.Abs(c.want) {
			t.Errorf("z=%v y=%d: NegMEntropy = %.17g, want %.17g", c.z, c.y, s.NegMEntropy, c.want)
		}
	}
	// A logit gap past exp's range stays finite: log(1 − p_a) = −1000 − log1p(0).
	var s Scores
	s.Compute([]float64{1000, 0}, 1)
	if math.IsInf(s.NegMEntropy, 0) || math.IsNaN(s.NegMEntropy) {
		t.Errorf("z=[1000 0]: NegMEntropy = %v, want finite", s.NegMEntropy)
	}
}

func TestLogisticRecoversWeights(t *testing.T) {
	// Labels drawn from P(y=1|x) = σ(2x − 1) on x ~ N(0,1), 20000 samples:
	// the fitted probabilities must be close to the true ones (the MLE's
	// standard error at this n is about 0.03 on each weight).
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	x := make([]float64, n)
	y := make([]int, n)
	rows := make([]int, n)
	for i := range x {
		x[i] = rng.NormFloat64()
		if rng.Float64() < 1/(1+math.Exp(-(2*x[i]-1))) {
			y[i] = 1
		}
		rows[i] = i
	}
	c, err := Fit(x, 1, y, 2, rows, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]float64, 2)
	for _, v := range []float64{-1, 0, 1} {
		c.Prob(p, []float64{v})
		want := 1 / (1 + math.Exp(-(2*v - 1)))
		if math.Abs(p[1]-want) > 0.02 {
			t.Errorf("P(1|%v) = %v, want %v", v, p[1], want)
		}
	}
}

func TestFoldsStratified(t *testing.T) {
	y := []int{0, 0, 0, 0, 1, 1, 1, 1, 1, 1}
	f := Folds(y, 2, 2, rand.New(rand.NewPCG(3, 4)))
	cnt := [2][2]int{}
	for i, v := range f {
		cnt[v][y[i]]++
	}
	if cnt[0][0] != 2 || cnt[1][0] != 2 || cnt[0][1] != 3 || cnt[1][1] != 3 {
		t.Errorf("fold counts %v", cnt)
	}
}

func TestMLPLearnsXOR(t *testing.T) {
	// y = 1 when x0·x1 > 0 on x ~ U(−1,1)²: no linear rule beats ½, a
	// ReLU network separates it. 2000 rows, held-out accuracy on 1000.
	rng := rand.New(rand.NewPCG(5, 6))
	n := 3000
	x := make([]float64, 2*n)
	y := make([]int, n)
	for i := 0; i < n; i++ {
		x[2*i], x[2*i+1] = 2*rng.Float64()-1, 2*rng.Float64()-1
		if x[2*i]*x[2*i+1] > 0 {
			y[i] = 1
		}
	}
	train := make([]int, 2000)
	for i := range train {
		train[i] = i
	}
	acc := func(m Model) float64 {
		p := make([]float64, 2)
		hit := 0
		for i := 2000; i < n; i++ {
			m.Prob(p, x[2*i:2*i+2])
			if (p[1] > p[0]) == (y[i] == 1) {
				hit++
			}
		}
		return float64(hit) / 1000
	}
	net, err := FitMLP(x, 2, y, 2, train, DefaultMLP, 1)
	if err != nil {
		t.Fatal(err)
	}
	lr, err := Fit(x, 2, y, 2, train, DefaultL2)
	if err != nil {
		t.Fatal(err)
	}
	an, al := acc(net), acc(lr)
	t.Logf("held-out accuracy: MLP %.3f, logistic %.3f", an, al)
	if an < 0.9 || al > 0.6 {
		t.Errorf("MLP %.3f (want ≥ 0.9), logistic %.3f (want ≤ 0.6)", an, al)
	}
	// Same seed, same network.
	again, _ := FitMLP(x, 2, y, 2, train, DefaultMLP, 1)
	for i, w := range net.W1 {
		if again.W1[i] != w {
			t.Fatal("FitMLP is not deterministic for a fixed seed")
		}
	}
}

func TestComputeAllocatesNothing(t *testing.T) {
	z := []float64{0.3, -1, 2.5, 0, 7, -3, 1, 1, 0.5, -0.25}
	var s Scores
	if a := testing.AllocsPerRun(100, func() { s.Compute(z, 3) }); a != 0 {
		t.Errorf("Compute allocates %v times per sample", a)
	}
}
