package fsys

import (
	"io/fs"
	"syscall"
)

// StatMark describes a file by its lstat; ok is false when fi has no stat data.
func StatMark(fi fs.FileInfo) (m Mark, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return Mark{}, false
	}
	m = Mark{IsDir: fi.IsDir(), Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
	if !m.IsDir {
		m.Size = st.Size
		m.Mtime, m.Ctime = st.Mtimespec.Nano(), st.Ctimespec.Nano()
	}
	return m, true
}
