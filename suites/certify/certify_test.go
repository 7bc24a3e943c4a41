package certify

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suite"
)

func TestLowerBoundAndCertificate(t *testing.T) {
	// With k = n the one-sided Clopper-Pearson bound has the closed form
	// α^(1/n) (the α quantile of Beta(n, 1)).
	if got, want := LowerBound(1000, 1000, 0.001), math.Pow(0.001, 1.0/1000); math.Abs(got-want) > 1e-12 {
		t.Errorf("LowerBound(1000, 1000, 0.001) = %v, want %v", got, want)
	}
	if got := LowerBound(0, 1000, 0.001); got != 0 {
		t.Errorf("LowerBound(0, 1000, 0.001) = %v, want 0", got)
	}
	// scipy.stats.beta.ppf(0.001, 990, 11) = 0.9760361871553114 (scipy
	// 1.10.1): statsmodels' proportion_confint(990, 1000, alpha=0.002,
	// method="beta")[0], ART's and Cohen et al.'s bound.
	if got := LowerBound(990, 1000, 0.001); math.Abs(got-0.9760361871553114) > 1e-9 {
		t.Errorf("LowerBound(990, 1000, 0.001) = %.12f, want 0.9760361871553114", got)
	}
	// 500 of 1000 cannot bound pA above 1/2: abstain with radius 0.
	if o := Certificate(3, 500, 1000, 0.25, 0.001); o.Class != -1 || o.Radius != 0 {
		t.Errorf("Certificate(500/1000) = %+v, want abstention", o)
	}
	// All 1000: radius σ·Φ⁻¹(0.001^(1/1000)); scipy 1.10.1's
	// norm.ppf(0.001**(1/1000)) = 2.4632626147808114.
	o := Certificate(3, 1000, 1000, 0.25, 0.001)
	if want := 0.25 * 2.4632626147808114; o.Class != 3 || math.Abs(o.Radius-want) > 1e-9 {
		t.Errorf("Certificate(1000/1000) = %+v, want class 3, radius %v", o, want)
	}
}

func TestDecode(t *testing.T) {
	cfg, err := Suite{}.Decode(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Sigma: []float64{DefaultSigma}, N0: DefaultN0, N: DefaultN, Alpha: DefaultAlpha, Radii: DefaultRadii, Samples: DefaultSamples}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults = %+v, want %+v", cfg, want)
	}
	for _, raw := range []map[string]any{
		{"sigma": []any{}}, {"sigma": []any{0.0}}, {"sigma": []any{-1}}, {"radii": []any{-0.5}},
		{"n0": 0}, {"n": 0}, {"alpha": 0}, {"alpha": 0.5}, {"samples": 0}, {"unknown": 1},
	} {
		if _, err := (Suite{}).Decode(raw); errs.Code(err, 0) != errs.Invalid {
			t.Errorf("Decode(%v) = %v, want an errs.Invalid error", raw, err)
		}
	}
}

