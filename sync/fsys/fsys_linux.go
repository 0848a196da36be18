package fsys

import "golang.org/x/sys/unix"

// renameAtNoReplace is renameat2(RENAME_NOREPLACE): atomic.
func renameAtNoReplace(fd1 int, n1 string, fd2 int, n2 string) error {
	return unix.Renameat2(fd1, n1, fd2, n2, unix.RENAME_NOREPLACE)
}

// SyncAll is syncfs(2) on the folder's file system.
func (d *Dir) SyncAll() error { return unix.Syncfs(int(d.self.Fd())) }
