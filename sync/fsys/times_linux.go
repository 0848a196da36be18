package fsys

import (
	"io/fs"
	"syscall"

	"golang.org/x/sys/unix"
)

// fineMagic holds the statfs f_type of the local file systems whose mtimes have
// nanosecond fields filled from the kernel clock (current_time: the tick, or finer).
var fineMagic = map[int64]bool{
	unix.EXT4_SUPER_MAGIC:      true, // also ext2/ext3: Fine checks for a sub-second part
	unix.XFS_SUPER_MAGIC:       true,
	unix.BTRFS_SUPER_MAGIC:     true,
	unix.TMPFS_MAGIC:           true,
	unix.F2FS_SUPER_MAGIC:      true,
	unix.BCACHEFS_SUPER_MAGIC:  true,
	unix.OVERLAYFS_SUPER_MAGIC: true, // the upper layer: a local file system with xattrs
	0x2fc12fc1:                 true, // ZFS on Linux
}

func folderTimes(dir string) Times {
	var sf unix.Statfs_t
	if err := unix.Statfs(dir, &sf); err != nil || !fineMagic[int64(sf.Type)] {
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
