//go:build unix

package rootblobs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHashStableFIFOSwappedIn checks that HashStable (the watcher's hash of a file
// placed by hand) never blocks when a FIFO replaces the regular file between its
// lstat and its open: opening a FIFO with no writer waits forever, which would stall
// the tenant's watcher for good.
func TestHashStableFIFOSwappedIn(t *testing.T) {
	_, tn := openT(t)
	dir := tn.WatchRoot()
	target := filepath.Join(dir, "f")
	stop := make(chan struct{})
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tmp := filepath.Join(dir, "swap")
			var err error
			if i%2 == 0 {
				err = os.WriteFile(tmp, []byte("regular"), 0o600)
			} else {
				err = syscall.Mkfifo(tmp, 0o600)
			}
			if err == nil {
				err = os.Rename(tmp, target)
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
			tn.HashStable("f") // errors are expected: only a hang fails
		}
	}()
	select {
	case <-done:
		close(stop)
		<-swapped
	case <-time.After(20 * time.Second):
		close(stop)
		<-swapped
		// Unblock the stuck open so that the test binary can exit.
		if w, err := os.OpenFile(target, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		t.Fatal("HashStable blocked opening a FIFO")
	}
}
