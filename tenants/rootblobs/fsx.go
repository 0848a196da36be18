package rootblobs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/tenants/blob"
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
		return nil, fmt.Errorf("%s: %w", dir, blob.ErrNotDir)
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

// openRegular opens name under root if it is a regular file (not a symlink).
func openRegular(root *os.Root, name string) (*os.File, error) {
	f, _, err := openRegularStat(root, name)
	return f, err
}

// openRegularStat is openRegular that also returns the open file's fstat.
func openRegularStat(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	lfi, err := root.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if !lfi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file: %w", name, os.ErrNotExist)
	}
	// O_NONBLOCK: a FIFO swapped in after the lstat must not block the open (it fails
	// the SameFile check below); it changes nothing for a regular file.
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !os.SameFile(lfi, fi) {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s: changed while opened: %w", name, os.ErrNotExist)
		}
		return nil, nil, err
	}
	return f, fi, nil
}

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
	if err := fsys.Sync(dst); err != nil {
		return err
	}
	if syncSrc && !(fromRoot == toRoot && pathrule.Parent(from) == pathrule.Parent(to)) {
		return fsys.Sync(src)
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
	return fsys.Sync(f)
}

// mkdirPrivate creates the directory name under root with mode 0700 (exactly).
// An existing real directory is fine; anything else there is blob.ErrNotDir.
func mkdirPrivate(root *os.Root, name string) (created bool, err error) {
	err = root.Mkdir(name, blob.DirPerm)
	if errors.Is(err, fs.ErrExist) {
		fi, lerr := root.Lstat(name)
		if lerr != nil {
			return false, lerr
		}
		if !fi.IsDir() {
			return false, fmt.Errorf("%s: %w", name, blob.ErrNotDir)
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, root.Chmod(name, blob.DirPerm)
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

func readDirNames(root *os.Root, dir string) ([]string, error) {
	f, err := openDir(root, dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func nameOrDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}
