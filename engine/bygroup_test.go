package engine

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
)

// adultSets points a loadConfig config at the shipped Adult demo model and
// its evaluation CSV, with no data.keep: the by columns must be kept
// because the suites name them.
func adultSets(t *testing.T) []string {
	return []string{"model=" + testutil.Example(t, "adult/adult_mlp.onnx"), "data.x=", "data.y=",
		"data.csv=" + testutil.Example(t, "adult/adult_eval.csv"), "data.label=label"}
}

// TestByGroupThroughTheEngine runs accuracy and evasion with by: [sex,
// race] on the demo data without data.keep: the columns are kept (and not
// fed), the by-group metrics are in the report, and a gate on one of them
// is accepted at load.
func TestByGroupThroughTheEngine(t *testing.T) {
	cfg := loadConfig(t, "suites:\n"+
		"  accuracy: {by: [sex, race], min_group_size: 30}\n"+
		"  evasion: {attacks: [{name: fgsm, norm: linf, eps: [0.03]}], by: [sex, race]}\n"+
		"gates: [\"evasion.fgsm.linf.eps=0.03.robust_accuracy.gap <= 1\"]\n", adultSets(t)...)
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ExitCode != errs.OK || len(rep.Suites) != 2 {
		t.Fatalf("exit %d, %d suites", rep.ExitCode, len(rep.Suites))
	}
	for _, c := range []struct{ suite, key string }{
		{"accuracy", "accuracy.worst_group"}, {"accuracy", "accuracy.sex.gap"},
		{"evasion", "fgsm.linf.eps=0.03.robust_accuracy.worst_group"}, {"evasion", "clean_accuracy.race.gap"},
	} {
		for _, s := range rep.Suites {
			if s.Name != c.suite {
				continue
			}
			if v, ok := s.Metrics[c.key]; !ok || v < 0 || v > 1 {
				t.Errorf("%s.%s = %v (present %v), want a value in [0, 1]", c.suite, c.key, v, ok)
			}
		}
	}
}

// TestByMissingColumnIsExit2: a by column the data lack is a config error,
// exit code 2, before any suite runs: no report, no output folder, and
// the error names the suite's key and the column.
func TestByMissingColumnIsExit2(t *testing.T) {
	for _, suiteName := range []string{"accuracy", "evasion"} {
		block := "{by: [sex, religion]}"
		if suiteName == "evasion" {
			block = "{attacks: [{name: fgsm, norm: linf, eps: [0.03]}], by: [sex, religion]}"
		}
		// race, the data's other string column, is left out (not fed).
		cfg := loadConfig(t, "suites: {"+suiteName+": "+block+"}\n", append(adultSets(t), "data.exclude=[race]")...)
		rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
		if rep != nil || errs.Code(err, 0) != errs.Invalid {
			t.Fatalf("%s: report %v, error %v; want no report and exit code %d", suiteName, rep != nil, err, errs.Invalid)
		}
		want := "config suites." + suiteName + `.by[1]: column "religion" is not in the CSV data of data`
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q, want it to contain %q", suiteName, err, want)
		}
		if _, err := os.Stat(cfg.Output.Dir); !os.IsNotExist(err) {
			t.Errorf("%s: output folder %s: %v; want it not created", suiteName, cfg.Output.Dir, err)
		}
	}
}

// TestMembershipByMissingColumnIsExit2: membership reads its by columns
// from its members and nonmembers CSVs, loaded when it runs; a missing one
// ends the run with exit code 2 naming the key, the column and the set.
func TestMembershipByMissingColumnIsExit2(t *testing.T) {
	dir := testutil.Example(t, "adult")
	cfg := loadConfig(t, "suites:\n  membership:\n"+
		"    members: {csv: "+dir+"/adult_train.csv, label: label, keep: [sex, race]}\n"+
		"    nonmembers: {csv: "+dir+"/adult_eval.csv, label: label, keep: [sex, race]}\n"+
		"    attacks: [loss]\n    by: [sex, religion]\n", append(adultSets(t), "data.keep=[sex, race]")...)
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
	code := errs.Code(err, 0)
	if rep != nil {
		code = rep.ExitCode
	}
	if code != errs.Invalid {
		t.Fatalf("exit code %d (error %v), want %d", code, err, errs.Invalid)
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if rep != nil && len(rep.Suites) == 1 {
		msg += rep.Suites[0].Error
	}
	if want := `config suites.membership.by[1]: column "religion" is not in the CSV data of suites.membership.members`; !strings.Contains(msg, want) {
		t.Errorf("error %q, want it to contain %q", msg, want)
	}
}
