package engine

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/config"
	"github.com/gauntlet-ml/gauntlet/data"
	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// fixedNow is the injected clock: reports do not depend on the wall clock.
var fixedNow = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

// loadConfig writes a config for the demo model and data with extra YAML
// appended and loads it.
func loadConfig(t *testing.T, extra string, sets ...string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	y := "version: 1\nmodel: " + testutil.Example(t, "digits_cnn.onnx") + "\n" +
		"runtime: {ort_library: " + testutil.ORTLibrary(t) + "}\n" +
		"data: {x: " + testutil.Example(t, "digits_eval_x.npy") + ", y: " + testutil.Example(t, "digits_eval_y.npy") + ", range: [0, 1]}\n" +
		"output: {dir: " + filepath.Join(dir, "out") + "}\n" + extra
	p := filepath.Join(dir, "gauntlet.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{Path: p, Sets: sets, Getenv: func(string) string { return "" }, Environ: func() []string { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestWorkerCountDoesNotChangeResults(t *testing.T) {
	// Batch 7 makes 58 batches, so workers interleave them differently.
	var got []reports.SuiteResult
	for _, w := range []string{"1", "4"} {
		cfg := loadConfig(t, "suites: {accuracy: {}}\n", "runtime.workers="+w, "runtime.batch_size=7", "runtime.intra_op_threads=1")
		rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Environment.Workers != map[string]int{"1": 1, "4": 4}[w] {
			t.Fatalf("workers = %d, want %s", rep.Environment.Workers, w)
		}
		got = append(got, rep.Suites[0])
	}
	if !reflect.DeepEqual(got[0].Metrics, got[1].Metrics) || !reflect.DeepEqual(got[0].Details, got[1].Details) {
		t.Fatalf("workers=1 and workers=4 differ:\n%v\n%v", got[0].Metrics, got[1].Metrics)
	}
	if got[0].Seed != got[1].Seed {
		t.Fatalf("suite seeds differ: %d vs %d", got[0].Seed, got[1].Seed)
	}
}

// fake is a suite whose Run is a function.
type fake struct {
	name string
	run  func(ctx context.Context, t *suite.Target) (*suite.Result, error)
}

func (f fake) Name() string                       { return f.name }
func (f fake) Version() string                    { return "0" }
func (f fake) Decode(map[string]any) (any, error) { return nil, nil }
func (f fake) Metrics(any, int) []string          { return []string{"value"} }
func (f fake) Run(ctx context.Context, t *suite.Target, _ any) (*suite.Result, error) {
	return f.run(ctx, t)
}

func okSuite(name string, v float64) fake {
	return fake{name, func(context.Context, *suite.Target) (*suite.Result, error) {
		r := suite.NewResult()
		r.Set("value", v, true)
		return r, nil
	}}
}

func TestPanickingSuiteBecomesItsError(t *testing.T) {
	table := []suite.Suite{
		fake{"alpha", func(context.Context, *suite.Target) (*suite.Result, error) { panic("boom") }},
		okSuite("beta", 1),
	}
	cfg := loadConfig(t, "suites: {alpha: {}, beta: {}}\ngates: [\"beta.value >= 1\"]\n")
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow, Suites: table})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Suites[0].Status != reports.StatusError || !strings.Contains(rep.Suites[0].Error, "panicked: boom") {
		t.Errorf("alpha = %s %q, want error with the panic", rep.Suites[0].Status, rep.Suites[0].Error)
	}
	if rep.Suites[1].Status != reports.StatusPassed || rep.Suites[1].Metrics["value"] != 1 {
		t.Errorf("beta = %+v, want passed with value 1", rep.Suites[1])
	}
	if rep.ExitCode != errs.SuiteFailed {
		t.Errorf("exit code = %d, want %d", rep.ExitCode, errs.SuiteFailed)
	}
}

func TestGateFailureSetsExitCodeAndStatus(t *testing.T) {
	cfg := loadConfig(t, "suites: {accuracy: {}}\ngates: [\"accuracy.accuracy >= 0.99\", \"accuracy.ece < 0.05\"]\n")
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	// examples/REFERENCE.json: accuracy 0.965, ECE 0.0176.
	if rep.Passed || rep.ExitCode != errs.GateFailed || rep.Suites[0].Status != reports.StatusFailed {
		t.Fatalf("passed=%v exit=%d status=%s, want false 1 failed", rep.Passed, rep.ExitCode, rep.Suites[0].Status)
	}
	if rep.Gates[0].Passed || !rep.Gates[1].Passed || *rep.Gates[0].Value != 0.965 {
		t.Fatalf("gates = %+v", rep.Gates)
	}
}

