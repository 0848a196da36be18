//go:build darwin || freebsd || openbsd || netbsd || dragonfly

package fsys

import "golang.org/x/sys/unix"

// watchCost is kqueue's: a descriptor per entry of a watched directory, within
// watchBudget of the soft RLIMIT_NOFILE (capped by kern.maxfilesperproc where the
// system has it, which the kernel enforces whatever the limit says).
func watchCost() WatchCost {
	n := uint64(256) // the macOS default, should getrlimit fail
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && lim.Cur > 0 {
		n = uint64(lim.Cur)
	}
	if m, err := unix.SysctlUint32("kern.maxfilesperproc"); err == nil && m > 0 {
		n = min(n, uint64(m))
	}
	return WatchCost{PerEntry: true, Budget: watchBudget(n)}
}
