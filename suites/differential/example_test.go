package differential

import (
	"testing"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/internal/suitetest"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// TestExampleConfig runs the differential block of
// examples/differential.yaml on its model and data (the Adult demo model
// and evaluation split, as the config names them) and checks that its
// gates pass with the values its comments promise: the example is a
// working release gate, not just a config that loads.
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load(config.Options{Path: testutil.Example(t, "differential.yaml"), Environ: func() []string { return nil }, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != testutil.Example(t, "adult/adult_mlp.onnx") {
		t.Fatalf("model %s; the test opens examples/adult/adult_mlp.onnx", cfg.Model)
	}
	tg := adult(t)
	res := suitetest.Run(t, Suite{}, tg, cfg.Suites["differential"])
	suitetest.Defined(t, res)
	checked := 0
	for _, g := range cfg.ParsedGates {
		if g.Suite() != "differential" {
			continue
		}
		v, ok := res.Metrics[g.Key()]
		pass := ok && map[string]bool{
			"<": v < g.Threshold, "<=": v <= g.Threshold, ">": v > g.Threshold,
			">=": v >= g.Threshold, "==": v == g.Threshold, "!=": v != g.Threshold,
		}[g.Op]
		if !pass {
			t.Errorf("gate %s fails: value %v", g, v)
		}
		checked++
	}
	if checked != 4 {
		t.Errorf("checked %d gates; examples/differential.yaml has 4", checked)
	}
}
