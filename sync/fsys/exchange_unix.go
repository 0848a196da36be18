//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package fsys

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// Exchange swaps the entries at a and b in one atomic step relative to their open
// parent directories (exchangeAt: renameat2(RENAME_EXCHANGE) on Linux,
// renameatx_np(RENAME_SWAP) on macOS). A platform or file system without such a call
// gives an error matching errors.ErrUnsupported, and nothing changed.
func (d *Dir) Exchange(a, b string) error {
	src, dst, done, err := d.openParents(a, b)
	if err != nil {
		return err
	}
	defer done()
	err = callAt(exchangeAt, src, a, dst, b)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP):
		return &os.LinkError{Op: "exchange", Old: a, New: b, Err: errors.ErrUnsupported}
	}
	return &os.LinkError{Op: "exchange", Old: a, New: b, Err: err}
}