func TestInterruptMarksRunningAndSkipsTheRest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	table := []suite.Suite{
		okSuite("a", 1),
		fake{"b", func(ctx context.Context, _ *suite.Target) (*suite.Result, error) {
			cancel() // the user presses ^C while b runs
			<-ctx.Done()
			return nil, ctx.Err()
		}},
		okSuite("c", 1),
	}
	cfg := loadConfig(t, "suites: {a: {}, b: {}, c: {}}\n")
	rep, err := Run(ctx, cfg, Options{Now: fixedNow, Suites: table})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{reports.StatusPassed, reports.StatusInterrupted, reports.StatusSkipped}
	for i, s := range rep.Suites {
		if s.Status != want[i] {
			t.Errorf("suite %s status %s, want %s", s.Name, s.Status, want[i])
		}
	}
	if rep.ExitCode != errs.Interrupted || rep.Status != reports.StatusInterrupted {
		t.Errorf("exit=%d status=%s, want 130 interrupted", rep.ExitCode, rep.Status)
	}
}

// TestInterruptDuringSetUpWritesNoReport: a signal before the first suite
// starts (docs/report-schema.md, Status values) ends the run with exit 130,
// no report, and no suite run.
func TestInterruptDuringSetUpWritesNoReport(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	table := []suite.Suite{fake{"a", func(context.Context, *suite.Target) (*suite.Result, error) {
		ran = true
		return suite.NewResult(), nil
	}}}
	cfg := loadConfig(t, "suites: {a: {}}\n")
	rep, err := Run(ctx, cfg, Options{Now: fixedNow, Suites: table})
	if rep != nil || errs.Code(err, 0) != errs.Interrupted || !strings.Contains(err.Error(), "plan the suites") || ran {
		t.Fatalf("report %v, err %v (code %d), suite ran %v; want no report, exit 130 naming the step, nothing run", rep != nil, err, errs.Code(err, 0), ran)
	}
}

func TestConfigErrorsBeforeAnythingRuns(t *testing.T) {
	ran := false
	spy := fake{"spy", func(context.Context, *suite.Target) (*suite.Result, error) { ran = true; return suite.NewResult(), nil }}
	for name, c := range map[string]struct {
		extra, want string
	}{
		"unknown metric": {"suites: {spy: {}}\ngates: [\"spy.valu >= 1\"]\n", "spy.valu"},
		"unknown suite":  {"suites: {spy: {}, nope: {}}\n", "nope"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := loadConfig(t, c.extra)
			rep, err := Run(context.Background(), cfg, Options{Now: fixedNow, Suites: []suite.Suite{spy}})
			if rep != nil || errs.Code(err, -1) != errs.Invalid || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run = %v, %v; want no report and an Invalid error naming %q", rep, err, c.want)
			}
		})
	}
	if ran {
		t.Fatal("a suite ran despite a config error")
	}
}

func TestSuiteInputErrorIsExitTwo(t *testing.T) {
	table := []suite.Suite{fake{"needy", func(context.Context, *suite.Target) (*suite.Result, error) {
		return nil, errs.Invalidf("needs labels")
	}}}
	cfg := loadConfig(t, "suites: {needy: {}}\n")
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow, Suites: table})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ExitCode != errs.Invalid || rep.Suites[0].Status != reports.StatusError {
		t.Fatalf("exit=%d status=%s", rep.ExitCode, rep.Suites[0].Status)
	}
}

// TestAppendSuiteData: files a suite read join data[] as
// <suite>.<role>.<x|y|csv>, each once, after the evaluation data.
func TestAppendSuiteData(t *testing.T) {
	eval := []reports.DataFile{{Role: "x", Path: "/d/x.npy", SHA256: "aa", Rows: 4}}
	members := &data.Dataset{Files: []data.File{{Role: "x", Path: "/d/m.npy", SHA256: "bb", Rows: 2}, {Role: "y", Path: "/d/my.npy", SHA256: "cc", Rows: 2}}}
	var res suite.Result
	res.AddData("members", members)
	res.AddData("members", members) // read twice: recorded once
	res.AddData("none", nil)
	got := appendSuiteData(eval, "membership", res.Data)
	want := []reports.DataFile{
		{Role: "x", Path: "/d/x.npy", SHA256: "aa", Rows: 4},
		{Role: "membership.members.x", Path: "/d/m.npy", SHA256: "bb", Rows: 2},
		{Role: "membership.members.y", Path: "/d/my.npy", SHA256: "cc", Rows: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("data[] = %+v, want %+v", got, want)
	}
}
