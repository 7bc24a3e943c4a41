package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
	"github.com/gauntlet-ml/gauntlet/reports"
	"github.com/gauntlet-ml/gauntlet/suite"
)

// TestMaxMemoryRefusesABatchSizeThatDoesNotFit: the digits CNN takes
// 1×8×8 = 64 values per sample and gives 10 class scores
// (examples/README.md), so one sample's tensors are (64 + 10) × 4 = 296
// bytes and one worker's batch of 256 is 75,776 bytes (74 KiB exactly).
// 64 KiB (65,536 bytes) holds 221 samples (65,536 / 296 = 221.4).
func TestMaxMemoryRefusesABatchSizeThatDoesNotFit(t *testing.T) {
	cfg := loadConfig(t, "suites: {accuracy: {}}\n", "runtime.workers=1", "runtime.batch_size=256", "runtime.max_memory=64KiB")
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow})
	if rep != nil || errs.Code(err, 0) != errs.Invalid {
		t.Fatalf("report %v, err %v; want exit 2 and no report", rep != nil, err)
	}
	for _, want := range []string{"runtime.max_memory 64KiB (65536 bytes)", "75776 bytes (74.0 KiB)", "1 workers × batch 256 × (64 input + 10 output values) × 4 bytes", "runtime.batch_size to 221 or less"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Exactly the estimate fits; two workers need twice as much.
	cfg = loadConfig(t, "suites: {accuracy: {}}\n", "runtime.workers=1", "runtime.batch_size=256", "runtime.max_memory=74KiB")
	if _, err := Run(context.Background(), cfg, Options{Now: fixedNow}); err != nil {
		t.Fatalf("74 KiB: %v", err)
	}
	cfg = loadConfig(t, "suites: {accuracy: {}}\n", "runtime.workers=2", "runtime.batch_size=256", "runtime.max_memory=74KiB")
	if _, err := Run(context.Background(), cfg, Options{Now: fixedNow}); errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), "151552 bytes") {
		t.Fatalf("2 workers in 74 KiB: %v, want exit 2 estimating 151552 bytes", err)
	}
}

// TestTimeoutStopsTheSuiteAndKeepsItsPartialFigures: a suite still running
// at runtime.timeout is stopped through its context, reported timed_out
// with the figures it returned along with its error, and the run exits 3;
// the next suite gets its own full timeout and passes.
func TestTimeoutStopsTheSuiteAndKeepsItsPartialFigures(t *testing.T) {
	table := []suite.Suite{
		fake{"slow", func(ctx context.Context, _ *suite.Target) (*suite.Result, error) {
			r := suite.NewResult()
			r.Set("value", 0.5, true) // the part finished before the deadline
			<-ctx.Done()
			return r, ctx.Err()
		}},
		okSuite("fast", 1),
	}
	cfg := loadConfig(t, "suites: {slow: {}, fast: {}}\ngates: [\"slow.value >= 0.1\"]\n", "runtime.timeout=50ms")
	rep, err := Run(context.Background(), cfg, Options{Now: fixedNow, Suites: table})
	if err != nil {
		t.Fatal(err)
	}
	slow, fast := rep.Suites[0], rep.Suites[1]
	if slow.Status != reports.StatusTimedOut || slow.Metrics["value"] != 0.5 || !strings.Contains(slow.Error, "runtime.timeout 50ms") || slow.Details["timeout_s"] != 0.05 {
		t.Errorf("slow: %+v; want timed_out with value 0.5 and the timeout", slow)
	}
	if fast.Status != reports.StatusPassed {
		t.Errorf("fast: %s, want passed", fast.Status)
	}
	if rep.ExitCode != errs.SuiteFailed || rep.Status != "completed" {
		t.Errorf("exit %d status %s, want 3 completed", rep.ExitCode, rep.Status)
	}
	if g := rep.Gates[0]; g.Passed || !strings.Contains(g.Reason, "timed out") {
		t.Errorf("gate on a timed-out suite: %+v, want failed saying so", g)
	}
	b, err := reports.MarshalJSON(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.ValidateJSON(b); err != nil {
		t.Errorf("report with a timed_out suite: %v", err)
	}
}
