package autodiff_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// TestPGDL2StepHand checks the L2 step on a model whose gradient is known
// by hand: the loss logit:0 of y = x·W with W's first column (3, −4) has
// gradient g = (3, −4), ‖g‖ = 5. With α = 0.5 the step moves x by
// α·g/‖g‖ = (0.3, −0.4); hand-computed expectations below.
func TestPGDL2StepHand(t *testing.T) {
	needORT(t)
	m := onnx.NewModel("lin", 17)
	b := onnx.NewBuilder(m, "t/")
	b.AddInput("x", onnx.Float32, []int64{-1, 2}, "N")
	w := b.ConstFloat("w", onnx.Float32, []int64{2, 2}, []float64{3, 0, -4, 0})
	y := b.Op("MatMul", []string{"x", w})
	b.AddOutput(y, onnx.Float32, nil)
	gm, nm, err := autodiff.BuildNamed(m, autodiff.Spec{Loss: "logit:0", Output: y})
	if err != nil {
		t.Fatal(err)
	}
	if err := autodiff.Extend(gm, nm, autodiff.PGDL2Step(autodiff.PGDL2{Alpha: 0.5, Eps: 0.25})); err != nil {
		t.Fatal(err)
	}
	s, err := ortexec.NewSession(gm.Bytes, []string{nm.Input, "x0", "lo", "hi"}, []string{"x_adv"}, ortexec.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sh := []int64{3, 2}
	// rows: (a) x = x0 = 0, box [−1, 1]: (0.3, −0.4) has norm 0.5 > ε = 0.25,
	// projected to (0.15, −0.2); (b) hi = (0.2, 1) clamps to (0.2, −0.4),
	// norm √0.2, scaled by 0.25/√0.2 = 0.5590170 to (0.1118034, −0.2236068);
	// (c) x = (0.1, 0), x0 = (0, 0), α-step to (0.4, −0.4), norm 0.5657,
	// ×0.25/0.5657 = (0.1767767, −0.1767767).
	x := []float32{0, 0, 0, 0, 0.1, 0}
	x0 := []float32{0, 0, 0, 0, 0, 0}
	lo := []float32{-1, -1, -1, -1, -1, -1}
	hi := []float32{1, 1, 0.2, 1, 1, 1}
	want := []float64{0.15, -0.2, 0.1118034, -0.2236068, 0.1767767, -0.1767767}
	out, err := s.Run([]ortexec.Tensor{{Shape: sh, F32: x}, {Shape: sh, F32: x0}, {Shape: sh, F32: lo}, {Shape: sh, F32: hi}})
	if err != nil {
		t.Fatal(err)
	}
	const tol = 1e-6 // float32 rounding of values below 1
	for i, v := range out[0].F32 {
		if math.Abs(float64(v)-want[i]) > tol {
			t.Errorf("value %d: %v, want %v", i, v, want[i])
		}
	}
}

// stepRef is the Go reference of AttackLoop's steps (the evasion suite's
// stepSign and stepL2 with projectL2's first two tries).
func stepRef(x, x0, g, lo, hi []float32, alpha, eps float64, l2 bool) {
	if !l2 {
		for p, gv := range g {
			v := x[p]
			switch {
			case gv > 0:
				v += float32(alpha)
			case gv < 0:
				v -= float32(alpha)
			}
			x[p] = min(max(v, lo[p]), hi[p])
		}
		return
	}
	var s float64
	for _, v := range g {
		s += float64(v) * float64(v)
	}
	if n := math.Sqrt(s); n > 0 {
		f := float32(alpha / n)
		for p, gv := range g {
			x[p] += f * gv
		}
	}
	for p := range x {
		x[p] = min(max(x[p], lo[p]), hi[p])
	}
	for try := 0; try < 2; try++ {
		var d2 float64
		for p := range x {
			d := float64(x[p]) - float64(x0[p])
			d2 += d * d
		}
		n := math.Sqrt(d2)
		if n <= eps {
			return
		}
		f := eps / n * (1 - 1e-7*float64(try))
		for p := range x {
			x[p] = x0[p] + float32((float64(x[p])-float64(x0[p]))*f)
		}
	}
}

// TestAttackLoopMatchesGo runs early-stopping PGD iterations (10 L∞, one
// L2, from a random start) on 64 MNIST images as one Loop and as runs of
// the plain gradient graph with the steps, the hits and the freezing done
// in Go (stepRef). L∞ must agree bit for bit (the same float32
// operations); L2 up to the order of the float64 sums (one ulp).
func TestAttackLoopMatchesGo(t *testing.T) {
	needORT(t)
	m, xs, ys := loadMNIST(t)
	const n, d = 64, 784
	for _, tc := range []struct {
		name       string
		l2         bool
		eps, alpha float64
		steps      int
		tol        float64
	}{
		{"linf", false, 0.1, 0.01, 10, 0},
		// one step: the float64 norms are summed in another order than
		// Go's, which moves a value by one float32 ulp now and then
		// (measured: 6e-8); over 10 steps the ReLU network amplifies that
		// to 3e-4, so more steps are compared by the suite's outcomes
		{"l2", true, 1.5, 0.5, 1, 1.2e-7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := tc.steps
			cfg := autodiff.AttackLoop{L2: tc.l2, Alpha: tc.alpha, Eps: tc.eps, EarlyStop: true}
			lm, nm, err := autodiff.BuildAttackLoop(m, autodiff.Spec{Loss: "ce"}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			ins := []string{nm.Input, nm.Labels, autodiff.LoopLo, autodiff.LoopHi}
			if tc.l2 {
				ins = append(ins, autodiff.LoopX0)
			}
			ins = append(ins, autodiff.LoopSteps)
			ls, err := ortexec.NewSession(lm.Bytes, ins, []string{autodiff.LoopXAdv, autodiff.LoopDone, autodiff.LoopEvals}, ortexec.Options{IntraOpThreads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer ls.Close()
			gm, gnm, err := autodiff.BuildNamed(m, autodiff.Spec{Loss: "ce"})
			if err != nil {
				t.Fatal(err)
			}
			gs, err := ortexec.NewSession(gm.Bytes, []string{gnm.Input, gnm.Labels}, []string{gnm.Output, gnm.Grad}, ortexec.Options{IntraOpThreads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer gs.Close()

			x0, y := xs[:n*d], ys[:n]
			lo, hi, start := make([]float32, n*d), make([]float32, n*d), make([]float32, n*d)
			r := rand.New(rand.NewPCG(1, 2))
			for p, v := range x0 {
				lo[p], hi[p] = 0, 1
				if !tc.l2 {
					lo[p], hi[p] = max(0, v-float32(tc.eps)), min(1, v+float32(tc.eps))
				}
				start[p] = min(max(v+float32(0.05*(2*r.Float64()-1)), lo[p]), hi[p])
			}
			shape := []int64{n, 1, 28, 28}
			stepsIn := make([]int64, n)
			for i := range stepsIn {
				stepsIn[i] = int64(steps)
			}
			feed := []ortexec.Tensor{{Shape: shape, F32: start}, {Shape: []int64{n}, I64: y}, {Shape: shape, F32: lo}, {Shape: shape, F32: hi}}
			if tc.l2 {
				feed = append(feed, ortexec.Tensor{Shape: shape, F32: x0})
			}
			feed = append(feed, ortexec.Tensor{Shape: []int64{n}, I64: stepsIn})
			out, err := ls.Run(feed)
			if err != nil {
				t.Fatal(err)
			}

			// Go: the whole batch is evaluated each iteration, frozen rows
			// keep their point and count no evaluation
			cur := append([]float32(nil), start...)
			done := make([]bool, n)
			evals := make([]int64, n)
			for it := 0; it < steps; it++ {
				o, err := gs.Run([]ortexec.Tensor{{Shape: shape, F32: cur}, {Shape: []int64{n}, I64: y}})
				if err != nil {
					t.Fatal(err)
				}
				logits, g := o[0].F32, o[1].F32
				for i := 0; i < n; i++ {
					if done[i] {
						continue
					}
					evals[i]++
					z := logits[i*10 : (i+1)*10]
					best := 0
					for k := range z {
						if z[k] > z[best] {
							best = k
						}
					}
					if int64(best) != y[i] {
						done[i] = true
						continue
					}
					stepRef(cur[i*d:(i+1)*d], x0[i*d:(i+1)*d], g[i*d:(i+1)*d], lo[i*d:(i+1)*d], hi[i*d:(i+1)*d], tc.alpha, tc.eps, tc.l2)
				}
			}
			nDone := 0
			for i := 0; i < n; i++ {
				if (out[1].I64[i] == 1) != done[i] || out[2].I64[i] != evals[i] {
					t.Fatalf("sample %d: loop done %d evals %d, Go done %v evals %d", i, out[1].I64[i], out[2].I64[i], done[i], evals[i])
				}
				if done[i] {
					nDone++
				}
			}
			worst := 0.0
			for p, v := range out[0].F32 {
				worst = max(worst, math.Abs(float64(v-cur[p])))
			}
			if worst > tc.tol {
				t.Fatalf("largest difference loop − Go %v > %v", worst, tc.tol)
			}
			if nDone == 0 || nDone == n {
				t.Fatalf("%d of %d samples hit: the test checks neither freezing nor stepping", nDone, n)
			}
			t.Logf("%s: %d of %d samples hit within %d iterations; largest difference %v", tc.name, nDone, n, steps, worst)
		})
	}
}
