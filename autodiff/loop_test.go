package autodiff_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gauntlet-ml/gauntlet/autodiff"
	"github.com/gauntlet-ml/gauntlet/autodiff/ortexec"
	"github.com/gauntlet-ml/gauntlet/onnx"
)

// PGD settings of the ART reference (README "Reference figures"): L∞,
// ε = 0.1, step 0.01, 40 iterations, no random start, clip to [0, 1];
// mnist_cnn's robust accuracy on the first 1000 test images is 0.809.
const (
	pgdEps, pgdStep = 0.1, 0.01
	pgdSteps        = 40
	artPGD01        = 0.809
	artPGDTol       = 0.005 // 5 of 1000: only signs of near-zero gradient entries can differ from PyTorch's
)

func loadMNIST(t *testing.T) (m *onnx.Model, x []float32, y []int64) {
	t.Helper()
	dir := visionDir(t)
	m, err := onnx.Load(filepath.Join(dir, "mnist_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := readNPY(filepath.Join(dir, "mnist_test_x.npy"), &x); err != nil {
		t.Fatal(err)
	}
	if err := readNPY(filepath.Join(dir, "mnist_test_y.npy"), &y); err != nil {
		t.Fatal(err)
	}
	return m, x, y
}

// TestPGDLoopMatchesSteps runs 5 PGD steps as one ONNX Loop and as 5 runs
// of the single-step model driven from Go; both run the same kernels on
// the same values, so the results must be identical.
func TestPGDLoopMatchesSteps(t *testing.T) {
	needORT(t)
	m, x, y := loadMNIST(t)
	const n, steps = 32, 5
	cfg := autodiff.PGD{Eps: pgdEps, Step: pgdStep, Steps: steps, Min: 0, Max: 1}
	lm, nm, err := autodiff.BuildPGD(m, autodiff.Spec{Loss: "ce"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := ortexec.NewSession(lm.Bytes, []string{nm.Input, nm.Labels}, []string{"x_adv"}, ortexec.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	sm, snm, err := autodiff.BuildNamed(m, autodiff.Spec{Loss: "ce"})
	if err != nil {
		t.Fatal(err)
	}
	if err := autodiff.Extend(sm, snm, autodiff.PGDStep(cfg)); err != nil {
		t.Fatal(err)
	}
	ss, err := ortexec.NewSession(sm.Bytes, []string{snm.Input, snm.Labels, "x0"}, []string{"x_adv"}, ortexec.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	shape := []int64{n, 1, 28, 28}
	x0 := x[:n*784]
	labels := ortexec.Tensor{Shape: []int64{n}, I64: y[:n]}
	out, err := ls.Run([]ortexec.Tensor{{Shape: shape, F32: x0}, labels})
	if err != nil {
		t.Fatal(err)
	}
	cur := x0
	for s := 0; s < steps; s++ {
		o, err := ss.Run([]ortexec.Tensor{{Shape: shape, F32: cur}, labels, {Shape: shape, F32: x0}})
		if err != nil {
			t.Fatal(err)
		}
		cur = o[0].F32
	}
	moved := 0
	for i, v := range out[0].F32 {
		if v != cur[i] {
			t.Fatalf("pixel %d: loop %v, stepped from Go %v", i, v, cur[i])
		}
		if d := math.Abs(float64(v - x0[i])); d > pgdEps+1e-6 {
			t.Fatalf("pixel %d moved %v > ε", i, d)
		} else if d > 0 {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("PGD moved no pixel")
	}
}

// TestPGDLoopART runs the whole ART reference attack (1000 images, 40
// steps) in ORT calls of one Loop each and compares the robust accuracy.
func TestPGDLoopART(t *testing.T) {
	if testing.Short() {
		t.Skip("40 PGD steps on 1000 images: skipped with -short")
	}
	needORT(t)
	m, x, y := loadMNIST(t)
	cfg := autodiff.PGD{Eps: pgdEps, Step: pgdStep, Steps: pgdSteps, Min: 0, Max: 1}
	lm, nm, err := autodiff.BuildPGD(m, autodiff.Spec{Loss: "ce"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := ortexec.NewSession(lm.Bytes, []string{nm.Input, nm.Labels}, []string{"x_adv"}, ortexec.Options{IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	fwd, err := ortexec.NewSession(m.Bytes, []string{"input"}, []string{"logits"}, ortexec.Options{IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	const n, batch = 1000, 250
	correct := 0
	for s := 0; s < n; s += batch {
		shape := []int64{batch, 1, 28, 28}
		adv, err := ls.Run([]ortexec.Tensor{{Shape: shape, F32: x[s*784 : (s+batch)*784]}, {Shape: []int64{batch}, I64: y[s : s+batch]}})
		if err != nil {
			t.Fatal(err)
		}
		lo, err := fwd.Run([]ortexec.Tensor{{Shape: shape, F32: adv[0].F32}})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < batch; i++ {
			z := lo[0].F32[i*10 : (i+1)*10]
			best := 0
			for k := range z {
				if z[k] > z[best] {
					best = k
				}
			}
			if int64(best) == y[s+i] {
				correct++
			}
		}
	}
	acc := float64(correct) / n
	t.Logf("PGD∞ ε=%.2g, %d steps of %.2g: robust accuracy %.3f (ART 1.18.2: %.3f)", pgdEps, pgdSteps, pgdStep, acc, artPGD01)
	if math.Abs(acc-artPGD01) > artPGDTol {
		t.Errorf("robust accuracy %.3f, ART %.3f (tolerance %.3f)", acc, artPGD01, artPGDTol)
	}
}
