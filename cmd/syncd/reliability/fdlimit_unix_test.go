//go:build unix

package reliability

import "syscall"

// raiseFDLimit raises the soft RLIMIT_NOFILE to the hard one (Go raises it at start
// already; make sure) and returns it; ok is false when it cannot be read.
func raiseFDLimit() (limit uint64, ok bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, false
	}
	rl.Cur = rl.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur, true
}
