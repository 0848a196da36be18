package rootblobs

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/tenants/blob"
)

// Lstat describes files/P without following a symlink.
func (t *Tenant) Lstat(p string) (fs.FileInfo, error) { return t.files.Lstat(nameOrDot(p)) }

// ReadDir lists the real directory files/DIR.
func (t *Tenant) ReadDir(dir string) ([]fs.DirEntry, error) {
	f, err := openDir(t.files, dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// ReadDirNames names the entries of the real directory files/DIR.
func (t *Tenant) ReadDirNames(dir string) ([]string, error) {
	return readDirNames(t.files, nameOrDot(dir))
}

// HashStable hashes the regular file files/P and checks that its identity, size and
// mtime held still while it was read: as the open file showed them before the read,
// and as the path shows them after it.
func (t *Tenant) HashStable(p string) (string, fs.FileInfo, error) {
	f, before, err := openRegularStat(t.files, p)
	if err != nil {
		return "", nil, err
	}
	sum, err := fsys.SHA256Hex(f)
	f.Close()
	if err != nil {
		return "", nil, err
	}
	after, err := t.files.Lstat(p)
	if err != nil {
		return "", nil, err
	}
	if !os.SameFile(before, after) || before.Size() != after.Size() || !before.ModTime().Equal(after.ModTime()) {
		return "", nil, blob.ErrUnstable
	}
	return sum, after, nil
}

// WatchRoot is the absolute path of files/.
func (t *Tenant) WatchRoot() string { return filepath.Join(t.dir, "files") }

// headMarkFile names the head mark in the tenant's directory.
const headMarkFile = "head"

// ReadHeadMark reads the tenant's head mark.
func (t *Tenant) ReadHeadMark() ([]byte, error) {
	return os.ReadFile(filepath.Join(t.dir, headMarkFile))
}

// WriteHeadMark replaces the head mark with b, without fsync.
func (t *Tenant) WriteHeadMark(b []byte) error {
	return writeFileAtomic(filepath.Join(t.dir, headMarkFile), b)
}

// RemoveHeadTemps removes temp files a crash left behind by WriteHeadMark.
func (t *Tenant) RemoveHeadTemps() {
	leftovers, _ := filepath.Glob(filepath.Join(t.dir, ".head-*"))
	for _, f := range leftovers {
		os.Remove(f)
	}
}

// writeFileAtomic replaces name with data (mode 0600) through a temp file and a
// rename in the same directory, without fsync.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".head-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, blob.FilePerm)
	}
	if werr == nil {
		werr = os.Rename(tmp, name)
	}
	if werr != nil {
		os.Remove(tmp)
	}
	return werr
}
