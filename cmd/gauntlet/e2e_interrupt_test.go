package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gauntlet-ml/gauntlet/internal/testutil"
	"github.com/gauntlet-ml/gauntlet/registry"
	"github.com/gauntlet-ml/gauntlet/reports"
)

// Interruption and concurrency (issue 18, item 3), through the built binary.

// allFormats are the report formats the harness writes, so that every
// writer's temporary file is in play when a signal lands.
const allFormats = "output: {formats: [json, markdown, junit, sarif, html]}\n"

// interruptTrials is the number of signals per suite: 20 under CI=true or
// GAUNTLET_INTERRUPT_TRIALS=N, 3 otherwise (each trial is one run).
func interruptTrials(t *testing.T) int {
	if s := os.Getenv("GAUNTLET_INTERRUPT_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("GAUNTLET_INTERRUPT_TRIALS=%q: want a positive count", s)
		}
		return n
	}
	if testutil.CI() {
		return 20
	}
	return 3
}

// started is a running binary.
type started struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr *watch
	began  time.Time
}

// watch collects a stream and closes seen when it first holds marker
// ("gauntlet: suite NAME started", from --progress plain), and ended when
// it first holds end ("gauntlet: suite NAME passed in").
type watch struct {
	mu          sync.Mutex
	buf         bytes.Buffer
	marker, end []byte
	seen, ended chan struct{}
	once, once2 sync.Once
}

func (w *watch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if len(w.marker) > 0 && bytes.Contains(w.buf.Bytes(), w.marker) {
		w.once.Do(func() { close(w.seen) })
	}
	if len(w.end) > 0 && bytes.Contains(w.buf.Bytes(), w.end) {
		w.once2.Do(func() { close(w.ended) })
	}
	return len(p), nil
}

func (w *watch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func start(t *testing.T, args ...string) *started { return startWatching(t, "", args...) }

// startWatching starts the binary and watches its stderr for marker.
func startWatching(t *testing.T, marker string, args ...string) *started {
	t.Helper()
	end := strings.Replace(marker, " started", " passed in", 1)
	s := &started{cmd: exec.Command(binary, args...), stderr: &watch{marker: []byte(marker), end: []byte(end),
		seen: make(chan struct{}), ended: make(chan struct{})}}
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, s.stderr
	s.cmd.Env = cleanEnv()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.began = time.Now()
	return s
}

// waitReady waits until the process has loaded ONNX Runtime (its
// /proc/PID/maps names the library): by then `run` has installed its
// SIGINT/SIGTERM handler, which it does before reading the config. A
// signal in the first milliseconds of a process, before any Go code of
// Gauntlet runs, kills it as it kills any program; the harness does not
// test the kernel. Without /proc it waits 300 ms.
func (s *started) waitReady(t *testing.T) bool {
	t.Helper()
	maps := fmt.Sprintf("/proc/%d/maps", s.cmd.Process.Pid)
	if _, err := os.Stat("/proc/self/maps"); err != nil {
		time.Sleep(300 * time.Millisecond)
		return true
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(maps)
		if err != nil {
			return false // exited
		}
		if bytes.Contains(b, []byte("libonnxruntime")) {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("process %d did not load ONNX Runtime in 60 s", s.cmd.Process.Pid)
	return false
}

// wait waits for the process, at most limit, and returns its exit code.
func (s *started) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(limit):
		s.cmd.Process.Kill()
		<-done
		t.Fatalf("process did not exit within %v\nstderr:\n%s", limit, s.stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("process killed by %v instead of exiting\nstderr:\n%s", ws.Signal(), s.stderr.String())
		}
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

// leftovers lists what a run must never leave in its output folder: the
// atomic writers' temporary and kept-aside files (.<name>.tmp-*,
// .<name>.prev-*), the writability probe (.gauntlet-probe-*) and the lock.
func leftovers(t *testing.T, out string) []string {
	t.Helper()
	var bad []string
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				bad = append(bad, p+": "+err.Error())
			}
			return nil
		}
		n := d.Name()
		if strings.Contains(n, ".tmp-") || strings.Contains(n, ".prev-") || strings.HasPrefix(n, ".gauntlet") {
			bad = append(bad, p)
		}
		return nil
	})
	return bad
}

