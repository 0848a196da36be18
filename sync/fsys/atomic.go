package fsys

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// WriteFileAtomic replaces the file at path with data, durably: a temp file
// (".syncspace-tmp-*", mode perm whatever the umask) in the same directory, the data,
// an fsync of the file (F_FULLFSYNC on macOS, FlushFileBuffers on Windows), a rename
// over path, and an fsync of the directory (skipped on Windows, where a directory
// cannot be flushed and NTFS journals the rename). A reader sees the old content or
// the new one, never a part of either; once it returns, the new content survives a
// crash. On error path is unchanged and the temp file is removed. It is for small
// files (state, status, tokens): the whole content is in data.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".syncspace-tmp-*")
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
