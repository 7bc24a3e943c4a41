package engine

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/fairness"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// TestFairnessNeedsColumnsBeforeAnySuite: a fairness suite on NumPy data
// (the digits .npy fixture has no columns) is a config error, exit code 2,
// raised before any suite starts: the suite listed before it does not run,
// no report is returned and the output folder is not created.
func TestFairnessNeedsColumnsBeforeAnySuite(t *testing.T) {
	cfg := loadConfig(t, "suites: {first: {}, fairness: {sensitive: [sex]}}\n")
	ran := false
	first := fake{"first", func(context.Context, *suite.Target) (*suite.Result, error) {
		ran = true
		return suite.NewResult(), nil
	}}
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow, Suites: []suite.Suite{first, fairness.Suite{}}})
	if rep != nil || errs.Code(err, 0) != errs.Invalid {
		t.Fatalf("report %v, error %v; want no report and exit code %d", rep != nil, err, errs.Invalid)
	}
	if !strings.Contains(err.Error(), "config "+cfg.Path+": suite fairness needs CSV data (data.csv) with the sensitive columns sex") {
		t.Errorf("error %q: want it to name the config and the missing CSV columns", err)
	}
	if ran {
		t.Error("the suite before fairness ran")
	}
	if _, err := os.Stat(cfg.Output.Dir); !os.IsNotExist(err) {
		t.Errorf("output folder %s: %v; want it not created", cfg.Output.Dir, err)
	}
}
