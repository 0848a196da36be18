package fsys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// CreateExclAt creates name, one path segment, in the directory dirfd (an
// OpenPathFD), for writing and exclusively: O_CREAT|O_EXCL, so an existing name,
// a symlink included, fails with an error matching fs.ErrExist and nothing is
// followed. The mode is perm less the umask (the caller fixes it if it must be exact).
// It is one openat(2): os.OpenFile and os.Root.OpenFile would add four fcntl and
// epoll_ctl calls to find that a regular file cannot join the poller. full is the
// *os.File's name. ok is false when dirfd is -1: the caller uses os.Root.
func CreateExclAt(dirfd int, name string, perm fs.FileMode, full string) (f *os.File, ok bool, err error) {
	if dirfd < 0 {
		return nil, false, nil
	}
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
		return nil, true, fmt.Errorf("%q: not one path segment: %w", name, fs.ErrInvalid)
	}
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	var fd int
	for {
		fd, err = unix.Openat(dirfd, name, flags, uint32(perm.Perm()))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, true, &os.PathError{Op: "openat", Path: full, Err: err}
	}
	return os.NewFile(uintptr(fd), full), true, nil
}

// SetModTimeFD sets the access and modification times of the open file f to t
// (nanoseconds) through its descriptor: utimensat(2) with AT_EMPTY_PATH, no path
// lookup. ok is false when the kernel does not take that form (before Linux 5.8):
// the caller sets them by name.
func SetModTimeFD(f *os.File, t time.Time) (ok bool, err error) {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	for {
		err = unix.UtimesNanoAt(int(f.Fd()), "", ts, unix.AT_EMPTY_PATH)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
		return false, nil
	}
	return true, &os.PathError{Op: "utimensat", Path: f.Name(), Err: err}
}
