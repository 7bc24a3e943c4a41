package slices

import (
	"testing"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
	"github.com/gauntlet-ml/gauntlet/suites/evasion"
)

// TestExampleConfig runs the slices block of examples/slices.yaml on its
// model and data (the Adult demo model and its 1,000 evaluation rows) and
// checks that its gates pass with the values its comments give.
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load(config.Options{Path: testutil.Example(t, "slices.yaml"), Environ: func() []string { return nil }, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != testutil.Example(t, "adult/adult_mlp.onnx") {
		t.Fatalf("model %s; the test opens examples/adult/adult_mlp.onnx", cfg.Model)
	}
	ds := suitetest.Load(t, data.Spec{CSV: "adult/adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, testutil.Example(t, ""))
	tg := suitetest.Open(t, cfg.Model, ds)
	tg.BatchSize, tg.Pool, tg.Seed, tg.BaseDir, tg.Range = 256, runtime.Pool{Workers: 2}, 1, testutil.Example(t, ""), [2]float64{0, 1}
	res := suitetest.Run(t, Suite{}, tg, cfg.Suites["slices"])
	suitetest.Defined(t, res)
	top := res.Details["slices"].([]map[string]any)[0]
	if top["slice"] != "0.2603<num_age<=0.411 & sex=Male" || top["size"] != 181 {
		t.Errorf("top slice %v, the example's comments say 0.2603<num_age<=0.411 & sex=Male (181 rows)", top)
	}
	checked := 0
	for _, g := range cfg.ParsedGates {
		v, ok := res.Metrics[g.Key()]
		pass := ok && map[string]bool{"<=": v <= g.Threshold, ">=": v >= g.Threshold}[g.Op]
		if !pass {
			t.Errorf("gate %s fails: value %v", g, v)
		}
		checked++
	}
	if checked != 3 {
		t.Errorf("checked %d gates; examples/slices.yaml has 3", checked)
	}
	// Robust accuracy over all rows is the evasion suite's own figure for
	// the same block on the same target (evasion.Craft is its entry point).
	ev := suitetest.Run(t, evasion.Suite{}, tg, cfg.Suites["slices"]["evasion"].(map[string]any))
	want, ok := ev.Metrics["fgsm.linf.eps=0.03.robust_accuracy"]
	got := res.Details["per_metric"].(map[string]any)[RobustAccuracy].(map[string]any)["value"]
	if !ok || got != want {
		t.Errorf("robust accuracy over all rows %v, evasion suite %v", got, want)
	}
	t.Logf("robust accuracy %v (evasion suite %v)", got, want)
}
