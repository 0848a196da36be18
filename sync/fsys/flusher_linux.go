package fsys

import (
	"os"

	"golang.org/x/sys/unix"
)

// canSyncFS: syncfs(2) exists (and, since Linux 5.8, reports write-back errors).
const canSyncFS = true

// syncFS flushes the whole file system of f (a variable for tests to fail it).
var syncFS = func(f *os.File) error { return unix.Syncfs(int(f.Fd())) }

// deviceOf returns the device number of d's file system.
func deviceOf(d *os.File) (uint64, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(int(d.Fd()), &st); err != nil {
		return 0, false
	}
	return st.Dev, true
}
