package fsys

import (
	"errors"
	"io/fs"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// renameAtNoReplace is renameat2(RENAME_NOREPLACE): atomic.
func renameAtNoReplace(fd1 int, n1 string, fd2 int, n2 string) error {
	return unix.Renameat2(fd1, n1, fd2, n2, unix.RENAME_NOREPLACE)
}

// SyncAll is syncfs(2) on the folder's file system.
func (d *Dir) SyncAll() error { return unix.Syncfs(int(d.self.Fd())) }

// noOpenat2 is set once openat2(2) turned out to be missing (ENOSYS).
var noOpenat2 atomic.Bool

// errEscapes is openBeneath's error for a name that leads out of the folder.
var errEscapes = errors.New("path escapes from parent")

// openat2 is openat2(2), tried again after EINTR and, at most 16 times, after EAGAIN
// (a ".." on the way met a concurrent rename somewhere on the system, so the kernel
// cannot tell that the walk stayed beneath dirfd, and asks for a retry).
func openat2(dirfd int, name string, how *unix.OpenHow) (fd int, err error) {
	for tries := 0; ; tries++ {
		fd, err = unix.Openat2(dirfd, name, how)
		if err != unix.EINTR && (err != unix.EAGAIN || tries >= 16) {
			return fd, err
		}
	}
}

// openBeneath opens name under the folder with flag and perm in one openat2(2) with
// RESOLVE_BENEATH: what os.Root allows, in one call. ok is false when openat2 is not
// available (ENOSYS; EPERM, as some seccomp filters answer): the caller then uses
// os.Root.
func (d *Dir) openBeneath(name string, flag int, perm fs.FileMode) (f *os.File, ok bool, err error) {
	if noOpenat2.Load() || name == "" {
		return nil, false, nil
	}
	how := unix.OpenHow{Flags: uint64(flag) | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
	if flag&os.O_CREATE != 0 {
		how.Mode = uint64(perm.Perm())
	}
	fd, err := openat2(d.fd, name, &how)
	switch {
	case err == nil:
		return os.NewFile(uintptr(fd), d.abs+"/"+name), true, nil
	case errors.Is(err, unix.ENOSYS):
		noOpenat2.Store(true)
		return nil, false, nil
	case errors.Is(err, unix.EPERM):
		return nil, false, nil // maybe a filter; os.Root gives the real answer
	case errors.Is(err, unix.EXDEV):
		err = errEscapes
	}
	return nil, true, &os.PathError{Op: "openat2", Path: name, Err: err}
}
