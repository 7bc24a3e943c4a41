package poisoning

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// TestCovTail checks dkk17.jl's cov_Tail: 1 up to T = 10·log(1/ε)
// (23.03 at ε = 0.1), then 3ε/(T·log T)²: 0.3/(30·ln 30)² =
// 2.8814764410166064e-05 (Python's math at T = 30).
func TestCovTail(t *testing.T) {
	if got := covTail(23, 0.1); got != 1 {
		t.Errorf("covTail(23, 0.1) = %v; want 1", got)
	}
	if got, want := covTail(30, 0.1), 2.8814764410166064e-05; math.Abs(got-want) > 1e-15 {
		t.Errorf("covTail(30, 0.1) = %v; want %v", got, want)
	}
}

// TestSvec checks that svec keeps inner products: svec(yyᵀ)·svec(zzᵀ) =
// tr(yyᵀzzᵀ) = (y·z)², and that svecIndex numbers the k(k+1)/2 entries of
// the upper triangle once each.
func TestSvec(t *testing.T) {
	const k = 5
	p := k * (k + 1) / 2
	seen := make([]bool, p)
	for a := 0; a < k; a++ {
		for b := a; b < k; b++ {
			i := svecIndex(a, b, k)
			if i < 0 || i >= p || seen[i] {
				t.Fatalf("svecIndex(%d, %d) = %d: out of range or repeated", a, b, i)
			}
			seen[i] = true
		}
	}
	y, z := []float64{1, -2, 0.5, 3, -1}, []float64{0.3, 1, -1, 2, 4}
	sy, sz := make([]float64, p), make([]float64, p)
	svec(sy, y)
	svec(sz, z)
	dot := floats64Dot(y, z)
	if got := floats64Dot(sy, sz); math.Abs(got-dot*dot) > 1e-12 {
		t.Errorf("svec inner product %v; want (y·z)² = %v", got, dot*dot)
	}
}

// TestQUEWeights checks M = exp(α(Σ′ − I)/(‖Σ′‖ − 1))/tr (quantum_filters.jl
// lines 16–17) on Σ′ = diag(3, 1, 1), α = 4: weights ∝ (e⁴, 1, 1), i.e.
// 0.9646631559719038 and 0.017668422014048047 twice (Python's math); α = 0
// gives I/3.
func TestQUEWeights(t *testing.T) {
	sp := mat.NewSymDense(3, []float64{3, 0, 0, 0, 1, 0, 0, 0, 1})
	for _, c := range []struct {
		alpha float64
		want  []float64 // descending
	}{{4, []float64{0.9646631559719038, 0.017668422014048047, 0.017668422014048047}}, {0, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}}} {
		w, u, ok := queWeights(sp, c.alpha)
		if !ok {
			t.Fatal("eigen-decomposition failed")
		}
		// Map each weight to the axis of its eigenvector.
		got := make([]float64, 3)
		for j := range w {
			for a := 0; a < 3; a++ {
				if math.Abs(u.At(a, j)) > 0.5 {
					got[a] = w[j]
				}
			}
		}
		for a := range got {
			if math.Abs(got[a]-c.want[a]) > 1e-12 {
				t.Errorf("alpha %g: weights by axis %v; want %v", c.alpha, got, c.want)
				break
			}
		}
	}
}

// TestSpectrePlanted: 420 standard normal rows in 20 dims and 20 rows
// (4.5%) shifted by 10 along the first axis. Their excess kurtosis along
// that axis puts the filter's top eigenvalue λ near (E[x⁴]/E[x²]² − 1)/2
// ≈ 7.4, above its stopping bound 1 + 10·ε·log²(1/ε) ≈ 5.5 at ε = 0.05,
// so the filter must remove rows; once they are out of the robust
// covariance the shifted rows lie 10 standard deviations out and must
// rank first: AUC 1 and all 20 within the 1.5·ε cut-off (33 rows). With k
// chosen from the data (TestSpectrePlanted's second part) the AUC must
// stay at least 0.99.
func TestSpectrePlanted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, out, d = 440, 20, 20
	a := mat.NewDense(n, d, nil)
	truth := make([]bool, n)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			a.Set(i, j, rng.NormFloat64())
		}
		if i >= n-out {
			truth[i] = true
			a.Set(i, 0, a.At(i, 0)+10)
		}
	}
	sc := make([]float64, n)
	eps, limit := spectreEps(0.05, n)
	info, ok := SpectreScores(sc, a, 4, 4, eps, limit, false)
	if !ok {
		t.Fatal("SpectreScores failed")
	}
	auc, _ := AUC(sc, truth)
	flag := make([]bool, n)
	flagTop(flag, sc, int(math.Round(spectreLimit2*0.05*n)))
	c := Count(flag, truth)
	t.Logf("info %+v auc %.4f tp %d fp %d", info, auc, c.TP, c.FP)
	if auc != 1 || c.TP != out || info.Removed == 0 || info.K != 4 {
		t.Errorf("auc %.4f, %d of %d flagged, filter removed %d, k %d; want 1, all, > 0, 4", auc, c.TP, out, info.Removed, info.K)
	}
	info, ok = SpectreScores(sc, a, 0, 4, eps, limit, false)
	auc, _ = AUC(sc, truth)
	t.Logf("auto k: info %+v auc %.4f", info, auc)
	if !ok || auc < 0.99 || len(info.Candidates) == 0 {
		t.Errorf("auto k: ok %v auc %.4f candidates %v", ok, auc, info.Candidates)
	}
}

