package tenants

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/syncspace/syncspace/tenants/pathrule"
)

// Permissions of everything the store creates, whatever the umask (SPEC §6).
const (
	dirPerm  os.FileMode = 0o700
	filePerm os.FileMode = 0o600
)

// openDir opens the directory dir ("" = the root itself) through root. The last
// component must be a real directory, not a symlink.
func openDir(root *os.Root, dir string) (*os.File, error) {
	name := dir
	if name == "" {
		name = "."
	}
	lfi, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !lfi.IsDir() {
		return nil, fmt.Errorf("%s: %w", dir, errNotDir)
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || !os.SameFile(lfi, fi) {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s: directory changed while opened", dir)
		}
		return nil, err
	}
	return f, nil
}

var errNotDir = errors.New("not a directory")

// moveBetween renames from (under fromRoot) to to (under toRoot) in one rename(2),
// which requires both to be on one file system, and fsyncs the target directory (and
// the source directory with syncSrc). With noReplace an existing target fails with
// fs.ErrExist.
func moveBetween(fromRoot *os.Root, from string, toRoot *os.Root, to string, noReplace, syncSrc bool) error {
	src, dst, err := openParents(fromRoot, from, toRoot, to)
	if err != nil {
		return err
	}
	defer src.Close()
	defer dst.Close()
	if err := renameAt(src, from, dst, to, noReplace); err != nil {
		return err
	}
	if err := dst.Sync(); err != nil {
		return err
	}
	if syncSrc && !(fromRoot == toRoot && pathrule.Parent(from) == pathrule.Parent(to)) {
		return src.Sync()
	}
	return nil
}

// renameNoSync is moveBetween without any fsync: the caller syncs the directories.
func renameNoSync(fromRoot *os.Root, from string, toRoot *os.Root, to string, noReplace bool) error {
	src, dst, err := openParents(fromRoot, from, toRoot, to)
	if err != nil {
		return err
	}
	defer src.Close()
	defer dst.Close()
	return renameAt(src, from, dst, to, noReplace)
}

func openParents(fromRoot *os.Root, from string, toRoot *os.Root, to string) (*os.File, *os.File, error) {
	src, err := openDir(fromRoot, pathrule.Parent(from))
	if err != nil {
		return nil, nil, err
	}
	dst, err := openDir(toRoot, pathrule.Parent(to))
	if err != nil {
		src.Close()
		return nil, nil, err
	}
	return src, dst, nil
}

func renameAt(src *os.File, from string, dst *os.File, to string, noReplace bool) error {
	var flags uint
	if noReplace {
		flags = unix.RENAME_NOREPLACE
	}
	if err := unix.Renameat2(int(src.Fd()), pathrule.Base(from), int(dst.Fd()), pathrule.Base(to), flags); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fs.ErrExist
		}
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// linkAt makes to (in directory dst) a second name of the regular file from (in
// directory src), by their last segments. The caller fsyncs dst.
func linkAt(src *os.File, from string, dst *os.File, to string) error {
	if err := unix.Linkat(int(src.Fd()), pathrule.Base(from), int(dst.Fd()), pathrule.Base(to), 0); err != nil {
		return &os.LinkError{Op: "link", Old: from, New: to, Err: err}
	}
	return nil
}

// syncDir fsyncs the directory dir under root.
func syncDir(root *os.Root, dir string) error {
	f, err := openDir(root, dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// mkdirPrivate creates the directory name under root with mode 0700 (exactly).
// An existing real directory is fine; anything else there is errNotDir.
func mkdirPrivate(root *os.Root, name string) (created bool, err error) {
	err = root.Mkdir(name, dirPerm)
	if errors.Is(err, fs.ErrExist) {
		fi, lerr := root.Lstat(name)
		if lerr != nil {
			return false, lerr
		}
		if !fi.IsDir() {
			return false, fmt.Errorf("%s: %w", name, errNotDir)
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, root.Chmod(name, dirPerm)
}

// mkdirAllOS creates dir and its parents with mode 0700 on the host file system (for
// the data dir layout, outside any tenant root).
func mkdirAllOS(dir string) error {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: %w", dir, errNotDir)
	}
	if fi.Mode().Perm() != dirPerm {
		return os.Chmod(dir, dirPerm)
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
	return st.Bavail * uint64(st.Bsize), nil
}

// errNoSpace is the file system's "no space left on device".
var errNoSpace error = unix.ENOSPC

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
