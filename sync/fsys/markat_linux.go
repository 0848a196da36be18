package fsys

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// MarkAt describes name, a single name in the open directory dir, by its lstat in one
// system call (fstatat(2) with AT_SYMLINK_NOFOLLOW relative to dir: no walk from a
// root, nothing followed). A missing name fails with an error matching
// fs.ErrNotExist; elsewhere than Linux it fails with errors.ErrUnsupported.
func MarkAt(dir *os.File, name string) (Mark, error) {
	var st unix.Stat_t
	var err error
	for {
		err = unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return Mark{}, &fs.PathError{Op: "fstatat", Path: name, Err: err}
	}
	m := Mark{IsDir: st.Mode&unix.S_IFMT == unix.S_IFDIR, Dev: uint64(st.Dev), Ino: st.Ino}
	if !m.IsDir {
		m.Size = st.Size
		m.Mtime, m.Ctime = st.Mtim.Nano(), st.Ctim.Nano()
	}
	return m, nil
}
