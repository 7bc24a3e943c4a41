package membership

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/onnx"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// linearDim is the input size of linearTarget's model.
const linearDim = 20

// linearTarget writes the 2-class linear model z₀ = 0, z₁ = w·x + c (w
// drawn once from a fixed seed, c = 0.3) and opens it; data.range is
// [−10, 10], far wider than any boundary point below, so the distance to
// the boundary of a correctly classified x is |w·x + c|/‖w‖₂ exactly.
func linearTarget(t *testing.T, workers, batch int) (*suite.Target, []float64, float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	w := make([]float64, linearDim)
	for q := range w {
		w[q] = rng.NormFloat64()
	}
	const c = 0.3
	return linearModel(t, w, c, workers, batch), w, c
}

// linearModel opens z₀ = 0, z₁ = w·x + c with data.range [−10, 10].
func linearModel(t *testing.T, w []float64, c float64, workers, batch int) *suite.Target {
	t.Helper()
	wm := make([]float64, 2*linearDim) // Gemm B: [d, 2], column 0 zero
	for q := range w {
		wm[2*q+1] = w[q]
	}
	m := onnx.NewModel("linear", 13)
	b := onnx.NewBuilder(m, "l/")
	b.AddInput("x", onnx.Float32, []int64{-1, linearDim}, "N")
	wn := b.ConstFloat("w", onnx.Float32, []int64{linearDim, 2}, wm)
	cn := b.ConstFloat("c", onnx.Float32, []int64{2}, []float64{0, c})
	b.NodeOut("Gemm", []string{"x", wn, cn}, []string{"logits"})
	b.AddOutput("logits", onnx.Float32, []int64{-1, 2}, "N")
	path := filepath.Join(t.TempDir(), "linear.onnx")
	if err := m.Save(path); err != nil {
		t.Fatal(err)
	}
	tg := suitetest.Open(t, path, nil)
	tg.BatchSize, tg.Pool, tg.Seed = batch, runtime.Pool{Workers: workers}, 7
	tg.Range, tg.Classes, tg.OutputKind = [2]float64{-10, 10}, 2, runtime.Logits
	return tg
}

// linearSet is n samples of N(0, 1) features labelled by the model, the
// last one against it.
func linearSet(w []float64, c float64, n int) *data.Dataset {
	rng := rand.New(rand.NewPCG(5, 6))
	d := &data.Dataset{N: n, SampleShape: []int{linearDim}, X: make([]float32, n*linearDim), Y: make([]int64, n)}
	for i := range n {
		var z float64
		for q := range linearDim {
			v := float32(rng.NormFloat64())
			d.X[i*linearDim+q] = v
			z += w[q] * float64(v)
		}
		if z+c > 0 {
			d.Y[i] = 1
		}
	}
	d.Y[n-1] = 1 - d.Y[n-1]
	return d
}

// TestBoundaryLinear: on a linear model the search's distance lies above
// the closed-form distance |w·x + c|/‖w‖ (every point it keeps is on the
// other side) and, with the default budget of 1000 queries, within 5 % of
// it; the misclassified sample scores 0 after one query; no sample spends
// more than the budget; workers and batch size do not change a figure
// (per-batch random streams: batch size does, so both runs use batches
// of 4).
func TestBoundaryLinear(t *testing.T) {
	const n = 9
	const relTol = 0.05 // measured +2.4 % to +4.3 %
	var first boundaryOut
	for _, workers := range []int{1, 3} {
		tg, w, c := linearTarget(t, workers, 4)
		d := linearSet(w, c, n)
		out := newBoundaryOut(n)
		if err := boundaryBatches(context.Background(), tg, d, "members", 0, tg.Batches(n), DefaultBoundaryQueries, tg.Range, out); err != nil {
			t.Fatal(err)
		}
		var ww float64
		for _, v := range w {
			ww += v * v
		}
		for i := range n {
			if i == n-1 {
				if out.Dist[i] != 0 || out.Queries[i] != 1 {
					t.Errorf("misclassified sample: distance %v after %d queries, want 0 after 1", out.Dist[i], out.Queries[i])
				}
				continue
			}
			z := c
			for q := range linearDim {
				z += w[q] * float64(d.X[i*linearDim+q])
			}
			exact := math.Abs(z) / math.Sqrt(ww)
			if got := out.Dist[i]; !(got >= exact*(1-1e-6) && got <= exact*(1+relTol)) || !out.Found[i] {
				t.Errorf("sample %d: distance %v, closed form %v (found %v)", i, got, exact, out.Found[i])
			} else if workers == 1 {
				t.Logf("sample %d: distance %.5f, closed form %.5f (+%.2f %%), %d queries", i, got, exact, 100*(got/exact-1), out.Queries[i])
			}
			if out.Queries[i] > DefaultBoundaryQueries {
				t.Errorf("sample %d: %d queries over the budget %d", i, out.Queries[i], DefaultBoundaryQueries)
			}
		}
		if first.Dist == nil {
			first = out
		} else if !slices.Equal(first.Dist, out.Dist) || !slices.Equal(first.Queries, out.Queries) {
			t.Errorf("3 workers: %v %v; 1 worker: %v %v", out.Dist, out.Queries, first.Dist, first.Queries)
		}
	}
}

