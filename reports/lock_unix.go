//go:build unix

package reports

import (
	"os"
	"syscall"
)

// tryLock takes f's flock(2) without waiting; false when another process
// holds it. The kernel drops the flock when its holder exits, so a lock
// file whose flock is free was left by a dead run.
func tryLock(f *os.File, _ bool) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
