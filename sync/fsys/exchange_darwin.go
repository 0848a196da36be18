package fsys

import "golang.org/x/sys/unix"

// exchangeAt is renameatx_np(RENAME_SWAP): atomic on APFS and HFS+ (ENOTSUP on
// volumes without it).
func exchangeAt(fd1 int, n1 string, fd2 int, n2 string) error {
	return unix.RenameatxNp(fd1, n1, fd2, n2, unix.RENAME_SWAP)
}