// TestBoundaryDataStart: a model that labels all noise alike. z₁ = Σx − 5
// in the box [0, 1]²⁰: uniform noise sums to 10 ± 1.3, so it is class 1
// (P(sum < 5) ≈ 4e-5 per draw). Three class-1 samples (every feature 0.3,
// 0.35, 0.4: sums 6, 7, 8) find no random start and start from the
// batch's class-0 sample (every feature 0.1); the class-0 sample starts
// from noise. Every distance is found and within 5 % above the closed
// form |Σx − 5|/√20.
func TestBoundaryDataStart(t *testing.T) {
	w := make([]float64, linearDim)
	for q := range w {
		w[q] = 1
	}
	tg := linearModel(t, w, -5, 1, 4)
	tg.Range = [2]float64{0, 1}
	vals := []float32{0.3, 0.35, 0.4, 0.1}
	d := &data.Dataset{N: 4, SampleShape: []int{linearDim}, X: make([]float32, 4*linearDim), Y: []int64{1, 1, 1, 0}}
	for i, v := range vals {
		for q := range linearDim {
			d.X[i*linearDim+q] = v
		}
	}
	out := newBoundaryOut(4)
	if err := boundaryBatches(context.Background(), tg, d, "members", 0, 1, DefaultBoundaryQueries, tg.Range, out); err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		exact := math.Abs(float64(linearDim)*float64(v)-5) / math.Sqrt(linearDim)
		if got := out.Dist[i]; !out.Found[i] || !(got >= exact*(1-1e-6) && got <= exact*1.05) {
			t.Errorf("sample %d: distance %v (found %v), closed form %v", i, got, out.Found[i], exact)
		}
		t.Logf("sample %d: distance %.5f, closed form %.5f, %d queries", i, out.Dist[i], exact, out.Queries[i])
	}
}

// TestArtTau: ART's calibrate_distance_threshold on a hand example:
// members at distances 3, 4, 5, nonmembers at 0, 1, 3.5; max 5, so τ runs
// over 0.05·k; "member iff d > τ" is right on all six for no τ, on five
// (accuracy 5/6) first at τ = 1.0 (k = 20: 3, 4, 5 and 0, 1 right, 3.5
// wrong), so τ = 1.0 (ART keeps the first maximum).
func TestArtTau(t *testing.T) {
	dist := []float64{3, 4, 5, 0, 1, 3.5}
	member := []bool{true, true, true, false, false, false}
	if got := artTau(dist, member, []int{0, 1, 2, 3, 4, 5}); math.Abs(got-1.0) > 1e-12 {
		t.Errorf("τ = %v, want 1.0", got)
	}
	// Cross-fitted: every row is judged by the τ of the half it is not in.
	c := calibrate(dist, member, rand.New(rand.NewPCG(1, 2)))
	if right := c.TP + c.N - c.FP; c.P != 3 || c.N != 3 || c.Tau[0] <= 0 || c.Tau[1] <= 0 || math.Abs(c.Accuracy-float64(right)/6) > 1e-15 {
		t.Errorf("calibration %+v", c)
	}
}

