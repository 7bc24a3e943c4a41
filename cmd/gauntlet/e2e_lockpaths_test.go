package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// pathsConfig writes a config whose JSON report goes to shared/run.json
// (output.paths) while the other formats stay in output.dir.
func pathsConfig(t *testing.T, dir, suite, shared string) string {
	t.Helper()
	cfg := filepath.Join(dir, suite+".yaml")
	y := testutil.SuiteConfigs(t)[suite] + "runtime: {workers: 1}\n" +
		"output: {formats: [json, markdown, junit], paths: {json: " + filepath.Join(shared, "run.json") + "}}\n"
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// checkSharedReport checks that shared/run.json is one whole report that
// validates, with status completed, and that no lock or temporary file is
// left in shared.
func checkSharedReport(t *testing.T, shared string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(shared, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.ValidateJSON(b); err != nil {
		t.Errorf("%s/run.json does not validate: %v", shared, err)
	}
	r, err := reports.ParseReport(b)
	if err != nil || r.Status != "completed" {
		t.Errorf("%s/run.json: %v, status %v", shared, err, r != nil && r.Status == "completed")
	}
	if bad := leftovers(t, shared); len(bad) > 0 {
		t.Errorf("left in %s: %v", shared, bad)
	}
}

// TestSecondRunOnTheSameReportPathExitsTwo: output.paths sends the JSON
// report of two runs with different output folders to one file. While the
// first run holds the lock of that file's folder, the second exits 2
// naming that lock file and the first run's PID, and writes nothing (its
// own output folder, which it created, is removed); the first finishes and
// leaves whole reports in both folders.
func TestSecondRunOnTheSameReportPathExitsTwo(t *testing.T) {
	lib := testutil.ORTLibrary(t)
	dir := t.TempDir()
	shared := filepath.Join(dir, "shared")
	// The membership config runs for seconds: long enough to hold the lock.
	cfg := pathsConfig(t, dir, "membership", shared)
	outA, outB := filepath.Join(dir, "outA"), filepath.Join(dir, "outB")
	a := start(t, "run", "-c", cfg, "--out", outA, "--ort-library", lib, "--progress", "none")
	lock := filepath.Join(shared, reports.LockName)
	for deadline := time.Now().Add(60 * time.Second); ; {
		if _, err := os.Stat(lock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first run made no lock file in the report's folder in 60 s")
		}
		time.Sleep(time.Millisecond)
	}
	b := start(t, "run", "-c", cfg, "--out", outB, "--ort-library", lib, "--progress", "none")
	codeB := b.wait(t, time.Minute)
	codeA := a.wait(t, 5*time.Minute)
	if codeB != 2 || !strings.Contains(b.stderr.String(), lock) || !strings.Contains(b.stderr.String(), "PID "+strconv.Itoa(a.cmd.Process.Pid)) {
		t.Errorf("second run: exit %d, want 2 naming %s and PID %d\n%s", codeB, lock, a.cmd.Process.Pid, b.stderr.String())
	}
	if codeA != 0 {
		t.Fatalf("first run: exit %d\n%s", codeA, a.stderr.String())
	}
	if _, err := os.Stat(outB); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused run left its output folder %s (err %v)", outB, err)
	}
	checkSharedReport(t, shared)
	for _, f := range []string{"report.md", "report.junit.xml"} {
		if _, err := os.Stat(filepath.Join(outA, f)); err != nil {
			t.Error(err)
		}
	}
	if bad := leftovers(t, outA); len(bad) > 0 {
		t.Errorf("left in %s: %v", outA, bad)
	}
}

// TestConcurrentRunsOnOneReportPathNeverInterleave starts two runs with
// different output folders and one output.paths JSON file at the same
// moment, three times: either both succeed (one after the other) or one
// exits 2 naming the report folder's lock and the other succeeds; the
// shared JSON report is whole and validates, and no lock or temporary
// file is left.
func TestConcurrentRunsOnOneReportPathNeverInterleave(t *testing.T) {
	lib := testutil.ORTLibrary(t)
	dir := t.TempDir()
	locked := 0
	for i := range 3 {
		shared := filepath.Join(dir, fmt.Sprintf("shared%d", i))
		cfg := pathsConfig(t, dir, "accuracy", shared)
		a := start(t, "run", "-c", cfg, "--out", filepath.Join(dir, fmt.Sprintf("a%d", i)), "--ort-library", lib, "--progress", "none")
		b := start(t, "run", "-c", cfg, "--out", filepath.Join(dir, fmt.Sprintf("b%d", i)), "--ort-library", lib, "--progress", "none")
		ca, cb := a.wait(t, 2*time.Minute), b.wait(t, 2*time.Minute)
		for _, r := range []struct {
			s    *started
			code int
		}{{a, ca}, {b, cb}} {
			switch {
			case r.code == 2 && strings.Contains(r.s.stderr.String(), reports.LockName):
				locked++
			case r.code != 0:
				t.Errorf("pair %d: exit %d\n%s", i, r.code, r.s.stderr.String())
			}
		}
		if ca == 2 && cb == 2 {
			t.Errorf("pair %d: both runs refused", i)
		}
		checkSharedReport(t, shared)
	}
	t.Logf("3 pairs of concurrent runs on one report path: %d refused with the lock", locked)
}
