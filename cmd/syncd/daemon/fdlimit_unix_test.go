//go:build unix

package daemon

import (
	"syscall"
	"testing"
)

// raiseFDLimit makes room for want descriptors if the hard limit allows it and
// returns the soft limit in force.
func raiseFDLimit(t *testing.T, want uint64) uint64 {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if rl.Cur < want && rl.Max > rl.Cur {
		old := rl.Cur
		rl.Cur = min(want, rl.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
			t.Cleanup(func() {
				rl.Cur = old
				_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
			})
		}
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}
