package fsys

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Local disk file systems whose written data, until flushed, lives only in this
// kernel's page cache (statfs f_type): network and FUSE file systems have other
// owners of that data and are left out.
var cacheIDTypes = map[int64]bool{
	0xEF53:     true, // ext2/3/4
	0x58465342: true, // XFS
	0x9123683E: true, // Btrfs
	0xF2F52010: true, // F2FS
	0x01021994: true, // tmpfs
}

// CacheID names the page cache that holds the not yet flushed writes to the file
// system of path: this boot of the kernel (its boot id) and this mount of the file
// system (its unique mount id, Linux 6.8 and later; a symlink path is followed, as
// writes through it are). Two calls return the same id
// only if no reboot and no unmount came between them, so a write made under an id
// still reads back as written while the id is unchanged, flushed or not. ok is false
// where this cannot be told (another platform, an older kernel, a network or FUSE
// file system): the caller then flushes before it relies on a write.
func CacheID(path string) (id string, ok bool) {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil || len(strings.TrimSpace(string(boot))) == 0 {
		return "", false
	}
	var sf unix.Statfs_t
	if err := unix.Statfs(path, &sf); err != nil || !cacheIDTypes[int64(sf.Type)] {
		return "", false
	}
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_MNT_ID_UNIQUE, &stx); err != nil {
		return "", false
	}
	if stx.Mask&unix.STATX_MNT_ID_UNIQUE == 0 {
		return "", false
	}
	return strings.TrimSpace(string(boot)) + "/" + strconv.FormatUint(stx.Mnt_id, 10), true
}
