package drift

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/grad"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// Tolerances of the comparisons with the scipy figures.
const (
	// exactTol: same bins, same float64 sums in another order.
	exactTol = 1e-10
	// seriesTol: the Kolmogorov series against scipy's kstwobign and
	// gonum's χ² survival against scipy's (relative, or absolute below
	// 1e-300).
	seriesTol = 1e-8
)

func close(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want)) || math.Abs(got-want) <= 1e-300
}

func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Abs(want) || math.Abs(got-want) <= 1e-300
}

// TestKolmogorovSF checks both series of the Kolmogorov survival function
// against scipy 1.10.1's stats.kstwobign.sf at the same points.
func TestKolmogorovSF(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{0.3, 0.9999906941986655},
		{0.5, 0.9639452436648751},
		{1.0, 0.26999967167735456},
		{1.18, 0.1234538094297657},
		{1.5, 0.022217962616525127},
		{2.0, 0.0006709252557796953},
		{3.0, 3.045995948942526e-08},
	} {
		if got := KolmogorovSF(c.x); !relClose(got, c.want, 1e-12) {
			t.Errorf("KolmogorovSF(%v) = %v; scipy %v", c.x, got, c.want)
		}
	}
}

// TestChiSquare checks the statistic by hand and the p-value against
// scipy 1.10.1: stats.chi2_contingency([[10,20,30],[20,20,20]],
// correction=False) = (5.333333333333334, 0.0694834512228015, 2, …).
func TestChiSquare(t *testing.T) {
	// Row sums 60, 60; column sums 30 40 50; expected 15 20 25 in both
	// rows; χ² = 2·(25/15 + 0 + 25/25) = 16/3.
	chi2, dof, p := ChiSquare([]int{10, 20, 30}, []int{20, 20, 20})
	if !close(chi2, 16.0/3, 1e-14) || dof != 2 || !relClose(p, 0.0694834512228015, 1e-12) {
		t.Errorf("ChiSquare = %v, %d dof, p %v; want 16/3, 2, scipy 0.0694834512228015", chi2, dof, p)
	}
	if _, _, p := ChiSquare([]int{5}, []int{7}); p != 1 {
		t.Errorf("one category: p = %v; want 1", p)
	}
}

// TestPSIHand checks PSI on hand-computed proportions: ref (0.5, 0.5),
// cur (0.25, 0.75): (0.25−0.5)·ln(0.5) + (0.75−0.5)·ln(1.5) =
// 0.25·(ln 2 + ln 1.5) = 0.25·ln 3; and an empty bin takes PSIEpsilon.
func TestPSIHand(t *testing.T) {
	if got, want := PSI([]int{2, 2}, []int{1, 3}), 0.25*math.Log(3); !close(got, want, 1e-15) {
		t.Errorf("PSI = %v; want %v", got, want)
	}
	// ref (1, 0), cur (0.5, 0.5): (0.5−1)·ln 0.5 + (0.5−1e-4)·ln(0.5/1e-4).
	want := -0.5*math.Log(0.5) + (0.5-PSIEpsilon)*math.Log(0.5/PSIEpsilon)
	if got := PSI([]int{4, 0}, []int{2, 2}); !close(got, want, 1e-15) {
		t.Errorf("PSI with an empty bin = %v; want %v", got, want)
	}
}

