package engine

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/suite"
	"github.com/gauntlet-ml/gauntlet/suites/fairness"
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

// TestSensitiveColumnsKeptWithoutDataKeep runs the fairness suite on the
// shipped Adult demo data with `sensitive: [sex]` and no data.keep: the
// column a suite names is kept as if listed there (and, like a keep
// column, not fed to the model). The data's other string column, race,
// is left out with data.exclude. The row count is the CSV's, counted here.
func TestSensitiveColumnsKeptWithoutDataKeep(t *testing.T) {
	csvPath := testutil.Example(t, "adult/adult_eval.csv")
	cfg := loadConfig(t, "suites: {fairness: {sensitive: [sex]}}\n",
		"model="+testutil.Example(t, "adult/adult_mlp.onnx"), "data.x=", "data.y=", "data.csv="+csvPath, "data.label=label", "data.exclude=[race]")
	if len(cfg.Data.Keep) != 0 {
		t.Fatalf("data.keep = %v, want it unset", cfg.Data.Keep)
	}
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ExitCode != errs.OK || len(rep.Suites) != 1 || rep.Suites[0].Status != "passed" {
		t.Fatalf("exit %d, suites %+v", rep.ExitCode, rep.Suites)
	}
	b, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	rows := len(strings.Split(strings.TrimSpace(string(b)), "\n")) - 1
	sr := rep.Suites[0]
	if n := fmt.Sprint(sr.Details["samples"]); n != fmt.Sprint(rows) {
		t.Errorf("details.samples = %v, want %d (rows of the CSV)", sr.Details["samples"], rows)
	}
	if attrs, _ := sr.Details["attributes"].(map[string]any); attrs["sex"] == nil {
		t.Errorf("details.attributes has no sex: %v", sr.Details["attributes"])
	}
	if v, ok := sr.Metrics["sex.demographic_parity_difference"]; !ok || v < 0 || v > 1 {
		t.Errorf("sex.demographic_parity_difference = %v (defined %v), want a value in [0, 1]", v, ok)
	}
}
