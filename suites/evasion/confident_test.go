package evasion

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// confidentMargin is the smallest logit margin of the samples the
// confident-model tests keep: above 104, where e^−margin is below the
// smallest float32 (2⁻¹⁴⁹ ≈ e^−103.3), so the softmax model's output is
// exactly one-hot, and far above 37, where the cross-entropy rounds to 0
// in float64.
const confidentMargin = 150

// confidentData draws uniform samples in [0, 255) from the stream (6, 7)
// and keeps the first n whose logit margin under testdata/confident_cnn.onnx
// is at least confidentMargin, labelled with the model's predictions; it
// returns them with their logits.
func confidentData(t *testing.T, n int) (*data.Dataset, []float32) {
	t.Helper()
	tg := suitetest.Open(t, filepath.Join("testdata", "confident_cnn.onnx"), nil)
	d, k := tg.Session.SampleSize(), tg.Classes
	r, err := tg.Session.NewRunner(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(6, 7))
	ds := &data.Dataset{SampleShape: []int{1, 8, 8}}
	var logits []float32
	x := make([]float32, d)
	for tries := 0; ds.N < n && tries < 100*n; tries++ {
		for i := range x {
			x[i] = 255 * rng.Float32()
		}
		out, err := r.Run(context.Background(), x, 1)
		if err != nil {
			t.Fatal(err)
		}
		y := stats.Argmax(out[:k])
		if margin(out[:k], y) < confidentMargin {
			continue
		}
		ds.X = append(ds.X, x...)
		ds.Y = append(ds.Y, int64(y))
		logits = append(logits, out[:k]...)
		ds.N++
	}
	if ds.N < n {
		t.Fatalf("only %d of %d samples with a margin ≥ %d", ds.N, n, confidentMargin)
	}
	return ds, logits
}

// confidentTarget opens testdata/<model> (fixed batch 1) on ds with
// data.range [0, 255], batch 1 and 2 workers.
func confidentTarget(t *testing.T, model string, ds *data.Dataset) *suite.Target {
	t.Helper()
	tg := suitetest.Open(t, filepath.Join("testdata", model), nil)
	tg.Data = ds
	tg = withSettings(t, tg, 2, 1)
	tg.Range = [2]float64{0, 255}
	return tg
}

// bruteRobust returns, per sample, whether no point of the L∞ ball of
// radius eps in [0, 255]^d changes the prediction of the affine model
// testdata/confident_cnn.onnx (logits z = A·x + c). For each other class
// j, the point minimising z_y − z_j is x − eps·sign(a_y − a_j), clipped to
// the box (the objective is linear and separable); the sample is robust
// iff the model, run on each of these points, still predicts y. A is read
// from the model itself: column p is z(255·e_p) − z(0), over 255.
func bruteRobust(t *testing.T, ds *data.Dataset, eps float64) []bool {
	t.Helper()
	tg := suitetest.Open(t, filepath.Join("testdata", "confident_cnn.onnx"), nil)
	d, k := tg.Session.SampleSize(), tg.Classes
	r, err := tg.Session.NewRunner(1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	run := func(x []float32) []float32 {
		out, err := r.Run(context.Background(), x, 1)
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), out[:k]...)
	}
	x := make([]float32, d)
	c := run(x)
	a := make([][]float64, k) // a[j][p]
	for j := range a {
		a[j] = make([]float64, d)
	}
	for p := 0; p < d; p++ {
		clear(x)
		x[p] = 255
		z := run(x)
		for j := 0; j < k; j++ {
			a[j][p] = (float64(z[j]) - float64(c[j])) / 255
		}
	}
	robust := make([]bool, ds.N)
	for i := range robust {
		x0 := ds.X[i*d : (i+1)*d]
		y := int(ds.Y[i])
		robust[i] = true
		for j := 0; j < k && robust[i]; j++ {
			if j == y {
				continue
			}
			for p := range x {
				s := math.Copysign(1, a[y][p]-a[j][p])
				x[p] = float32(min(max(float64(x0[p])-eps*s, 0), 255))
			}
			if stats.Argmax(run(x)) != y {
				robust[i] = false
			}
		}
	}
	return robust
}

