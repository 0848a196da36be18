package tenants

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// markOf describes a file by its lstat (device, inode, size, mtime, ctime).
func markOf(fi fs.FileInfo) (ownMark, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ownMark{}, false
	}
	m := ownMark{isDir: fi.IsDir(), dev: uint64(st.Dev), ino: uint64(st.Ino)}
	if !m.isDir {
		m.size = st.Size
		m.mtime, m.ctime = st.Mtim.Nano(), st.Ctim.Nano()
	}
	return m, true
}

// openPathFD opens the directory dir as an O_PATH descriptor for openFileAt.
func openPathFD(dir string) (int, error) {
	return unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// closePathFD closes a descriptor of openPathFD (-1: none).
func closePathFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// openFileAt opens the regular file p under the directory dirfd for reading in one
// openat2(2) that refuses every symlink on the way and any escape from dirfd, then
// checks the type with fstat. It opens non-blocking so that a FIFO put there by hand
// cannot hang the caller, then clears the flag. A symlink, a missing path or a
// non-regular file is fs.ErrNotExist. ok is false when the kernel lacks openat2 (the
// caller falls back to openRegular).
func openFileAt(dirfd int, p, name string) (f *os.File, ok bool, err error) {
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	var fd int
	for {
		fd, err = unix.Openat2(dirfd, p, &how)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
		return nil, false, nil
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		return nil, true, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	default:
		return nil, true, &os.PathError{Op: "openat2", Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, true, &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, true, fmt.Errorf("%s: not a regular file: %w", p, fs.ErrNotExist)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, true, &os.PathError{Op: "fcntl", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), name), true, nil
}
