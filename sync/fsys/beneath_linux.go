package fsys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// OpenPathFD opens the directory dir as an O_PATH descriptor for OpenFileBeneath.
func OpenPathFD(dir string) (int, error) {
	return unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// ClosePathFD closes a descriptor of OpenPathFD (-1: none).
func ClosePathFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// OpenFileBeneath opens the regular file p under the directory dirfd for reading in one
// openat2(2) that refuses every symlink on the way and any escape from dirfd, then
// checks the type with fstat; name is the *os.File's name. It opens non-blocking so
// that a FIFO put there by hand cannot hang the caller, then clears the flag. A
// symlink, a missing path or a non-regular file is fs.ErrNotExist. ok is false when
// the kernel lacks openat2 (the caller falls back to os.Root).
func OpenFileBeneath(dirfd int, p, name string) (f *os.File, ok bool, err error) {
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := openat2(dirfd, p, &how)
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

// OpenDirBeneath opens the directory p under the directory dirfd for reading (and
// fsync) in one openat2(2) that refuses every symlink on the way and any escape from
// dirfd; name is the *os.File's name. A missing path is fs.ErrNotExist; a file or a
// symlink at p or on the way fails with an error for which IsNotDir is true. ok is
// false when the kernel lacks openat2 (the caller falls back to os.Root).
func OpenDirBeneath(dirfd int, p, name string) (f *os.File, ok bool, err error) {
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_DIRECTORY | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := openat2(dirfd, p, &how)
	switch {
	case err == nil:
		return os.NewFile(uintptr(fd), name), true, nil
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
		return nil, false, nil
	case errors.Is(err, unix.ENOENT):
		return nil, true, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	case errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV):
		return nil, true, &os.PathError{Op: "openat2", Path: p, Err: unix.ENOTDIR}
	}
	return nil, true, &os.PathError{Op: "openat2", Path: p, Err: err}
}
