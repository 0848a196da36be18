package fsys

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

// WriteFileAtomic replaces the file at path with data, durably: a temp file
// (".syncspace-tmp-*", mode perm whatever the umask; with a perm for the owner only,
// such as 0600, created private as CreatePrivate does, which on Windows is what
// keeps the file private after the rename) in the same directory, the data,
// an fsync of the file (F_FULLFSYNC on macOS, FlushFileBuffers on Windows), a rename
// over path, and an fsync of the directory (skipped on Windows, where a directory
// cannot be flushed and NTFS journals the rename). A reader sees the old content or
// the new one, never a part of either; once it returns, the new content survives a
// crash. On error path is unchanged and the temp file is removed. It is for small
// files (state, status, tokens): the whole content is in data.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := createTemp(dir, perm&0o077 == 0)
	if err != nil {
		return err
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := Sync(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	done = true
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that a rename or a new name in it is durable. On
// Windows it does nothing (directories cannot be flushed; NTFS journals the rename).
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return Sync(d)
}

// createTemp creates a new ".syncspace-tmp-*" file in dir, with CreatePrivate when
// private (os.CreateTemp's file takes the DACL its folder passes on, on Windows).
func createTemp(dir string, private bool) (*os.File, error) {
	if !private {
		return os.CreateTemp(dir, ".syncspace-tmp-*")
	}
	for range 10000 {
		f, err := CreatePrivate(filepath.Join(dir, ".syncspace-tmp-"+strconv.FormatUint(uint64(rand.Uint32()), 10)))
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, &os.PathError{Op: "createtemp", Path: filepath.Join(dir, ".syncspace-tmp-*"), Err: fs.ErrExist}
}
