package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// TestSuiteTimeout: runtime.timeout 300ms on the membership suite (its
// uninterrupted run takes seconds: the shadow and learned attacks over
// 3,000 Adult rows) stops it: exit 3, the suite timed_out in a report that
// validates, the run's other formats written, and no lock or temporary
// file left.
func TestSuiteTimeout(t *testing.T) {
	y := testutil.SuiteConfigs(t)["membership"] + "runtime: {workers: 1, timeout: 300ms}\n" + allFormats
	began := time.Now()
	r := run(t, y)
	took := time.Since(began)
	if r.code != 3 || !strings.Contains(r.stderr, "timed out after runtime.timeout 300ms") {
		t.Fatalf("exit %d, want 3 saying the suite timed out\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	rep := readReport(t, r.out)
	if s := rep.Suites[0]; s.Status != reports.StatusTimedOut || rep.ExitCode != 3 {
		t.Errorf("suite %s, report exit %d; want timed_out, 3", s.Status, rep.ExitCode)
	}
	if _, err := os.Stat(r.out + "/report.junit.xml"); err != nil {
		t.Error(err)
	}
	if bad := leftovers(t, r.out); len(bad) > 0 {
		t.Errorf("left %v", bad)
	}
	t.Logf("a 300 ms timeout ended the run in %v", took)
}

// TestMaxMemoryRefusedAtPlanTime: runtime.max_memory below the tensors of
// one batch is exit 2 before any suite runs, naming the key and the
// estimate, with no report and no output folder: the Adult MLP takes 47
// features and gives 2 scores per row (examples/adult/make_adult.py), so
// one worker's batch of 256 is 256 × 49 × 4 = 50,176 bytes, above 48 KiB
// (49,152).
func TestMaxMemoryRefusedAtPlanTime(t *testing.T) {
	y := testutil.SuiteConfigs(t)["accuracy"] + "runtime: {workers: 1, batch_size: 256, max_memory: 48KiB}\n"
	r := run(t, y)
	if r.code != 2 || !strings.Contains(r.stderr, "runtime.max_memory 48KiB") || !strings.Contains(r.stderr, "50176 bytes") {
		t.Fatalf("exit %d, want 2 naming runtime.max_memory and the estimate 50176 bytes\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(r.out); !os.IsNotExist(err) {
		t.Errorf("output folder %s exists after a refused config (%v)", r.out, err)
	}
}
