//go:build unix

package clientapp

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// clientRunning reports whether a client holds the lock of the state dir (the engine
// takes an exclusive flock on .syncspace/lock for as long as it runs). The probe is a
// shared, non-blocking lock released at once.
func clientRunning(stateDir string) (running, known bool) {
	f, err := os.Open(filepath.Join(stateDir, "lock"))
	if err != nil {
		return false, errors.Is(err, os.ErrNotExist)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, true
}