// TestDecodeErrors: bad blocks are exit 2 naming the key.
func TestDecodeErrors(t *testing.T) {
	ref := map[string]any{"x": "r.npy"}
	for _, c := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{}, "suites.drift.reference"},
		{map[string]any{"reference": ref, "bins": 1}, "suites.drift.bins"},
		{map[string]any{"reference": ref, "alpha": 1.5}, "suites.drift.alpha"},
		{map[string]any{"reference": ref, "mmd": "yes"}, "suites.drift.mmd"},
		{map[string]any{"reference": ref, "permutations": 0}, "suites.drift.permutations"},
		{map[string]any{"reference": ref, "shift": map[string]any{"weight": 0}}, "suites.drift.shift.weight"},
		{map[string]any{"reference": ref, "shift": map[string]any{"quantile": 1}}, "suites.drift.shift.quantile"},
		{map[string]any{"reference": ref, "features": []any{"a", "a"}}, "suites.drift.features"},
		{map[string]any{"reference": ref, "categorical": []any{"a"}, "shift": map[string]any{"features": []any{"a"}}}, "suites.drift.shift.features"},
		{map[string]any{"reference": ref, "psi": 1}, "psi"},
	} {
		_, err := Suite{}.Decode(c.raw)
		if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Decode(%v) = %v; want exit 2 naming %s", c.raw, err, c.want)
		}
	}
	cfg, err := Suite{}.Decode(map[string]any{"reference": ref, "features": []any{"a", "b"}, "categorical": []any{"b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.(Config).Shift.Features; !slices.Equal(got, []string{"a"}) {
		t.Errorf("default shift features %v; want the numeric listed ones [a]", got)
	}
}

// TestMissingColumns: a feature, categorical or sensitive column the data
// lack is exit 2 naming the key, before anything runs (repo fixture:
// examples/digits_eval_x.npy, one-axis names f0..f63 only after a reshape,
// so its 1×8×8 images have no feature names).
func TestMissingColumns(t *testing.T) {
	tg := suitetest.Digits(t, "digits_cnn.onnx")
	for _, c := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"features": []any{"f3"}}, "suites.drift.features"},
		{map[string]any{"categorical": []any{"sex"}}, "suites.drift.categorical"},
		{map[string]any{"sensitive": []any{"sex"}}, "suites.drift.sensitive"},
		{map[string]any{"shift": map[string]any{"features": []any{"f1"}}}, "suites.drift.shift.features"},
	} {
		c.raw["reference"] = map[string]any{"x": "digits_eval_x.npy"}
		cfg, err := Suite{}.Decode(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		err = Suite{}.CheckData(cfg, tg.Data, tg.Classes)
		if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckData(%v) = %v; want exit 2 naming %s", c.raw, err, c.want)
		}
	}
}

// TestDigitsHalvesNoDrift: the repo's 400 digits images (examples/)
// split in two halves show no drift, the brightened second half does;
// see imageHalves.
func TestDigitsHalvesNoDrift(t *testing.T) {
	ex := testutil.Example(t, "")
	imageHalves(t, filepath.Join(ex, "digits_eval_x.npy"), filepath.Join(ex, "digits_eval_y.npy"), filepath.Join(ex, "digits_cnn.onnx"))
}

// TestMNISTBrightened: the shared MNIST CNN on the 2,000 shared test
// images (../shared/fixtures/vision); see imageHalves.
func TestMNISTBrightened(t *testing.T) {
	dir := testutil.Shared(t, "fixtures/vision")
	imageHalves(t, filepath.Join(dir, "mnist_test_x.npy"), filepath.Join(dir, "mnist_test_y.npy"), filepath.Join(dir, "mnist_cnn.onnx"))
}