// adult opens the repository's Adult MLP on its 1,000 evaluation rows.
func adult(t *testing.T) *suite.Target {
	dir := testutil.Example(t, "adult")
	ds := suitetest.Load(t, data.Spec{CSV: "adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, dir)
	return suitetest.Open(t, filepath.Join(dir, "adult_mlp.onnx"), ds)
}

func TestWorkersAndBatchDoNotMatter(t *testing.T) {
	// Each sample draws its noise from its own stream (suite.BatchRand of
	// the σ's seed and the sample index), row after row, so neither the
	// worker count nor the batch size can change a certificate.
	raw := map[string]any{"sigma": []any{0.1, 0.3}, "n0": 20, "n": 200, "samples": 40, "radii": []any{0, 0.1}}
	var first *suite.Result
	for _, c := range []struct{ workers, batch int }{{1, 7}, {3, 64}} {
		tg := suitetest.Digits(t, "digits_cnn.onnx")
		tg.Seed, tg.Pool, tg.BatchSize = 11, runtime.Pool{Workers: c.workers}, c.batch
		res := suitetest.Run(t, Suite{}, tg, raw)
		suitetest.Defined(t, res)
		if first == nil {
			first = res
			continue
		}
		if !reflect.DeepEqual(res.Metrics, first.Metrics) || !reflect.DeepEqual(res.Details["per_sigma"], first.Details["per_sigma"]) {
			t.Errorf("workers %d batch %d: metrics %v, want %v", c.workers, c.batch, res.Metrics, first.Metrics)
		}
	}
	// More noise certifies no more at a radius the small σ reaches, and
	// certified accuracy falls with the radius.
	m := first.Metrics
	if m["sigma=0.1.radius=0.1.certified_accuracy"] > m["sigma=0.1.radius=0.certified_accuracy"] {
		t.Errorf("certified accuracy grows with the radius: %v", m)
	}
}

// peer is the part of testdata/peer_art.json a case compares.
type peer struct {
	Samples int       `json:"samples"`
	Sigma   float64   `json:"sigma"`
	N0      int       `json:"n0"`
	N       int       `json:"n"`
	Alpha   float64   `json:"alpha"`
	Radii   []float64 `json:"radii"`
	Runs    []struct {
		Seed              int                `json:"seed"`
		CertifiedAccuracy map[string]float64 `json:"certified_accuracy"`
	} `json:"runs"`
}

// artTol is the largest gap allowed between Gauntlet's certified accuracy
// and ART's (issue 23: 1 point). The two draw different noise (PCG per
// sample here, numpy's global Mersenne Twister there), so a sample whose
// estimation count sits near a radius threshold can fall either side: the
// figures are Monte Carlo estimates and agree only up to their sampling
// spread. ART's figure is the mean of its runs with different seeds
// (peer_art.json); one run's spread is their sample standard deviation sd,
// and the difference between one Gauntlet run and that mean has standard
// deviation sd·√(1 + 1/runs), which the test logs. Measured: 1 point is 2.1
// such standard deviations at Adult's radius 0.2 (sd 0.0044 over five
// seeds), more on the MNIST CNN (sd ≤ 0.0027), and 1.7 on the residual CNN
// (sd 0.005, one sample of 200, over three seeds): there the tolerance is at
// the level of the sampling noise itself (docs/metrics/certify.md).
const artTol = 0.01

func checkPeer(t *testing.T, tg *suite.Target, name string) {
	b, err := os.ReadFile(filepath.Join("testdata", "peer_art.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases map[string]peer `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	p, ok := f.Cases[name]
	if !ok {
		t.Fatalf("peer_art.json has no case %s", name)
	}
	radii := make([]any, len(p.Radii))
	for i, r := range p.Radii {
		radii[i] = r
	}
	tg.Seed, tg.BatchSize, tg.Pool = 1, 100, runtime.Pool{Workers: 2}
	res := suitetest.Run(t, Suite{}, tg, map[string]any{"sigma": []any{p.Sigma}, "n0": p.N0, "n": p.N,
		"alpha": p.Alpha, "samples": p.Samples, "radii": radii})
	compared := 0
	for _, r := range p.Radii {
		key := "sigma=" + Key(p.Sigma) + ".radius=" + Key(r) + ".certified_accuracy"
		got := res.Metrics[key]
		rk := pyRepr(r)
		var runs []float64
		for _, run := range p.Runs {
			v, ok := run.CertifiedAccuracy[rk]
			if !ok {
				t.Fatalf("%s: ART seed %d has no radius %s", name, run.Seed, rk)
			}
			runs = append(runs, v)
		}
		mean, sd := meanSD(runs)
		sdDiff := sd * math.Sqrt(1+1/float64(len(runs)))
		if math.Abs(got-mean) > artTol+1e-12 {
			t.Errorf("%s: %s = %v, ART %v (mean of %d seeds, sd %.4f): |Δ| > %v", name, key, got, mean, len(runs), sd, artTol)
		}
		t.Logf("%s: %s = %v, ART %.4f (mean of %v, sd %.4f; sd of the difference %.4f)", name, key, got, mean, runs, sd, sdDiff)
		compared++
	}
	if compared != len(p.Radii) || compared < 3 || len(p.Runs) < 3 {
		t.Errorf("%s: compared %d radii against %d ART runs, want ≥ 3 of each", name, compared, len(p.Runs))
	}
}

// meanSD returns the mean and the sample standard deviation of v.
func meanSD(v []float64) (float64, float64) {
	var m float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	var sq float64
	for _, x := range v {
		sq += (x - m) * (x - m)
	}
	if len(v) < 2 {
		return m, 0
	}
	return m, math.Sqrt(sq / float64(len(v)-1))
}

// pyRepr writes r as Python's repr writes the floats of peer_art.json.
func pyRepr(r float64) string {
	s := Key(r)
	if math.Trunc(r) == r {
		s += ".0"
	}
	return s
}

func TestAgainstARTAdult(t *testing.T) {
	checkPeer(t, adult(t), "adult_mlp")
}

func TestAgainstARTMNIST(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	ds := suitetest.Load(t, data.Spec{X: "mnist_test_x.npy", Y: "mnist_test_y.npy"}, dir)
	checkPeer(t, suitetest.Open(t, filepath.Join(dir, "mnist_cnn.onnx"), ds), "mnist_cnn")
}

// TestAgainstARTResCNN is the same check on benchmarks/pgdpeer's residual
// CNN (BatchNormalization, skip connections), a repository fixture, on the
// shared MNIST images.
func TestAgainstARTResCNN(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	ds := suitetest.Load(t, data.Spec{X: "mnist_test_x.npy", Y: "mnist_test_y.npy"}, dir)
	checkPeer(t, suitetest.Open(t, filepath.Join(testutil.RepoRoot(t), "benchmarks", "pgdpeer", "res_cnn.onnx"), ds), "res_cnn")
}

func TestNeedsLabels(t *testing.T) {
	tg := suitetest.Digits(t, "digits_cnn.onnx")
	tg.Data.Y = nil
	tg.BatchSize, tg.Pool = 8, runtime.Pool{Workers: 1}
	cfg, err := Suite{}.Decode(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Suite{}).Run(context.Background(), tg, cfg); errs.Code(err, 0) != errs.Invalid {
		t.Errorf("Run without labels = %v, want errs.Invalid", err)
	}
}
