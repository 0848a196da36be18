package clientapp

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/syncspace/syncspace/sync/fsys"
)

// clientRunning reports whether a client holds the lock of the state dir (the engine
// takes an exclusive lock on .syncspace/lock for as long as it runs: flock, LockFileEx
// on Windows), by a probe that takes a shared lock and releases it at once (known is
// false when the probe fails).
func clientRunning(stateDir string) (running, known bool) {
	f, err := os.Open(filepath.Join(stateDir, "lock"))
	if err != nil {
		return false, errors.Is(err, os.ErrNotExist)
	}
	defer f.Close()
	held, err := fsys.LockHeld(f)
	if err != nil {
		return false, false
	}
	return held, true
}