// imageHalves splits an image set in two halves (the first the
// reference) and checks that the MMD on model's penultimate activations
// finds no drift in the second half (permutation p-value above the level
// 0.05) and finds the brightened second half (+0.3, clipped to 1) with
// the smallest p-value, 1/(1+99); that the per-feature tests are left
// undefined for images; and that accuracy under the shift towards bright
// images is the weighted accuracy of the per-row outcomes.
func imageHalves(t *testing.T, xPath, yPath, model string) {
	full := suitetest.Open(t, model, suitetest.Load(t, data.Spec{X: xPath, Y: yPath}, filepath.Dir(xPath)))
	dir := t.TempDir()
	x, y := full.Data.X, full.Data.Y
	s := full.Data.SampleSize()
	shape := full.Data.SampleShape
	half := full.Data.N / 2
	ys := make([]float32, full.Data.N)
	for i, v := range y {
		ys[i] = float32(v)
	}
	bright := slices.Clone(x[half*s:])
	for i, v := range bright {
		bright[i] = min(1, v+0.3)
	}
	write := func(name string, v []float32, n int) string {
		p := filepath.Join(dir, name)
		if err := grad.WriteNPY(p, v, append([]int{n}, shape...)); err != nil {
			t.Fatal(err)
		}
		return p
	}
	refX := write("ref_x.npy", x[:half*s], half)
	curX := write("cur_x.npy", x[half*s:2*half*s], half)
	brightX := write("bright_x.npy", bright[:half*s], half)
	curY := filepath.Join(dir, "cur_y.npy")
	if err := grad.WriteNPY(curY, ys[half:2*half], []int{half}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		x      string
		drift  bool
		source string
	}{{curX, false, "second half"}, {brightX, true, "brightened second half"}} {
		ds := suitetest.Load(t, data.Spec{X: c.x, Y: curY}, dir)
		tg := suitetest.Open(t, model, ds)
		tg.BatchSize, tg.Pool, tg.Seed = 64, runtime.Pool{Workers: 2}, 7
		res := suitetest.Run(t, Suite{}, tg, map[string]any{"reference": map[string]any{"x": refX}, "permutations": 99})
		p := res.Metrics["mmd.p"]
		if c.drift && p != 0.01 {
			t.Errorf("%s: mmd.p = %v; want 1/100 (no permutation as large)", c.source, p)
		}
		if !c.drift && p <= 0.05 {
			t.Errorf("%s: mmd.p = %v; want > 0.05", c.source, p)
		}
		for _, k := range []string{"max_psi", "max_ks", "min_p", "drifted_share"} {
			if _, ok := res.Metrics[k]; ok {
				t.Errorf("%s: %s defined for images", c.source, k)
			}
		}
		if res.Details["mmd"].(map[string]any)["layer"] == "outputs" {
			t.Errorf("%s: mmd on the outputs; want the penultimate layer", c.source)
		}
		// Independent of the suite's weighting code: the outcomes from
		// the accuracy definition, the weights from the intensity quantile.
		out := make([]float32, ds.N*tg.Classes)
		if err := suite.ForEachBatch(context.Background(), tg, ds, func(_, lo, hi int, o []float32) error {
			copy(out[lo*tg.Classes:], o[:(hi-lo)*tg.Classes])
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		mean := make([]float64, ds.N)
		for i := range mean {
			for _, v := range ds.Sample(i) {
				mean[i] += float64(v)
			}
			mean[i] /= float64(s)
		}
		q := stats.Quantile(slices.Sorted(slices.Values(mean)), 0.75)
		var hit, tot float64
		for i := range mean {
			w := 1.0
			if mean[i] >= q {
				w = 3
			}
			tot += w
			if int64(stats.Argmax(out[i*tg.Classes:(i+1)*tg.Classes])) == ds.Y[i] {
				hit += w
			}
		}
		if got := res.Metrics["shift.intensity.accuracy"]; !close(got, hit/tot, 1e-12) {
			t.Errorf("%s: shift.intensity.accuracy %v; want %v", c.source, got, hit/tot)
		}
		t.Logf("%s: mmd %v p %v shift.intensity.accuracy %v accuracy %v", c.source, res.Metrics["mmd"], p, res.Metrics["shift.intensity.accuracy"], res.Metrics["accuracy"])
	}
}

// featurePeer is one feature's figures in testdata/peer_scipy.json.
type featurePeer struct {
	Kind             string
	PSI, KS, P, Chi2 float64
	DOF              int
	KS2SampP         float64 `json:"ks_2samp_p"`
}

// peer is testdata/peer_scipy.json, written by testdata/peer_scipy.py.
type peer struct {
	Halves, Shifted map[string]featurePeer
	Shift           struct {
		Accuracy              float64 `json:"accuracy"`
		ShiftAcc              float64 `json:"shift_accuracy"`
		SelectionRateGap      float64 `json:"selection_rate_gap"`
		ShiftSelectionRateGap float64 `json:"shift_selection_rate_gap"`
		Upweighted            int     `json:"upweighted"`
	}
}

// adultSets writes the reference (even rows), halves (odd rows) and
// shifted (odd rows, num_age + 0.5, every second Female row Male) CSVs of
// ../shared's adult_test.csv, as testdata/peer_scipy.py builds them.
func adultSets(t *testing.T) (dir, ref, halves, shifted string) {
	src := filepath.Join(testutil.Shared(t, "fixtures/tabular"), "adult_test.csv")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	header := strings.Split(lines[0], ",")
	age, sex := slices.Index(header, "num_age"), slices.Index(header, "sex")
	var r, h, s []string
	females := 0
	for i, l := range lines[1:] {
		if i%2 == 0 {
			r = append(r, l)
			continue
		}
		h = append(h, l)
		f := strings.Split(l, ",")
		v, err := strconv.ParseFloat(f[age], 64)
		if err != nil {
			t.Fatal(err)
		}
		f[age] = strconv.FormatFloat(v+0.5, 'f', 6, 64)
		if f[sex] == "Female" {
			if females++; females%2 == 0 {
				f[sex] = "Male"
			}
		}
		s = append(s, strings.Join(f, ","))
	}
	dir = t.TempDir()
	write := func(name string, rows []string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(lines[0]+"\n"+strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return dir, write("ref.csv", r), write("halves.csv", h), write("shifted.csv", s)
}

// TestPeerScipy compares every feature's PSI, KS statistic and p-value
// and χ² of the Adult halves and of the planted shift with
// testdata/peer_scipy.json (numpy 1.24.2, scipy 1.10.1), and accuracy and
// the sex selection-rate gap, plain and under the num_age shift, with the
// script's float64 numpy evaluation of the model.
func TestPeerScipy(t *testing.T) {
	var pe peer
	b, err := os.ReadFile("testdata/peer_scipy.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pe); err != nil {
		t.Fatal(err)
	}
	dir, ref, halves, shifted := adultSets(t)
	model := filepath.Join(testutil.Shared(t, "fixtures/tabular"), "adult_mlp.onnx")
	spec := func(csv string) data.Spec {
		return data.Spec{CSV: csv, Label: "label", Keep: []string{"sex", "race"}, Exclude: []string{"age"}}
	}
	refRaw := map[string]any{"csv": ref, "label": "label", "exclude": []any{"age"}, "keep": []any{"race"}}
	for _, c := range []struct {
		name, csv string
		want      map[string]featurePeer
		drift     bool
	}{{"halves", halves, pe.Halves, false}, {"shifted", shifted, pe.Shifted, true}} {
		tg := suitetest.Open(t, model, suitetest.Load(t, spec(c.csv), dir))
		tg.BatchSize, tg.Pool, tg.Seed = 256, runtime.Pool{Workers: 2}, 1
		res := suitetest.Run(t, Suite{}, tg, map[string]any{"reference": refRaw,
			"categorical": []any{"sex", "cat_race_White"}, "sensitive": []any{"sex"},
			"shift": map[string]any{"features": []any{"num_age"}}})
		suitetest.Defined(t, res)
		// MMD on the penultimate activations (the last Gemm's input, 32
		// values) of 500 rows of each set, 200 permutations: 0.05 is the
		// level.
		if p := res.Metrics["mmd.p"]; c.drift != (p < 0.05) {
			t.Errorf("%s: mmd.p %v", c.name, p)
		}
		if l := res.Details["mmd"].(map[string]any)["dim"]; l != 32 {
			t.Errorf("%s: mmd on %v values; want the 32 of the penultimate layer", c.name, l)
		}
		rows := res.Details["features"].([]map[string]any)
		compared, maxPSI := 0, 0.0
		for _, row := range rows {
			f := row["feature"].(string)
			w, ok := c.want[f]
			if !ok {
				t.Errorf("%s: feature %s not in peer_scipy.json", c.name, f)
				continue
			}
			compared++
			maxPSI = max(maxPSI, w.PSI)
			if got := row["psi"].(float64); !close(got, w.PSI, exactTol) {
				t.Errorf("%s %s: psi %v; numpy %v", c.name, f, got, w.PSI)
			}
			want := w.KS
			if w.Kind == "categorical" {
				want = w.Chi2
				if row["dof"].(int) != w.DOF {
					t.Errorf("%s %s: dof %v; scipy %v", c.name, f, row["dof"], w.DOF)
				}
			}
			if got := row["statistic"].(float64); !close(got, want, exactTol) {
				t.Errorf("%s %s: %s statistic %v; scipy %v", c.name, f, row["test"], got, want)
			}
			if got := row["p"].(float64); !relClose(got, w.P, seriesTol) {
				t.Errorf("%s %s: %s p %v; scipy %v", c.name, f, row["test"], got, w.P)
			}
		}
		if compared != 49 { // 48 model features and the raw sex column
			t.Errorf("%s: compared %d features; want 49", c.name, compared)
		}
		if got := res.Metrics["max_psi"]; !close(got, maxPSI, exactTol) {
			t.Errorf("%s: max_psi %v; numpy %v", c.name, got, maxPSI)
		}
		if got, want := res.Metrics["chi2.sex.p"], c.want["sex"].P; !relClose(got, want, seriesTol) {
			t.Errorf("%s: chi2.sex.p %v; scipy %v", c.name, got, want)
		}
		// The planted shift crosses the 0.25 "significant shift" line on
		// num_age and the gate drift.max_psi <= 0.2; the halves stay far
		// below 0.1.
		if c.drift != (res.Metrics["max_psi"] > 0.25) {
			t.Errorf("%s: max_psi %v", c.name, res.Metrics["max_psi"])
		}
		// peer_scipy.json: every halves p-value is above 0.05 (the
		// smallest, sex's χ², 0.17); num_age's KS and sex's χ² are below.
		if want := map[bool]float64{false: 0, true: 2}[c.drift]; res.Metrics["drifted_features"] != want {
			t.Errorf("%s: drifted_features %v; want %v", c.name, res.Metrics["drifted_features"], want)
		}
		if !c.drift && res.Metrics["max_psi"] > 0.01 {
			t.Errorf("halves: max_psi %v; want < 0.01", res.Metrics["max_psi"])
		}
		if c.name == "halves" {
			for _, k := range []struct {
				key  string
				want float64
			}{
				{"accuracy", pe.Shift.Accuracy},
				{"shift.num_age.accuracy", pe.Shift.ShiftAcc},
				{"shift.worst_accuracy", pe.Shift.ShiftAcc},
				{"selection_rate_gap", pe.Shift.SelectionRateGap},
				{"shift.num_age.selection_rate_gap", pe.Shift.ShiftSelectionRateGap},
			} {
				// Same predictions (no arg max flips between ORT's float32 and
				// numpy's float64 on these rows), same weights: exact but for
				// summation order.
				if got := res.Metrics[k.key]; !close(got, k.want, exactTol) {
					t.Errorf("%s: %v; numpy %v", k.key, got, k.want)
				}
			}
			sh := res.Details["shift"].(map[string]any)["features"].([]map[string]any)[0]
			if sh["upweighted"].(int) != pe.Shift.Upweighted {
				t.Errorf("upweighted %v; numpy %v", sh["upweighted"], pe.Shift.Upweighted)
			}
		}
	}
}

// TestMMDExchangeable: with both sets drawn from one distribution the
// MMD's p-value is not small, and rows shifted by 1 give the smallest p
// (synthetic Gaussian data from a fixed PCG seed; the threshold 0.05 is
// the level, not a computed figure).
func TestMMDExchangeable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gen := func(n int, shift float64) []float32 {
		v := make([]float32, n*3)
		for i := range v {
			v[i] = float32(r.NormFloat64() + shift)
		}
		return v
	}
	a, b, c := gen(100, 0), gen(100, 0), gen(100, 1)
	if _, _, p := MMD(a, b, 3, 99, rand.New(rand.NewPCG(3, 4))); p <= 0.05 {
		t.Errorf("same distribution: p = %v", p)
	}
	if m2, _, p := MMD(a, c, 3, 99, rand.New(rand.NewPCG(3, 4))); p != 0.01 || m2 <= 0 {
		t.Errorf("shifted: mmd² %v p = %v; want 0.01", m2, p)
	}
}

// TestBadLayer: a layer the model lacks is exit 2 naming
// suites.drift.layer, and too small a reference is exit 2 (the repo's
// digits CNN and images).
func TestBadLayer(t *testing.T) {
	tg := suitetest.Digits(t, "digits_cnn.onnx")
	tg.BatchSize, tg.Pool, tg.Seed = 64, runtime.Pool{Workers: 1}, 1
	ex := testutil.Example(t, "")
	one := filepath.Join(t.TempDir(), "one.npy")
	if err := grad.WriteNPY(one, tg.Data.Sample(0), append([]int{1}, tg.Data.SampleShape...)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"reference": map[string]any{"x": filepath.Join(ex, "digits_eval_x.npy")}, "layer": "no_such_tensor"}, "suites.drift.layer"},
		{map[string]any{"reference": map[string]any{"x": one}}, "1 reference and 400 evaluation samples"},
	} {
		cfg, err := Suite{}.Decode(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Suite{}.Run(context.Background(), tg, cfg)
		if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run(%v) = %v; want exit 2 naming %s", c.raw, err, c.want)
		}
	}
}
