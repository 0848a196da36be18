package tenants

import (
	"io/fs"
	"os"
	"syscall"
)

// markOf describes a file by its lstat (device, inode, size, mtime, ctime).
func markOf(fi fs.FileInfo) (ownMark, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ownMark{}, false
	}
	m := ownMark{isDir: fi.IsDir(), dev: uint64(st.Dev), ino: uint64(st.Ino)}
	if !m.isDir {
		m.size = st.Size
		m.mtime, m.ctime = st.Mtimespec.Nano(), st.Ctimespec.Nano()
	}
	return m, true
}

// openPathFD has no O_PATH here: no descriptor (openFileAt does not use one).
func openPathFD(string) (int, error) { return -1, nil }

// closePathFD closes a descriptor of openPathFD (-1: none).
func closePathFD(int) {}

// openFileAt has no openat2 here (ok = false): the caller uses openRegular, whose
// os.Root resolves beneath the tenant's files/ (no "..", no absolute path, no symlink
// escape) and refuses a final symlink; it cannot refuse symlinks inside files/ that
// stay beneath it, which the watcher never indexes anyway.
func openFileAt(int, string, string) (f *os.File, ok bool, err error) { return nil, false, nil }
