package reports

import (
	"fmt"
	"path/filepath"
	"strings"
)

// DirLocks are the locks a run holds on every folder it writes reports to
// (LockDirs).
type DirLocks []*DirLock

// LockDirs locks every folder a run writes reports to: output.dir and the
// folder of each output.paths entry, so that two runs writing the same
// report path at once are refused like two runs on one output folder. Each
// folder is locked once (LockDir), in the order given; folders that are
// the same after cleaning, making absolute and resolving symbolic links are
// one. When a folder is in use, the locks already taken are released and
// the error of LockDir (errs.Invalid, exit 2, naming that folder's lock
// file and its holder's PID) is returned.
func LockDirs(dirs ...string) (DirLocks, error) {
	return LockNamedDirs(nil, dirs)
}

// LockNamedDirs is LockDirs with a name for each folder (the config key
// that put it there, e.g. "output.paths.junit"): the error of a folder
// that cannot be locked is wrapped with its name. names may be nil or
// shorter than dirs; a folder without a name is reported as LockDirs does.
func LockNamedDirs(names, dirs []string) (DirLocks, error) {
	var ls DirLocks
	seen := map[string]bool{}
	for i, d := range dirs {
		key := sameDirKey(d)
		if seen[key] {
			continue
		}
		seen[key] = true
		l, err := LockDir(d)
		if err != nil {
			ls.Release()
			if i < len(names) && names[i] != "" {
				err = fmt.Errorf("%s: %w", names[i], err)
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// sameDirKey names dir so that two spellings of one folder are equal: its
// absolute, cleaned path with symbolic links resolved where it exists.
func sameDirKey(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return filepath.Clean(dir)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// Release releases every lock, the last taken first (DirLock.Release),
// and returns the first error. It is safe to call more than once.
func (ls DirLocks) Release() error {
	var first error
	for i := len(ls) - 1; i >= 0; i-- {
		if err := ls[i].Release(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// StaleNote is the warnings for stale locks taken over, joined with "; ",
// "" when none was.
func (ls DirLocks) StaleNote() string {
	var notes []string
	for _, l := range ls {
		if n := l.StaleNote(); n != "" {
			notes = append(notes, n)
		}
	}
	return strings.Join(notes, "; ")
}