// outcome is how one interrupted run ended.
type outcome int

const (
	interruptedReport outcome = iota // exit 130, report says interrupted
	noReport                         // exit 130 before any suite started, no report
	completedFirst                   // the run had finished its suites: complete report, normal exit
	outcomes
)

var outcomeNames = [outcomes]string{"interrupted report", "no report (set-up)", "completed first"}

// checkInterrupted checks one run that got a signal and classifies it.
func checkInterrupted(t *testing.T, s *started, code int, out string, wantCode int) outcome {
	t.Helper()
	if bad := leftovers(t, out); len(bad) > 0 {
		t.Errorf("left in the output folder: %v", bad)
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	if errors.Is(err, fs.ErrNotExist) {
		if code != 130 || !strings.Contains(s.stderr.String(), "interrupted before any suite ran") {
			t.Errorf("no report, exit %d; want exit 130 saying it stopped before any suite\nstderr:\n%s", code, s.stderr.String())
		}
		if entries, _ := os.ReadDir(out); len(entries) > 0 {
			t.Errorf("no report but the output folder holds %d entries", len(entries))
		}
		return noReport
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.ValidateJSON(b); err != nil {
		t.Errorf("report does not validate against the schema: %v", err)
	}
	rep := readReport(t, out)
	for _, f := range []string{"report.md", "report.junit.xml", "report.sarif", "report.html"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("report.json written but not %s: %v", f, err)
		}
	}
	if rep.ExitCode != code {
		t.Errorf("exit %d, report says %d", code, rep.ExitCode)
	}
	if rep.Status == reports.StatusInterrupted {
		if code != 130 {
			t.Errorf("interrupted report, exit %d; want 130", code)
		}
		for _, sr := range rep.Suites {
			if sr.Status != reports.StatusInterrupted && sr.Status != reports.StatusSkipped {
				t.Errorf("suite %s is %s in an interrupted one-suite run", sr.Name, sr.Status)
			}
		}
		return interruptedReport
	}
	// The signal came once the suites were done (while the report was
	// written, or after the exit): the report is complete and true.
	if rep.Status != "completed" || code != wantCode {
		t.Errorf("report status %s, exit %d; want interrupted (130) or, after the last suite, completed (%d)", rep.Status, code, wantCode)
	}
	return completedFirst
}

// TestInterruptEverySuite sends SIGINT and SIGTERM at seeded random points
// of a run of each suite (testutil.SuiteConfigs, one worker, batch 16
// (accuracy, fairness: 1), every report format) and checks each run: exit 130 with a
// report that validates against the JSON Schema and says interrupted, or,
// when the signal landed before the first suite started, exit 130 and no
// report (docs/report-schema.md); and never a temporary, kept-aside or lock
// file left in the output folder. An uninterrupted run of the same config
// is timed first, in two phases: set-up (from the moment ONNX Runtime is
// loaded to the "suite started" line) and the suite (from that line to the
// "suite passed" line; a signal after it, while the reports are written,
// leaves a complete report and the normal exit code). Even trials draw their point uniformly over the
// set-up, odd ones over the suite; trials 0, 1 send SIGINT, 2, 3 SIGTERM,
// and so on.
func TestInterruptEverySuite(t *testing.T) {
	lib := testutil.ORTLibrary(t)
	configs := testutil.SuiteConfigs(t)
	names := registry.Names()
	trials := interruptTrials(t)
	rng := rand.New(rand.NewPCG(18, 3)) // issue 18, item 3
	var total [outcomes]int
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "g.yaml")
			batch := 16
			if name == "accuracy" || name == "fairness" {
				// A thousand runs (fairness: and its flip test's
				// thousand): long enough for a signal to land inside.
				batch = 1
			}
			y := configs[name] + fmt.Sprintf("runtime: {workers: 1, batch_size: %d}\n", batch) + allFormats
			if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
				t.Fatal(err)
			}
			args := func(out string) []string {
				return []string{"run", "-c", cfg, "--out", out, "--ort-library", lib, "--progress", "plain"}
			}
			marker := "gauntlet: suite " + name + " started"
			out := filepath.Join(dir, "base")
			s := startWatching(t, marker, args(out)...)
			if !s.waitReady(t) {
				t.Fatalf("baseline exited before loading ONNX Runtime:\n%s", s.stderr.String())
			}
			ready := time.Now()
			<-s.stderr.seen
			setup := time.Since(ready)
			<-s.stderr.ended
			inSuite := time.Since(ready) - setup
			base := s.wait(t, 5*time.Minute)
			if base != 0 {
				t.Fatalf("uninterrupted run: exit %d\n%s", base, s.stderr.String())
			}
			if bad := leftovers(t, out); len(bad) > 0 {
				t.Errorf("uninterrupted run left %v", bad)
			}
			var got [outcomes]int
			for i := range trials {
				sig := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}[(i/2)%2]
				phase, d := "set-up", setup
				if i%2 == 1 {
					phase, d = "suite", inSuite
				}
				delay := time.Duration(rng.Float64() * float64(d))
				out := filepath.Join(dir, fmt.Sprintf("t%02d", i))
				s := startWatching(t, marker, args(out)...)
				if s.waitReady(t) {
					if phase == "suite" {
						select {
						case <-s.stderr.seen:
						case <-time.After(2 * time.Minute):
						}
					}
					time.Sleep(delay)
					s.cmd.Process.Signal(sig)
				}
				code := s.wait(t, 2*time.Minute)
				o := checkInterrupted(t, s, code, out, base)
				got[o]++
				t.Logf("trial %2d: %-9v %6.0f ms into the %-6s (%6.0f ms): exit %3d, %s", i, sig, delay.Seconds()*1e3, phase, d.Seconds()*1e3, code, outcomeNames[o])
			}
			t.Logf("%s: %d trials: %d interrupted report, %d no report (set-up), %d completed first", name, trials, got[interruptedReport], got[noReport], got[completedFirst])
			for o := range got {
				total[o] += got[o]
			}
		})
	}
	t.Logf("all suites: %d × %d trials: %d interrupted report, %d no report (set-up), %d completed first",
		len(names), trials, total[interruptedReport], total[noReport], total[completedFirst])
	if trials >= 20 && total[interruptedReport] == 0 {
		t.Errorf("no signal landed inside a suite in %d trials: the harness tests nothing", len(names)*trials)
	}
}

