//go:build freebsd || netbsd || openbsd || dragonfly

package fsys

import "golang.org/x/sys/unix"

// exchangeAt is not available here: Exchange reports errors.ErrUnsupported.
func exchangeAt(int, string, int, string) error { return unix.ENOSYS }
