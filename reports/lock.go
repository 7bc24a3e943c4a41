package reports

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// LockName is the lock file a run holds in its output folder.
const LockName = ".gauntlet.lock"

// DirLock is a held lock on an output folder (LockDir).
type DirLock struct {
	path    string
	f       *os.File
	dir     string
	created bool // LockDir created dir
	stale   bool // a stale lock file was taken over
	// TookOver is the PID of a dead holder whose stale lock was taken
	// over; 0 when the lock file was new.
	TookOver int
}

// LockDir locks the output folder dir for one run, creating dir when it is
// missing: two runs writing to one folder at once would mix their files.
// The lock is the file dir/.gauntlet.lock, created with O_EXCL and holding
// the holder's PID, and flock(2)ed while held, so that the kernel releases
// it when the holder dies however it dies. A lock file that exists while
// its flock is free was left by a dead run (killed by a second ^C or
// SIGKILL): it is taken over, and TookOver names the dead PID. A lock held
// by a live run is errs.Invalid (exit 2) naming the lock file and its PID.
func LockDir(dir string) (*DirLock, error) {
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errs.Invalidf("output folder %s: %w", dir, pathErr(err))
	}
	l := &DirLock{path: filepath.Join(dir, LockName), dir: dir, created: created}
	// A few rounds: a lock released (unlinked) between our open and our
	// flock is retried on the new file.
	for range 8 {
		f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		fresh := err == nil
		if errors.Is(err, os.ErrExist) {
			f, err = os.OpenFile(l.path, os.O_RDWR, 0)
			if errors.Is(err, os.ErrNotExist) {
				continue // released meanwhile
			}
		}
		if err != nil {
			l.removeDir()
			return nil, errs.Invalidf("output folder %s: lock %s: %w", dir, l.path, pathErr(err))
		}
		if !tryLock(f, fresh) {
			pid := readPID(f)
			f.Close()
			if fresh {
				// Another run opened our new file and flocked it first
				// (it took it for stale): it holds the folder.
				pid = 0
			}
			return nil, errs.Invalidf("output folder %s is in use by another gauntlet run (PID %s holds %s); wait for it, or give this run another --out", dir, pidText(pid), l.path)
		}
		// The file we hold must still be the one at the path: a holder
		// that released it unlinked it first.
		if !samePath(f, l.path) {
			f.Close()
			continue
		}
		if !fresh {
			l.stale, l.TookOver = true, readPID(f)
		}
		if err := writePID(f); err != nil {
			os.Remove(l.path)
			f.Close()
			l.removeDir()
			return nil, errs.Invalidf("output folder %s: lock %s: %w", dir, l.path, err)
		}
		l.f = f
		return l, nil
	}
	return nil, errs.Invalidf("output folder %s: lock %s keeps changing hands; another run is using the folder", dir, l.path)
}

// Path is the lock file's path.
func (l *DirLock) Path() string { return l.path }

// StaleNote is the warning for a stale lock taken over, "" when none was.
func (l *DirLock) StaleNote() string {
	if l == nil || !l.stale {
		return ""
	}
	return fmt.Sprintf("took over the stale lock %s left by PID %s, which is no longer running", l.path, pidText(l.TookOver))
}

// Release removes the lock file and frees the lock; when LockDir created
// the output folder and nothing was written to it, the folder is removed
// too, so that a run that wrote nothing leaves nothing behind. Release is
// safe to call more than once.
func (l *DirLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := os.Remove(l.path) // unlink first, so a waiter's flock is on a dead file
	l.f.Close()
	l.f = nil
	l.removeDir()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove lock %s: %w", l.path, err)
	}
	return nil
}

// removeDir removes the output folder when LockDir created it and it is
// empty (os.Remove refuses a folder with files).
func (l *DirLock) removeDir() {
	if l.created {
		os.Remove(l.dir)
	}
}

func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

func pidText(pid int) string {
	if pid <= 0 {
		return "unknown"
	}
	return strconv.Itoa(pid)
}

// samePath reports whether f is the file at path now.
func samePath(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