// TestSecondRunOnTheSameFolderExitsTwo: while one run holds the output
// folder, a second run on it exits 2 naming the lock file and the holder's
// PID, and writes nothing; the first finishes with whole reports and
// removes its lock.
func TestSecondRunOnTheSameFolderExitsTwo(t *testing.T) {
	lib := testutil.ORTLibrary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "g.yaml")
	// The membership config runs for seconds: long enough to hold the lock.
	os.WriteFile(cfg, []byte(testutil.SuiteConfigs(t)["membership"]+"runtime: {workers: 1}\n"+allFormats), 0o644)
	out := filepath.Join(dir, "out")
	args := []string{"run", "-c", cfg, "--out", out, "--ort-library", lib, "--progress", "none"}
	a := start(t, args...)
	lock := filepath.Join(out, reports.LockName)
	for deadline := time.Now().Add(60 * time.Second); ; {
		if _, err := os.Stat(lock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first run made no lock file in 60 s")
		}
		time.Sleep(time.Millisecond)
	}
	b := start(t, args...)
	codeB := b.wait(t, time.Minute)
	codeA := a.wait(t, 5*time.Minute)
	if codeB != 2 || !strings.Contains(b.stderr.String(), lock) || !strings.Contains(b.stderr.String(), "PID "+strconv.Itoa(a.cmd.Process.Pid)) {
		t.Errorf("second run: exit %d, want 2 naming %s and PID %d\n%s", codeB, lock, a.cmd.Process.Pid, b.stderr.String())
	}
	if codeA != 0 {
		t.Fatalf("first run: exit %d\n%s", codeA, a.stderr.String())
	}
	rep := readReport(t, out)
	if rep.Status != "completed" || len(rep.Suites) != 1 || rep.Suites[0].Status != reports.StatusPassed {
		t.Errorf("first run's report: %s, %+v", rep.Status, rep.Suites)
	}
	if bad := leftovers(t, out); len(bad) > 0 {
		t.Errorf("left in the output folder: %v", bad)
	}
}

