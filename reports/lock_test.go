package reports

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

func TestLockDirExcludesASecondHolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	l, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, LockName))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q (%v), want this PID %d", b, err, os.Getpid())
	}
	if l.StaleNote() != "" {
		t.Errorf("fresh lock says %q", l.StaleNote())
	}
	// flock(2) is per open file: a second LockDir in this process is a
	// second holder, as another run would be.
	_, err = LockDir(dir)
	if err == nil || errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), LockName) ||
		!strings.Contains(err.Error(), "PID "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v, want exit 2 naming %s and PID %d", err, LockName, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the folder LockDir created is still there, empty (%v)", err)
	}
	// Released: the folder can be locked again, and a folder with files
	// is kept on release.
	l, err = LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "report.json"), []byte("{}"), 0o644)
	l.Release()
	l.Release() // twice is harmless
	names, _ := os.ReadDir(dir)
	if len(names) != 1 || names[0].Name() != "report.json" {
		t.Errorf("after release the folder holds %v, want report.json only", names)
	}
}

func TestLockDirTakesOverAStaleLock(t *testing.T) {
	// A PID that is certainly dead: a child that has exited and been
	// reaped. Its lock file has no flock, as after a SIGKILL.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("no true(1) to make a dead PID: %v", err)
	}
	dead := cmd.ProcessState.Pid()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, LockName), []byte(strconv.Itoa(dead)+"\n"), 0o644)
	l, err := LockDir(dir)
	if err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	defer l.Release()
	if l.TookOver != dead || !strings.Contains(l.StaleNote(), "PID "+strconv.Itoa(dead)) {
		t.Errorf("took over %d, note %q; want PID %d", l.TookOver, l.StaleNote(), dead)
	}
	b, _ := os.ReadFile(filepath.Join(dir, LockName))
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q after take-over, want this PID", b)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("a folder LockDir did not create must stay: %v", err)
	}
}
