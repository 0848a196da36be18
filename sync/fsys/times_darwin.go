package fsys

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// fineTypes holds the statfs f_fstypename of the local file systems whose mtimes have
// nanoseconds from the kernel clock (not HFS+: whole seconds).
var fineTypes = map[string]bool{"apfs": true}

func folderTimes(dir string) Times {
	var sf unix.Statfs_t
	if err := unix.Statfs(dir, &sf); err != nil || !fineTypes[unix.ByteSliceToString(sf.Fstypename[:])] {
		return Times{}
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return Times{}
	}
	return Times{dev: uint64(st.Dev), fine: true}
}

// deviceOf is the device of the file fi describes.
func deviceOf(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Dev), true
}
