package fsys

import "golang.org/x/sys/unix"

// exchangeAt is renameat2(RENAME_EXCHANGE): atomic (Linux 3.15; ext4, XFS, Btrfs,
// F2FS, tmpfs and others; EINVAL on file systems without it).
func exchangeAt(fd1 int, n1 string, fd2 int, n2 string) error {
	return unix.Renameat2(fd1, n1, fd2, n2, unix.RENAME_EXCHANGE)
}