// TestConfidentModelEstimated: the CNTK-like confident model (fixed batch
// 1, inputs in [0, 255], logit margins in the hundreds) runs on estimated
// gradients with the fixed batch as the reason. The cross-entropy of every
// sample is exactly 0 in float64 (so NES on it estimates a zero gradient,
// the reported bug), while the log-odds surrogate keeps a signal: no
// sample has an all-zero estimate, and PGD breaks samples. No robust
// accuracy can be below the brute-force robust accuracy of the affine
// model (bruteRobust).
func TestConfidentModelEstimated(t *testing.T) {
	const n = 12
	ds, logits := confidentData(t, n)
	k := len(logits) / n
	z := make([]float64, k)
	for i := 0; i < n; i++ {
		row := logits[i*k : (i+1)*k]
		y := int(ds.Y[i])
		// the float64 cross-entropy as the NES oracle computed it before:
		// max + log Σ e^{z−max} − z_y
		m := float64(row[y])
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		if ce := m + math.Log(s) - float64(row[y]); ce != 0 {
			t.Fatalf("sample %d: float64 cross-entropy %v, want it saturated at 0 (margin %v)", i, ce, margin(row, y))
		}
		scores(z, row, false)
		// L ≈ −margin: log Σ_{j≠y} e^{z_j − z_y} lies in [−margin, −margin + log(k−1)]
		if l, mg := lossScores(headCE, z, y, 0), margin(row, y); l < -mg-1e-9 || l > -mg+math.Log(float64(k-1))+1e-9 {
			t.Errorf("sample %d: surrogate %v outside [−%v, −%v + log 9]", i, l, mg, mg)
		}
	}
	tg := confidentTarget(t, "confident_cnn.onnx", ds)
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"attacks": []any{
		map[string]any{"name": "fgsm", "eps": []any{8, 32}},
		map[string]any{"name": "pgd", "eps": []any{8, 32}, "steps": 10}}})
	g := res.Details["gradient"].(map[string]any)
	if g["mode"] != ModeEstimated || g["reason"] != `the model has no exact gradients: its input "x" has a fixed batch size 1` {
		t.Errorf("details.gradient %v, want estimated because of the fixed batch", g)
	}
	for _, eps := range []float64{8, 32} {
		brute := share(bruteRobust(t, ds, eps))
		for _, a := range []string{"fgsm", "pgd"} {
			p := Prefix(a, Linf, eps)
			ra := res.Metrics[p+".robust_accuracy"]
			t.Logf("%s: robust accuracy %v, brute-force %v", p, ra, brute)
			if zs := res.Metrics[p+".zero_gradient_share"]; zs != 0 {
				t.Errorf("%s.zero_gradient_share %v, want 0: the surrogate has a non-zero gradient everywhere", p, zs)
			}
			if ra < brute {
				t.Errorf("%s robust accuracy %v below the brute-force minimum %v", p, ra, brute)
			}
		}
		if eps == 32 {
			// FGSM (one noisy sign step) and PGD break samples at the
			// large eps, and PGD on the surrogate's sign reaches the
			// brute-force minimum of this affine model (measured: 1 of the
			// 12 samples is robust)
			if ra := res.Metrics[Prefix("fgsm", Linf, eps)+".robust_accuracy"]; ra >= 1 {
				t.Errorf("fgsm at eps 32: robust accuracy %v, the attack found no signal", ra)
			}
			if ra := res.Metrics[Prefix("pgd", Linf, eps)+".robust_accuracy"]; ra != brute {
				t.Errorf("pgd at eps 32: robust accuracy %v, want the brute-force %v", ra, brute)
			}
		}
	}
}

// TestConfidentSoftmaxFallsBackToSquare: with a final Softmax the
// confident model's outputs are exactly one-hot in float32 (margins ≥
// 150 > 104), so even the surrogate on log-probabilities is constant and
// every NES estimate is zero: PGD finds no signal. The suite then runs
// Square on those samples and reports the worst case: on this fixed batch
// of 1 the fallback is the very Square run a standalone square attack at
// the same eps makes (same stream, one sample per batch), so PGD's
// robust samples must equal square's. The zero-gradient share, a
// gateable metric, is 1, and a warning says what was done.
func TestConfidentSoftmaxFallsBackToSquare(t *testing.T) {
	const n = 12
	const eps = 64
	ds, _ := confidentData(t, n)
	tg := confidentTarget(t, "confident_cnn_softmax.onnx", ds)
	if tg.OutputKind != runtime.Probabilities {
		t.Fatalf("output kind %v, want probabilities", tg.OutputKind)
	}
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"nes_samples": 5, "attacks": []any{
		map[string]any{"name": "pgd", "eps": []any{eps}, "steps": 5},
		map[string]any{"name": "square", "eps": []any{eps}}}})
	p := Prefix("pgd", Linf, eps)
	if zs := res.Metrics[p+".zero_gradient_share"]; zs != 1 {
		t.Errorf("%s.zero_gradient_share %v, want 1 (one-hot outputs)", p, zs)
	}
	var pgd, sq map[string]any
	for _, e := range res.Details["attacks"].([]map[string]any) {
		switch e["attack"] {
		case "pgd":
			pgd = e
		case "square":
			sq = e
		}
	}
	fb, ok := pgd["square_fallback"].(map[string]any)
	if !ok || fb["samples"] != n {
		t.Fatalf("square_fallback %v, want it run on all %d samples", pgd["square_fallback"], n)
	}
	if pgd["robust"] != sq["robust"] {
		t.Errorf("pgd robust %v after the fallback, want square's %v", pgd["robust"], sq["robust"])
	}
	brute := share(bruteRobust(t, ds, eps))
	ra := res.Metrics[p+".robust_accuracy"]
	t.Logf("robust accuracy %v after the fallback (broken %v), brute-force %v", ra, fb["broken"], brute)
	if ra < brute {
		t.Errorf("robust accuracy %v below the brute-force minimum %v", ra, brute)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), p+": no gradient signal") {
		t.Errorf("warnings %q do not report the fallback", res.Warnings)
	}
}