// TestSpectreDecodeErrors: SPECTRE's keys out of range are exit 2 naming
// the key.
func TestSpectreDecodeErrors(t *testing.T) {
	p := "config suites.poisoning.data.spectre."
	for _, c := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"k": 0}, p + "k: 0 is outside [1, 64]"},
		{map[string]any{"k": 65}, p + "k: 65 is outside [1, 64]"},
		{map[string]any{"alpha": -1}, p + "alpha: -1 must be a finite number ≥ 0"},
		{map[string]any{"expected_poison_rate": 0.6}, p + "expected_poison_rate: 0.6 is outside (0, 0.5]"},
		{map[string]any{"expected_poison_rate": 0}, p + "expected_poison_rate: 0 is outside (0, 0.5]"},
		{map[string]any{"expected_poison_rate": -0.1}, p + "expected_poison_rate: -0.1 is outside (0, 0.5]"},
	} {
		_, err := Suite{}.Decode(map[string]any{"data": map[string]any{"train": digitsTrain, "methods": []any{MethodSpectre}, MethodSpectre: c.opts}})
		if errs.Code(err, 0) != errs.Invalid || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v; want exit 2 with %q", c.opts, err, c.want)
		}
	}
	// The interval's upper end is a valid rate for both methods.
	for _, m := range []string{MethodSpectre, MethodSpectral} {
		raw := map[string]any{"data": map[string]any{"train": digitsTrain, "methods": []any{m}, m: map[string]any{"expected_poison_rate": 0.5}}}
		if _, err := (Suite{}).Decode(raw); err != nil {
			t.Errorf("%s expected_poison_rate 0.5: %v; want it accepted", m, err)
		}
	}
	// k beyond the layer's size is found at run time.
	err := runErr(t, map[string]any{"data": map[string]any{"train": digitsTrain, "methods": []any{MethodSpectre}, MethodSpectre: map[string]any{"k": 64}}})
	if errs.Code(err, 0) != errs.Invalid || err == nil || !strings.Contains(err.Error(), p+"k: 64 is larger than layer") {
		t.Errorf("k 64 on digits_cnn: error %v; want exit 2 naming spectre.k", err)
	}
}

// spectreFamilies are SPECTRE's figures (F1, AUC, to 4 decimals) with the
// default settings on every family row, measured by
// TestSpectreFamilies's seeded run; docs/metrics/poisoning.md tabulates
// them.
var spectreFamilies = map[[2]string][2]float64{
	{"blend", "cnn"}:          {0.3988, 0.7057},
	{"blend", "rescnn"}:       {0.2492, 0.6633},
	{"warp", "cnn"}:           {0.2469, 0.7284},
	{"warp", "rescnn"}:        {0.1620, 0.6844},
	{"sinusoidal", "cnn"}:     {0.2918, 0.8111},
	{"sinusoidal", "rescnn"}:  {0.1824, 0.6612},
	{"clean_label", "cnn"}:    {0.1000, 0.4663},
	{"clean_label", "rescnn"}: {0.0000, 0.4523},
}

// TestSpectreFamilies runs `methods: [spectre]` with no other option on
// every committed family row and asks for the pinned figures
// (spectreFamilies): a change of the method shows here.
func TestSpectreFamilies(t *testing.T) {
	checked := 0
	for _, fam := range families {
		for _, arch := range architectures {
			m := familyRun(t, fam, arch, map[string]any{"methods": []any{MethodSpectre}})
			f1, auc := m[MethodSpectre+".f1"], m[MethodSpectre+".auc"]
			t.Logf("%-11s %-6s spectre f1 %.4f auc %.4f flagged %.4f", fam, arch, f1, auc, m[MethodSpectre+".flagged_fraction"])
			want := spectreFamilies[[2]string{fam, arch}]
			if math.Abs(f1-want[0]) > 5e-5 || math.Abs(auc-want[1]) > 5e-5 {
				t.Errorf("%s %s: spectre f1 %.4f auc %.4f; recorded %.4f %.4f", fam, arch, f1, auc, want[0], want[1])
			}
			checked++
		}
	}
	if checked != len(spectreFamilies) {
		t.Errorf("checked %d rows; want %d", checked, len(spectreFamilies))
	}
}