// TestConcurrentRunsNeverInterleave starts two runs on one output folder at
// the same moment, several times: either both succeed (one after the
// other) with whole reports, or one exits 2 naming the lock and the other
// succeeds; every format is there, the JSON report validates, and no
// temporary or lock file is left.
func TestConcurrentRunsNeverInterleave(t *testing.T) {
	lib := testutil.ORTLibrary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "g.yaml")
	os.WriteFile(cfg, []byte(testutil.SuiteConfigs(t)["accuracy"]+"runtime: {workers: 1}\n"+allFormats), 0o644)
	locked := 0
	for i := range 4 {
		out := filepath.Join(dir, fmt.Sprintf("out%d", i))
		args := []string{"run", "-c", cfg, "--out", out, "--ort-library", lib, "--progress", "none"}
		a, b := start(t, args...), start(t, args...)
		ca, cb := a.wait(t, 2*time.Minute), b.wait(t, 2*time.Minute)
		for _, r := range []struct {
			s    *started
			code int
		}{{a, ca}, {b, cb}} {
			switch {
			case r.code == 2 && strings.Contains(r.s.stderr.String(), reports.LockName):
				locked++
			case r.code != 0:
				t.Errorf("run %d: exit %d\n%s", i, r.code, r.s.stderr.String())
			}
		}
		if ca == 2 && cb == 2 {
			t.Errorf("run %d: both runs refused", i)
		}
		if rep := readReport(t, out); rep.Status != "completed" {
			t.Fatalf("run %d: status %s", i, rep.Status)
		}
		for _, f := range []string{"report.md", "report.junit.xml", "report.sarif", "report.html"} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("run %d: %v", i, err)
			}
		}
		if bad := leftovers(t, out); len(bad) > 0 {
			t.Errorf("run %d left %v", i, bad)
		}
	}
	t.Logf("4 pairs of concurrent runs: %d refused with the lock", locked)
}

// TestStaleLockIsTakenOver: a lock file left by a dead run (a second ^C, a
// SIGKILL) does not block the folder; the run takes it over and says so.
func TestStaleLockIsTakenOver(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	pid := dead.ProcessState.Pid()
	r := func() result {
		dir := t.TempDir()
		out := filepath.Join(dir, "out")
		os.MkdirAll(out, 0o755)
		os.WriteFile(filepath.Join(out, reports.LockName), []byte(strconv.Itoa(pid)+"\n"), 0o644)
		cfg := filepath.Join(dir, "g.yaml")
		os.WriteFile(cfg, []byte(demo(t, nil)), 0o644)
		return runArgs(t, []string{"run", "-c", cfg, "--out", out, "--ort-library", testutil.ORTLibrary(t)}, out)
	}()
	want := "took over the stale lock"
	if r.code != 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "PID "+strconv.Itoa(pid)) {
		t.Fatalf("exit %d, want 0 with a warning %q naming PID %d\n%s", r.code, want, pid, r.stderr)
	}
	rep := readReport(t, r.out)
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), want) {
		t.Errorf("report warnings %q lack %q", rep.Warnings, want)
	}
	if bad := leftovers(t, r.out); len(bad) > 0 {
		t.Errorf("left %v", bad)
	}
}