// mnistSubset writes the first m members and m nonmembers of the shared
// MNIST membership fixture to a temporary folder and returns it.
func mnistSubset(t *testing.T, m int) string {
	t.Helper()
	dir := testutil.Shared(t, "fixtures/vision")
	tmp := t.TempDir()
	for _, set := range []string{"mnist_members", "mnist_nonmembers"} {
		d := suitetest.Load(t, data.Spec{X: filepath.Join(dir, set+"_x.npy"), Y: filepath.Join(dir, set+"_y.npy")}, "")
		writeNPY(t, filepath.Join(tmp, set+"_x.npy"), d.X[:m*784], []int{m, 1, 28, 28})
		writeNPY(t, filepath.Join(tmp, set+"_y.npy"), d.Y[:m], []int{m})
	}
	return tmp
}

// TestBoundaryMNIST runs the label-only attacks on the first 100 members
// and 100 nonmembers of the shared MNIST membership target with a budget
// of 300 queries a sample. Expected: every misclassified sample scores 0
// after one query (ART's rule), so the attack's misclassified count is the
// gap attack's nonmember calls; no sample spends more than the budget; the
// distance refines the gap rule (Choquette-Choo et al. 2021: the boundary
// distance attack beats the gap attack), so its AUC is above the gap's
// (own run: 0.6876 against 0.5950, loss 0.7314); the AUC is pinned to
// that run within 0.03 (ONNX Runtime's float32 kernels differ across CPUs,
// and a label flip moves a binary search); one worker gives the same
// figures as two.
func TestBoundaryMNIST(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	tmp := mnistSubset(t, 100)
	raw := map[string]any{
		"members":          map[string]any{"x": "mnist_members_x.npy", "y": "mnist_members_y.npy"},
		"nonmembers":       map[string]any{"x": "mnist_nonmembers_x.npy", "y": "mnist_nonmembers_y.npy"},
		"attacks":          []any{"gap", "loss", "boundary_distance"},
		"boundary_queries": 300,
	}
	var first map[string]float64
	for _, workers := range []int{2, 1} {
		tg := target(t, filepath.Join(dir, "mnist_overfit_mlp.onnx"), workers, 64)
		tg.BaseDir = tmp
		res := runSuite(t, tg, raw)
		m := res.Metrics
		if first != nil {
			for k, v := range first {
				if m[k] != v {
					t.Errorf("1 worker: %s = %v, 2 workers %v", k, m[k], v)
				}
			}
			continue
		}
		first = m
		att := res.Details["attacks"].(map[string]any)
		bd := att["boundary_distance"].(map[string]any)
		gap := att["gap"].(map[string]any)["predicted_members"].(map[string]any)
		if wrong := 200 - gap["members"].(int) - gap["nonmembers"].(int); bd["misclassified"] != wrong {
			t.Errorf("misclassified %v, the gap attack's %d", bd["misclassified"], wrong)
		}
		if q := bd["queries"].(map[string]any); q["max"].(int32) > 300 {
			t.Errorf("queries %v over the budget 300", q)
		}
		if m["boundary_distance.auc"] <= m["gap.auc"] || math.Abs(m["boundary_distance.auc"]-0.6876) > 0.03 {
			t.Errorf("boundary_distance.auc %v, want above gap.auc %v and within 0.03 of 0.6876", m["boundary_distance.auc"], m["gap.auc"])
		}
		cal := bd["calibration"].(map[string]any)
		if got := m["boundary_distance.calibrated_accuracy"]; got != cal["accuracy"] || got < 0.5 {
			t.Errorf("calibrated accuracy %v, details %v", got, cal)
		}
		for _, k := range []string{"gap.auc", "loss.auc", "boundary_distance.auc", "boundary_distance.advantage", "boundary_distance.calibrated_accuracy", "boundary_distance.epsilon_lower_bound"} {
			t.Logf("%s %.4f", k, m[k])
		}
		t.Logf("queries %v, calibration %v, no boundary found %v", bd["queries"], cal, bd["no_boundary_found"])
	}
}
