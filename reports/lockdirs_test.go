package reports

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// TestLockDirsLocksEveryFolderOnce: a run writing to out and to a report
// folder elsewhere (output.paths) holds both folders' locks; a second run
// writing to another out but the same report folder is refused, exit 2,
// naming that folder's lock and this process's PID, and the folder it had
// locked and created first is released and removed. The same folder given
// twice, or by another spelling or a symbolic link, is locked once.
func TestLockDirsLocksEveryFolderOnce(t *testing.T) {
	dir := t.TempDir()
	out, shared, other := filepath.Join(dir, "out"), filepath.Join(dir, "shared"), filepath.Join(dir, "other")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, filepath.Join(dir, "alias")); err != nil {
		t.Fatal(err)
	}
	ls, err := LockDirs(out, shared, shared+"/.", filepath.Join(dir, "alias"), out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Path() != filepath.Join(out, LockName) || ls[1].Path() != filepath.Join(shared, LockName) {
		t.Fatalf("locks %v, want out's and shared's", ls)
	}
	_, err = LockDirs(other, shared)
	want := filepath.Join(shared, LockName)
	if errs.Code(err, 0) != errs.Invalid || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "PID "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second run: %v, want exit 2 naming %s and PID %d", err, want, os.Getpid())
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused run left %s (err %v)", other, err)
	}
	if err := ls.Release(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(out, LockName), want} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Release (err %v)", p, err)
		}
	}
	if _, err := os.Stat(shared); err != nil {
		t.Errorf("a folder that existed before was removed: %v", err)
	}
	ls, err = LockDirs(other, shared)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	ls.Release()
}
