//go:build freebsd || netbsd || openbsd || dragonfly

package fsys

import "golang.org/x/sys/unix"

// renameAtNoReplace is not available here: RenameAt reports errors.ErrUnsupported and
// Dir falls back to lstat + rename (a name created in between is replaced).
func renameAtNoReplace(int, string, int, string) error { return unix.ENOSYS }

// SyncAll is sync(2) (which may only schedule the writes on some systems).
func (d *Dir) SyncAll() error {
	unix.Sync()
	return nil
}