// TestSpectreShared runs `methods: [spectre]` on the shared MNIST patch
// fixture (mnist_backdoor_cnn, 6000 samples, 300 poisoned in class 0) and
// on the clean sets of TestDefaultConfigClean, and asks for this seeded
// run's figures, each class read at its own layer (chooseLayer): on MNIST
// an AUC of at least 0.99 (0.9977; 0.9967 with the penultimate layer for
// all classes; the spectral default's is 0.9851) and TP 280 FP 545 (FP
// 539 with one layer); on the clean sets 183 of 1397 and 700 of 6000
// flagged (201 and 650 with one layer): counts asserted exactly. The
// rate-free cut-off flags 12–13% of a clean set here
// (docs/metrics/poisoning.md says why).
func TestSpectreShared(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	tg := target(t, filepath.Join(dir, "mnist_backdoor_cnn.onnx"), "", "")
	res := run(t, tg, map[string]any{"data": map[string]any{
		"train":       map[string]any{"x": "mnist_poison_subset_x.npy", "y": "mnist_poison_subset_y.npy"},
		"is_poisoned": "mnist_poison_subset_is_poisoned.npy",
		"methods":     []any{MethodSpectre},
	}})
	md := res.Details["data"].(map[string]any)[MethodSpectre].(map[string]any)
	auc := res.Metrics[MethodSpectre+".auc"]
	t.Logf("mnist: f1 %.4f auc %.4f tp %v fp %v", res.Metrics[MethodSpectre+".f1"], auc, md["tp"], md["fp"])
	for _, pc := range md["per_class"].([]map[string]any) {
		t.Logf("class %v: %v", pc["class"], pc)
	}
	if !(auc >= 0.99) || md["tp"] != 280 || md["fp"] != 545 {
		t.Errorf("mnist: auc %.4f tp %v fp %v; want ≥ 0.99, %d, %d", auc, md["tp"], md["fp"], 280, 545)
	}
	checked := 0
	for _, c := range []struct {
		name  string
		tg    func() *suite.Target
		train map[string]any
		n, fl int
	}{
		{"digits", func() *suite.Target { return digitsTarget(t) }, digitsTrain, 1397, 183},
		{"mnist_cnn", func() *suite.Target { return target(t, filepath.Join(dir, "mnist_cnn.onnx"), "", "") },
			map[string]any{"x": "mnist_poison_subset_x.npy", "y": "mnist_poison_subset_y_orig.npy"}, 6000, 700},
	} {
		res := run(t, c.tg(), map[string]any{"data": map[string]any{"train": c.train, "methods": []any{MethodSpectre}}})
		t.Logf("%s clean: flagged %.4f", c.name, res.Metrics[MethodSpectre+".flagged_fraction"])
		wantCount(t, c.name+" spectre flagged", res.Metrics[MethodSpectre+".flagged_fraction"], c.n, c.fl)
		checked++
	}
	if checked != 2 {
		t.Errorf("checked %d clean sets; want 2", checked)
	}
}

// TestReweightMCD: 2000 standard normal rows in 4 dims, keep the central
// half (the rows of smallest norm, as a filter at its limit keeps them).
// That half's covariance is too small by far; after the consistency factor
// the reweighting keeps the rows with d² ≤ χ²₄(0.975), which for Gaussian
// rows is 97.5% of them (1950 of 2000, binomial standard deviation 7): at
// least 1900 must be kept. With 100 rows shifted by 10 along one axis
// added, none of them may be kept (10 standard deviations out).
func TestReweightMCD(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, shifted := range []int{0, 100} {
		const n, d = 2000, 4
		a := mat.NewDense(n+shifted, d, nil)
		norm := make([]float64, n+shifted)
		for i := 0; i < n+shifted; i++ {
			for j := 0; j < d; j++ {
				a.Set(i, j, rng.NormFloat64())
			}
			if i >= n {
				a.Set(i, 0, a.At(i, 0)+10)
			}
			row := a.RawRowView(i)
			norm[i] = floats64Dot(row, row)
		}
		keep := make([]bool, n+shifted)
		cut := stats.Median(slices.Sorted(slices.Values(norm)))
		for i, v := range norm {
			keep[i] = v <= cut
		}
		kept, ok := reweightMCD(keep, a)
		out := 0
		for i := n; i < n+shifted; i++ {
			if keep[i] {
				out++
			}
		}
		t.Logf("shifted %d: kept %d, shifted kept %d", shifted, kept, out)
		if !ok || kept-out < 1900 || out != 0 {
			t.Errorf("shifted %d: kept %d (%d shifted); want ≥ 1900 clean and no shifted", shifted, kept, out)
		}
	}
}

// BenchmarkSpectreScores scores one class-sized block (600 rows of a 32-d
// layer, 60 of them shifted) with k chosen and no rate, as the data part
// does for each class.
func BenchmarkSpectreScores(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, d = 600, 32
	a := mat.NewDense(n, d, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			a.Set(i, j, rng.NormFloat64())
		}
		if i >= n-60 {
			a.Set(i, 0, a.At(i, 0)+4)
		}
	}
	sc := make([]float64, n)
	eps, limit := spectreEps(0, n)
	for b.Loop() {
		if _, ok := SpectreScores(sc, a, 0, 4, eps, limit, true); !ok {
			b.Fatal("SpectreScores failed")
		}
	}
}
