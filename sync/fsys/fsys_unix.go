//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package fsys

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func sysFileID(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

func sysLinkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}

func isBusyErrno(err error) bool {
	return errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.ETXTBSY)
}

func isNotDirErrno(err error) bool { return errors.Is(err, syscall.ENOTDIR) }

func isNotEmptyErrno(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// setTimes sets the times of the open file with futimes(2) (microseconds).
func setTimes(f *os.File, atime, mtime time.Time) error {
	tv := []unix.Timeval{unix.NsecToTimeval(atime.UnixNano()), unix.NsecToTimeval(mtime.UnixNano())}
	if err := unix.Futimes(int(f.Fd()), tv); err != nil {
		return &os.PathError{Op: "futimes", Path: f.Name(), Err: err}
	}
	return nil
}

// syncFile is fsync(2) (F_FULLFSYNC on macOS, done by the Go runtime); directories too.
func syncFile(f *os.File) error { return f.Sync() }

func absPath(dir string) (string, error) { return filepath.Abs(dir) }

// LockFile takes an exclusive, non-blocking lock on f (flock(2) on unix, LockFileEx on
// Windows), held until f is closed. It fails at once when another process holds it.
func LockFile(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
}

// LockHeld reports whether another open file holds LockFile's lock on the file f has
// open, with a shared, non-blocking lock (flock(2); LockFileEx on Windows) released at
// once: a probe that never waits and never keeps the lock.
func LockHeld(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, unix.Flock(int(f.Fd()), unix.LOCK_UN)
}

// RenameAt renames from (a name in the directory src) to to (in dst) by their last
// '/'-separated segments, in one rename-at call relative to the two open directories
// (so nothing on the way can be swapped for a symlink). With noReplace an existing
// target fails with an error matching fs.ErrExist and nothing changes; that needs
// renameat2(RENAME_NOREPLACE) (Linux) or renameatx_np(RENAME_EXCL) (macOS), and is
// errors.ErrUnsupported elsewhere and on file systems without it. Without noReplace
// it is renameat(2), replacing a file at to. The caller syncs the directories.
func RenameAt(src *os.File, from string, dst *os.File, to string, noReplace bool) error {
	call := func(fd1 int, n1 string, fd2 int, n2 string) error { return unix.Renameat(fd1, n1, fd2, n2) }
	if noReplace {
		call = renameAtNoReplace
	}
	err := callAt(call, src, from, dst, to)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST) && noReplace:
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrExist}
	case noReplace && (errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTSUP)):
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: errors.ErrUnsupported}
	}
	return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
}

// renameNoReplace is RenameAt with noReplace between the parents under the root;
// where the file system cannot, lstat + rename (which can replace a name created in
// between).
func (d *Dir) renameNoReplace(from, to string) error {
	src, dst, done, err := d.openParents(from, to)
	if err != nil {
		return err
	}
	defer done()
	err = RenameAt(src, from, dst, to, true)
	if errors.Is(err, errors.ErrUnsupported) {
		return d.renameFallback(from, to)
	}
	return err
}

// Private makes path readable and writable by its owner only: mode 0700 for a
// directory, 0600 for a file (on Windows, a protected DACL for the current user).
func Private(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	if fi.IsDir() {
		mode = 0o700
	}
	return os.Chmod(path, mode)
}

// CreatePrivate creates a new file at path for reading and writing (an error matching
// fs.ErrExist when the name is taken) that only the current user can open from its
// creation on: mode 0600 (the umask can only take bits away). On Windows the file is
// created with a protected owner-only DACL.
func CreatePrivate(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

// openParents opens the parent directories of a and b under the root, once when they
// are the same (a temp file beside its target); done closes them.
func (d *Dir) openParents(a, b string) (src, dst *os.File, done func(), err error) {
	if src, err = d.openParent(a); err != nil {
		return nil, nil, nil, err
	}
	if path.Dir(a) == path.Dir(b) {
		return src, src, func() { src.Close() }, nil
	}
	if dst, err = d.openParent(b); err != nil {
		src.Close()
		return nil, nil, nil, err
	}
	return src, dst, func() { src.Close(); dst.Close() }, nil
}

// callAt runs a two-directory *at(2) call on the base names of a and b relative to
// their open parents, again while it is interrupted (EINTR).
func callAt(call func(fd1 int, n1 string, fd2 int, n2 string) error, src *os.File, a string, dst *os.File, b string) error {
	for {
		if err := call(int(src.Fd()), path.Base(a), int(dst.Fd()), path.Base(b)); err != unix.EINTR {
			return err
		}
	}
}
