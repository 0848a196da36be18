//go:build unix

package fsys

import (
	"os"

	"golang.org/x/sys/unix"
)

// Device returns the device number (st_dev) of the file system holding path
// (symlinks followed): two paths with the same number are on one file system, which
// one syncfs(2) flushes.
func Device(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return uint64(st.Dev), nil
}
