package fsys

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

func sysFileID(fs.FileInfo) uint64 { return 0 }

func sysLinkCount(fs.FileInfo) uint64 { return 0 }

func isBusyErrno(err error) bool {
	return errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, windows.ERROR_LOCK_VIOLATION)
}

func isNotDirErrno(err error) bool {
	return errors.Is(err, syscall.ENOTDIR) || errors.Is(err, windows.ERROR_DIRECTORY)
}

func isNotEmptyErrno(err error) bool {
	return errors.Is(err, windows.ERROR_DIR_NOT_EMPTY) || errors.Is(err, syscall.ENOTEMPTY)
}

// setTimes is SetFileTime on the open handle (100 ns resolution).
func setTimes(f *os.File, atime, mtime time.Time) error {
	a := windows.NsecToFiletime(atime.UnixNano())
	m := windows.NsecToFiletime(mtime.UnixNano())
	if err := windows.SetFileTime(windows.Handle(f.Fd()), nil, &a, &m); err != nil {
		return &os.PathError{Op: "SetFileTime", Path: f.Name(), Err: err}
	}
	return nil
}

// syncFile is FlushFileBuffers; a directory handle cannot be flushed (NTFS journals
// its metadata), so it is a no-op there.
func syncFile(f *os.File) error {
	fi, err := f.Stat()
	if err == nil && fi.IsDir() {
		return nil
	}
	return f.Sync()
}

func absPath(dir string) (string, error) { return filepath.Abs(dir) }

// LockFile takes an exclusive, non-blocking lock on f (LockFileEx on its first byte),
// held until f is closed.
func LockFile(f *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
}

// LockHeld reports whether another open file holds LockFile's lock on the file f has
// open, with a shared LockFileEx on the same byte that fails at once while the
// exclusive one is held (ERROR_LOCK_VIOLATION), released at once otherwise.
func LockHeld(f *os.File) (bool, error) {
	var ol windows.Overlapped
	h := windows.Handle(f.Fd())
	err := windows.LockFileEx(h, windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, windows.UnlockFileEx(h, 0, 1, 0, &ol)
}

// renameNoReplace is MoveFileEx without MOVEFILE_REPLACE_EXISTING on the \\?\ forms
// of both paths. The parents are first checked, through the root, to be real
// directories (no symlink or junction), which keeps the rename beneath the folder
// unless one is swapped in between (Win32 has no rename relative to a handle).
func (d *Dir) renameNoReplace(from, to string) error {
	for _, p := range []string{from, to} {
		dir := filepath.Dir(filepath.FromSlash(p))
		if dir == "." {
			continue
		}
		fi, err := d.root.Lstat(dir)
		if err != nil {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
		}
		if !fi.IsDir() || fi.Mode()&fs.ModeSymlink != 0 {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: syscall.ENOTDIR}
		}
	}
	if !filepath.IsLocal(filepath.FromSlash(from)) || !filepath.IsLocal(filepath.FromSlash(to)) {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrInvalid}
	}
	src, err := windows.UTF16PtrFromString(LongPath(filepath.Join(d.abs, filepath.FromSlash(from))))
	if err != nil {
		return err
	}
	dst, err := windows.UTF16PtrFromString(LongPath(filepath.Join(d.abs, filepath.FromSlash(to))))
	if err != nil {
		return err
	}
	err = windows.MoveFileEx(src, dst, 0)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, windows.ERROR_ALREADY_EXISTS), errors.Is(err, windows.ERROR_FILE_EXISTS):
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrExist}
	}
	return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
}

// SyncAll is not available on Windows (FlushFileBuffers on a volume needs
// administrator rights): callers sync each file they write.
func (d *Dir) SyncAll() error { return errors.ErrUnsupported }

// RenameAt renames from (a name in the directory src) to to (in dst) by their last
// segments. Win32 has no rename relative to a handle: it is MoveFileEx on the \\?\
// forms of the joined paths (without MOVEFILE_REPLACE_EXISTING when noReplace, an
// existing target giving an error matching fs.ErrExist).
func RenameAt(src *os.File, from string, dst *os.File, to string, noReplace bool) error {
	a, err := windows.UTF16PtrFromString(LongPath(filepath.Join(src.Name(), path.Base(from))))
	if err != nil {
		return err
	}
	b, err := windows.UTF16PtrFromString(LongPath(filepath.Join(dst.Name(), path.Base(to))))
	if err != nil {
		return err
	}
	var flags uint32
	if !noReplace {
		flags = windows.MOVEFILE_REPLACE_EXISTING
	}
	err = retryBusy(func() error { return windows.MoveFileEx(a, b, flags) }, time.Sleep)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, windows.ERROR_ALREADY_EXISTS), errors.Is(err, windows.ERROR_FILE_EXISTS):
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrExist}
	}
	return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
}
