package fsys

import "golang.org/x/sys/unix"

// renameAtNoReplace is renameatx_np(RENAME_EXCL): atomic on APFS and HFS+ (ENOTSUP on
// some network volumes).
func renameAtNoReplace(fd1 int, n1 string, fd2 int, n2 string) error {
	return unix.RenameatxNp(fd1, n1, fd2, n2, unix.RENAME_EXCL)
}

// SyncAll is sync(2), which schedules every write, then F_FULLFSYNC on the folder,
// which waits for the device to have them (drive cache included).
func (d *Dir) SyncAll() error {
	unix.Sync()
	_, err := unix.FcntlInt(d.self.Fd(), unix.F_FULLFSYNC, 0)
	return err
}
