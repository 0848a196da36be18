package tenants

// The store's file-system helpers over the tenant's roots. Platform calls are in
// sync/fsys (RenameAt, LinkAt, DiskFree, StatMark, OpenFileBeneath: renameat2, linkat,
// statfs, openat2 with RESOLVE_BENEATH on Linux); where openat2 is unavailable,
// fsys.OpenFileBeneath reports so and callers use openRegular, whose os.Root already
// resolves beneath the tenant's directory.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
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

// renameAt renames by last segments between two open directories (sync/fsys.RenameAt:
// renameat2 on Linux, renameatx_np on macOS), mapping an existing target with
// noReplace to fs.ErrExist.
func renameAt(src *os.File, from string, dst *os.File, to string, noReplace bool) error {
	err := fsys.RenameAt(src, from, dst, to, noReplace)
	if errors.Is(err, fs.ErrExist) {
		return fs.ErrExist
	}
	return err
}
