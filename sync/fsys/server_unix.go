//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package fsys

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// LinkAt makes to (in directory dst) a second name of the regular file from (in
// directory src); from and to are single names. The caller fsyncs dst.
func LinkAt(src *os.File, from string, dst *os.File, to string) error {
	if err := unix.Linkat(int(src.Fd()), from, int(dst.Fd()), to, 0); err != nil {
		return &os.LinkError{Op: "link", Old: from, New: to, Err: err}
	}
	return nil
}

// IsNoSpace reports whether err is the file system's "no space left on device".
func IsNoSpace(err error) bool { return errors.Is(err, unix.ENOSPC) }
