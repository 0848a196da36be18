//go:build unix

package tenants

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/syncspace/syncspace/sync/pathrule"
)

// linkAt makes to (in directory dst) a second name of the regular file from (in
// directory src), by their last segments. The caller fsyncs dst.
func linkAt(src *os.File, from string, dst *os.File, to string) error {
	if err := unix.Linkat(int(src.Fd()), pathrule.Base(from), int(dst.Fd()), pathrule.Base(to), 0); err != nil {
		return &os.LinkError{Op: "link", Old: from, New: to, Err: err}
	}
	return nil
}

// diskFree reports the bytes available to unprivileged users on the file system of
// path. A variable so that tests can simulate a full disk.
var diskFree = func(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}

// errNoSpace is the file system's "no space left on device".
var errNoSpace error = unix.ENOSPC
