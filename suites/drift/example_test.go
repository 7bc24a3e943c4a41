package drift

import (
	"testing"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/runtime"
)

// TestExampleConfig runs the drift block of examples/drift.yaml on its
// model and data (the Adult demo model, its evaluation split against its
// training rows) and checks that its gates pass with the values its
// comments give: the example is a working release gate.
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load(config.Options{Path: testutil.Example(t, "drift.yaml"), Environ: func() []string { return nil }, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != testutil.Example(t, "adult/adult_mlp.onnx") {
		t.Fatalf("model %s; the test opens examples/adult/adult_mlp.onnx", cfg.Model)
	}
	ds := suitetest.Load(t, data.Spec{CSV: "adult/adult_eval.csv", Label: "label", Keep: []string{"sex", "race"}}, testutil.Example(t, ""))
	tg := suitetest.Open(t, cfg.Model, ds)
	tg.BatchSize, tg.Pool, tg.Seed, tg.BaseDir = 256, runtime.Pool{Workers: 2}, 1, testutil.Example(t, "")
	res := suitetest.Run(t, Suite{}, tg, cfg.Suites["drift"])
	suitetest.Defined(t, res)
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
		t.Errorf("checked %d gates; examples/drift.yaml has 3", checked)
	}
}
