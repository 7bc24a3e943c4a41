package extraction

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/stats"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// settings sets the run settings of these tests: batches of 128 on two
// workers, seed 5, a temporary OutDir and BaseDir base.
func settings(t testing.TB, tg *suite.Target, lo, hi float64, base string) *suite.Target {
	tg.BatchSize, tg.Pool, tg.Seed, tg.OutDir, tg.BaseDir = 128, runtime.Pool{Workers: 2}, 5, t.TempDir(), base
	tg.Range = [2]float64{lo, hi}
	return tg
}

// demo opens the Adult demo model on its 1,000 evaluation rows (examples/adult).
func demo(t testing.TB) *suite.Target {
	ds := suitetest.Load(t, data.Spec{CSV: "adult/adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, testutil.Example(t, ""))
	return settings(t, suitetest.Open(t, testutil.Example(t, "adult/adult_mlp.onnx"), ds), 0, 1, testutil.Example(t, ""))
}

// mnist opens the shared MNIST CNN on its 2,000 test images.
func mnist(t testing.TB) *suite.Target {
	dir := testutil.Shared(t, "fixtures/vision")
	ds := suitetest.Load(t, data.Spec{X: "mnist_test_x.npy", Y: "mnist_test_y.npy"}, dir)
	return settings(t, suitetest.Open(t, filepath.Join(dir, "mnist_cnn.onnx"), ds), 0, 1, dir)
}

func TestDecode(t *testing.T) {
	c, err := Suite{}.Decode(map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.(Config)
	if !slices.Equal(cfg.Budgets, []int{1000, 5000, 10000}) || cfg.Outputs != Probabilities || cfg.Arch != ArchAuto || cfg.Holdout != 0.3 {
		t.Fatalf("defaults: %+v", cfg)
	}
	if a := cfg.attack.Attacks[0]; a.Name != "pgd" || a.Norm != "linf" || !slices.Equal(a.Eps, []float64{0.1}) || a.Steps != 40 || a.EarlyStop == nil || *a.EarlyStop {
		t.Fatalf("default attack: %+v", a)
	}
	keys := Suite{}.Metrics(cfg, 2)
	// 3 target_accuracy keys + 3 budgets × 3 metrics × 3 (value, ci_low, ci_high).
	if len(keys) != 30 || !slices.Contains(keys, "fidelity@10000") || !slices.Contains(keys, "transfer@1000.ci_high") {
		t.Fatalf("keys: %v", keys)
	}
	c, err = Suite{}.Decode(map[string]any{"budgets": []any{5000, 100}})
	if err != nil || !slices.Equal(c.(Config).Budgets, []int{100, 5000}) {
		t.Fatalf("budgets [5000, 100]: %v, %v (want sorted)", c, err)
	}
	for name, tc := range map[string]struct {
		raw  map[string]any
		want string
	}{
		"empty budgets": {map[string]any{"budgets": []any{}}, "suites.extraction.budgets"},
		"zero budget":   {map[string]any{"budgets": []any{0}}, "suites.extraction.budgets[0]"},
		"twice":         {map[string]any{"budgets": []any{10, 10}}, "10 is listed twice"},
		"holdout":       {map[string]any{"holdout": 1}, "suites.extraction.holdout"},
		"outputs":       {map[string]any{"outputs": "logits"}, "suites.extraction.outputs"},
		"arch":          {map[string]any{"arch": "resnet"}, "suites.extraction.arch"},
		"epochs":        {map[string]any{"training": map[string]any{"epochs": 0}}, "suites.extraction.training.epochs"},
		"lr":            {map[string]any{"training": map[string]any{"learning_rate": -1}}, "suites.extraction.training.learning_rate"},
		"two eps":       {map[string]any{"attack": map[string]any{"name": "pgd", "norm": "linf", "eps": []any{0.1, 0.2}}}, "one attack with one eps"},
		"bad attack":    {map[string]any{"attack": map[string]any{"name": "pgd", "norm": "l7", "eps": []any{0.1}}}, "suites.extraction.attack"},
		"unknown key":   {map[string]any{"budget": 3}, "budget"},
		"rows":          {map[string]any{"transfer_rows": 0}, "suites.extraction.transfer_rows"},
	} {
		_, err := Suite{}.Decode(tc.raw)
		if err == nil || errs.Code(err, -1) != errs.Invalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an Invalid error naming %q", name, err, tc.want)
		}
	}
}

// TestBadData: unlabelled evaluation data and a query set of another
// sample size are exit-2 errors naming what is wrong.
func TestBadData(t *testing.T) {
	if err := (Suite{}).CheckData(nil, &data.Dataset{N: 10, SampleShape: []int{2}, X: make([]float32, 20)}, 2); err == nil || errs.Code(err, -1) != errs.Invalid || !strings.Contains(err.Error(), "labelled") {
		t.Errorf("unlabelled data: %v", err)
	}
	tg := demo(t)
	cfg, err := Suite{}.Decode(map[string]any{"queries": map[string]any{"x": "digits_eval_x.npy"}, "budgets": []any{10}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Suite{}.Run(context.Background(), tg, cfg)
	if err == nil || errs.Code(err, -1) != errs.Invalid || !strings.Contains(err.Error(), "suites.extraction.queries") {
		t.Errorf("digits images as Adult queries: %v, want an Invalid error naming suites.extraction.queries", err)
	}
}

// TestDemo runs the suite on the Adult demo model with its evaluation rows
// split (the default), at budgets 200 and 600 (the query pool has 700 rows)
// and 5000 (more than the pool: undefined, with a warning), and checks the
// bookkeeping against a direct computation: the saved surrogate, run
// through its own session, agrees with the model on the test rows as often
// as fidelity@600 says. It also checks labels mode against probabilities
// mode (a different surrogate) and the determinism of the whole suite
// across worker counts and GOMAXPROCS.
func TestDemo(t *testing.T) {
	raw := map[string]any{"budgets": []any{200, 600, 5000}, "training": map[string]any{"epochs": 10}}
	tg := demo(t)
	res := suitetest.Run(t, Suite{}, tg, raw)
	split := res.Details["split"].(map[string]any)
	// 0.3 × 1,000 rows held out (docs/metrics/extraction.md).
	if split["test_rows"] != 300 || split["query_pool"] != 700 {
		t.Fatalf("split %v, want 300 test rows and a pool of 700", split)
	}
	if !slices.Contains(res.Undefined, "fidelity@5000") || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "budget 5000") {
		t.Fatalf("budget 5000 over a pool of 700: undefined %v, warnings %q", res.Undefined, res.Warnings)
	}
	for _, k := range []string{"fidelity@200", "fidelity@600", "accuracy@600", "transfer@600", "target_accuracy"} {
		if _, ok := res.Metrics[k]; !ok {
			t.Fatalf("%s undefined", k)
		}
	}
	if res.Details["surrogate"].(map[string]any)["arch"] != "mlp" {
		t.Fatalf("surrogate %v, want the mlp for tables", res.Details["surrogate"])
	}
	// Direct computation: the test part is the split's seeded rows; rerun
	// the saved surrogate and the model on them.
	sess, err := tg.OpenModel(filepath.Join(tg.OutDir, "extraction", "surrogate_600.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	cfg, _ := Suite{}.Decode(raw)
	r := suite.NewResult()
	_, test, _, err := parts(tg, cfg.(Config), suite.DeriveSeed(tg.Seed, "extraction"), r)
	if err != nil {
		t.Fatal(err)
	}
	st := *tg
	st.Session = sess
	sur, err := outputs(context.Background(), &st, test)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := outputs(context.Background(), tg, test)
	if err != nil {
		t.Fatal(err)
	}
	agree := 0
	for i := 0; i < test.N; i++ {
		if stats.Argmax(sur[i*2:i*2+2]) == stats.Argmax(ref[i*2:i*2+2]) {
			agree++
		}
	}
	if got := res.Metrics["fidelity@600"]; got != float64(agree)/float64(test.N) {
		t.Errorf("fidelity@600 %v; the saved surrogate agrees on %d of %d", got, agree, test.N)
	}
	// Labels mode trains on one-hot answers: another surrogate.
	rawL := map[string]any{"budgets": []any{600}, "training": map[string]any{"epochs": 10}, "outputs": "labels"}
	resL := suitetest.Run(t, Suite{}, demo(t), rawL)
	if resL.Details["surrogate"].(map[string]any)["outputs"] != "labels" || resL.Metrics["fidelity@600"] == res.Metrics["fidelity@600"] {
		t.Fatalf("labels mode: details %v, fidelity@600 %v as with probabilities", resL.Details["surrogate"], resL.Metrics["fidelity@600"])
	}
	// Regression pins, this implementation at seed 5 (the direct
	// computation above is the check; these catch a changed split, seed
	// derivation or trainer): 275 of 300 test rows agree, 273 with labels.
	if res.Metrics["fidelity@600"] != 275.0/300 || resL.Metrics["fidelity@600"] != 273.0/300 {
		t.Errorf("fidelity@600 %v (labels %v), pinned 275/300 (273/300)", res.Metrics["fidelity@600"], resL.Metrics["fidelity@600"])
	}
	// Determinism: 1 worker at GOMAXPROCS 1 gives the same metrics as 2
	// workers at the default.
	tg1 := demo(t)
	tg1.Pool = runtime.Pool{Workers: 1}
	prev := goruntime.GOMAXPROCS(1)
	res1 := suitetest.Run(t, Suite{}, tg1, raw)
	goruntime.GOMAXPROCS(prev)
	a, _ := json.Marshal(res.Metrics)
	b, _ := json.Marshal(res1.Metrics)
	if string(a) != string(b) {
		t.Errorf("metrics differ across workers and GOMAXPROCS:\n%s\n%s", a, b)
	}
	t.Logf("demo: %s; labels fidelity@600 %v", a, resL.Metrics["fidelity@600"])
}

// peer is testdata/peer_copycat.json, written by peer_copycat.py.
type peer struct {
	Epochs int `json:"epochs"`
	Runs   map[string]struct {
		FidelityMean float64 `json:"fidelity_mean"`
		FidelityStd  float64 `json:"fidelity_std"`
	} `json:"runs"`
}

// fidelityTol is issue 24's tolerance of the Copycat cross-check: 3 points.
const fidelityTol = 0.03

// TestCopycatPeer is the cross-check against ART 1.18.2's CopycatCNN
// (testdata/peer_copycat.py, a port run with Debian's torch 1.13): the
// shared MNIST CNN stolen in labels mode (ART's default) with queries
// drawn from mnist_poison_subset_x.npy, the same surrogate architecture
// (package train's CNN), optimiser, batch and epochs; fidelity on the
// 2,000 test images within 3 points of the port's mean over its seeds.
// Budget 1000 always; 2000 and 5000 too under CI=true or
// GAUNTLET_FULL_EXTRACTION=1 (minutes of gorgonia on 2 loaded cores), 5000
// without a peer figure (the port ran 1000 and 2000 only, for time; see
// docs/metrics/extraction.md).
func TestCopycatPeer(t *testing.T) {
	tg := mnist(t)
	b, err := os.ReadFile(filepath.Join("testdata", "peer_copycat.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p peer
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	budgets := []any{1000}
	if testutil.CI() || os.Getenv("GAUNTLET_FULL_EXTRACTION") == "1" {
		budgets = []any{1000, 2000, 5000} // 5000: the curve of docs/metrics/extraction.md, no peer figure
	}
	raw := map[string]any{"budgets": budgets, "outputs": "labels", "training": map[string]any{"epochs": p.Epochs},
		"queries": map[string]any{"x": "mnist_poison_subset_x.npy"}, "attack": map[string]any{"name": "pgd", "norm": "linf", "eps": []any{0.3}}}
	res := suitetest.Run(t, Suite{}, tg, raw)
	if a := res.Details["surrogate"].(map[string]any)["arch"]; a != "cnn" {
		t.Fatalf("surrogate arch %v, want the cnn for images", a)
	}
	compared := 0
	for _, bud := range budgets {
		k := key("fidelity", bud.(int))
		got := res.Metrics[k]
		ref, ok := p.Runs[strings.TrimPrefix(k, "fidelity@")]
		if !ok {
			t.Logf("%s: gauntlet %.4f (no peer figure); transfer %.4f", k, got, res.Metrics[key("transfer", bud.(int))])
			continue
		}
		t.Logf("%s: gauntlet %.4f, ART port %.4f (sd %.4f over seeds); transfer %.4f", k, got, ref.FidelityMean, ref.FidelityStd, res.Metrics[key("transfer", bud.(int))])
		if d := got - ref.FidelityMean; d > fidelityTol || d < -fidelityTol {
			t.Errorf("%s = %.4f; ART's CopycatCNN (port) %.4f: off by more than %v", k, got, ref.FidelityMean, fidelityTol)
		}
		compared++
	}
	t.Logf("target accuracy %.4f; curve %v", res.Metrics["target_accuracy"], res.Details["extraction_curve"])
	if want := min(len(budgets), 2); compared != want {
		t.Fatalf("compared %d budgets, want %d (1000 and, in the full run, 2000)", compared, want)
	}
}

// TestAdult steals the shared Adult MLP at the default budgets (1000, 5000,
// 10000 queries of the evaluation rows' query pool; 4,518 rows held out),
// with probabilities and with labels, data.range the data's own minimum
// and maximum. The figures are this implementation's at seed 5, the curve
// of docs/metrics/extraction.md (pinned to 4 decimals: a changed split,
// trainer or attack shows here); the checks that do not depend on the pin:
// the surrogate is the mlp, the target's accuracy on the held-out rows is
// the model's (0.8514 on all 15,060 rows, shared README: within the
// held-out sample's interval), every budget is defined.
func TestAdult(t *testing.T) {
	tg := suitetest.Adult(t)
	lo, hi := float64(slices.Min(tg.Data.X)), float64(slices.Max(tg.Data.X))
	want := map[string]map[string]float64{
		Probabilities: {"fidelity@1000": 0.9772, "accuracy@1000": 0.8557, "transfer@1000": 0.3673,
			"fidelity@5000": 0.9878, "accuracy@5000": 0.8570, "transfer@5000": 0.4486,
			"fidelity@10000": 0.9918, "accuracy@10000": 0.8575, "transfer@10000": 0.4636},
		Labels: {"fidelity@1000": 0.9670, "accuracy@1000": 0.8504, "transfer@1000": 0.3094,
			"fidelity@5000": 0.9799, "accuracy@5000": 0.8539, "transfer@5000": 0.3920,
			"fidelity@10000": 0.9834, "accuracy@10000": 0.8561, "transfer@10000": 0.3794},
	}
	compared := 0
	for _, mode := range []string{Probabilities, Labels} {
		tg := settings(t, suitetest.Adult(t), lo, hi, "")
		res := suitetest.Run(t, Suite{}, tg, map[string]any{"outputs": mode})
		suitetest.Defined(t, res)
		if res.Details["split"].(map[string]any)["test_rows"] != 4518 {
			t.Fatalf("split %v, want 4,518 test rows (0.3 × 15,060)", res.Details["split"])
		}
		if lo, hi := res.Metrics["target_accuracy.ci_low"], res.Metrics["target_accuracy.ci_high"]; !(lo <= 0.8514 && 0.8514 <= hi) {
			t.Errorf("target_accuracy [%v, %v] excludes the model's 0.8514", lo, hi)
		}
		for _, b := range DefaultBudgets {
			for _, m := range []string{"fidelity", "accuracy", "transfer"} {
				k := key(m, b)
				t.Logf("%s %s = %.4f [%.4f, %.4f]", mode, k, res.Metrics[k], res.Metrics[k+".ci_low"], res.Metrics[k+".ci_high"])
				if w, ok := want[mode][k]; ok {
					if d := res.Metrics[k] - w; d > 5e-5 || d < -5e-5 {
						t.Errorf("%s %s = %.4f, pinned %.4f", mode, k, res.Metrics[k], w)
					}
					compared++
				}
			}
		}
		t.Logf("%s curve: %v", mode, res.Details["extraction_curve"])
	}
	if compared != 18 {
		t.Errorf("compared %d pinned figures, want 18", compared)
	}
}

// TestExampleConfig runs the extraction block of examples/extraction.yaml
// on its model and data (the Adult demo model, the training rows as
// queries) and checks that its gates pass: the example is a working
// release gate. The figures it logs are those of the example's comments.
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load(config.Options{Path: testutil.Example(t, "extraction.yaml"), Environ: func() []string { return nil }, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != testutil.Example(t, "adult/adult_mlp.onnx") {
		t.Fatalf("model %s; the test opens examples/adult/adult_mlp.onnx", cfg.Model)
	}
	tg := demo(t)
	tg.BatchSize, tg.Seed = 256, suite.DeriveSeed(1, "extraction")
	res := suitetest.Run(t, Suite{}, tg, cfg.Suites["extraction"])
	suitetest.Defined(t, res)
	checked := 0
	for _, g := range cfg.ParsedGates {
		v, ok := res.Metrics[g.Key()]
		if !ok || !map[string]bool{"<=": v <= g.Threshold, ">=": v >= g.Threshold}[g.Op] {
			t.Errorf("gate %s fails: value %v", g, v)
		}
		checked++
	}
	if checked != 1 {
		t.Errorf("checked %d gates; examples/extraction.yaml has 1", checked)
	}
	for _, b := range []int{500, 1000, 2000} {
		t.Logf("fidelity@%d %.4f accuracy %.4f transfer %.4f", b, res.Metrics[key("fidelity", b)], res.Metrics[key("accuracy", b)], res.Metrics[key("transfer", b)])
	}
}
