package rootblobs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/tenants/blob"
)

// Tenant is one tenant's content under DATA/tenants/NAME. Its owner (tenants.Space)
// serialises Close against its commits; an upload's CreateTemp and a reader's Open
// may run while Close does, and then work or fail (fdMu).
type Tenant struct {
	dir                  string // DATA/tenants/NAME
	files, tmp, versions *os.Root
	// filesFD is an O_PATH descriptor of files/ for fsys.OpenFileBeneath, tmpFD one
	// of tmp/ for fsys.CreateExclAt (-1 when closed or unavailable).
	filesFD, tmpFD int
	// fdMu guards filesFD and tmpFD: held shared around every system call that uses
	// one, and exclusively by Close, so that no descriptor is used after it is closed
	// (its number could by then name another file). An upload's temp file is created
	// outside the space's commit section, so a Delete can close the Tenant meanwhile.
	fdMu sync.RWMutex
	// flush is the store's Flusher: the fsyncs of temp files and of a Batch's
	// directories share flushes with other uploads, of every tenant.
	flush *fsys.Flusher

	// tmp/, versions/ and files/ themselves, opened by the first group commit that
	// needs them and kept until Close: with many tenants a group commit often holds
	// one upload, and opening and closing them per commit was a third of its system
	// calls.
	dirMu                      sync.Mutex
	tmpDir, versionsDir, fsDir *os.File
}

var (
	_ blob.Content   = (*Tenant)(nil)
	_ blob.Disk      = (*Tenant)(nil)
	_ blob.BatchMark = (*batch)(nil)
)

// openTenant opens the roots of the tenant directory dir; fl merges its fsyncs with
// other tenants' (nil: none).
func openTenant(dir string, fl *fsys.Flusher) (*Tenant, error) {
	t := &Tenant{dir: dir, filesFD: -1, tmpFD: -1, flush: tenantFlusher(dir, fl)}
	var err error
	if t.filesFD, err = fsys.OpenPathFD(filepath.Join(dir, "files")); err != nil {
		return nil, err
	}
	if t.tmpFD, err = fsys.OpenPathFD(filepath.Join(dir, "tmp")); err != nil {
		t.Close()
		return nil, err
	}
	for _, d := range []struct {
		root **os.Root
		sub  string
	}{{&t.files, "files"}, {&t.tmp, "tmp"}, {&t.versions, "versions"}} {
		if *d.root, err = os.OpenRoot(filepath.Join(dir, d.sub)); err != nil {
			t.Close()
			return nil, err
		}
	}
	return t, nil
}

// deviceOf is fsys.Device (a variable for tests: they cannot mount a file system).
var deviceOf = fsys.Device

// tenantFlusher returns fl if the tenant directory dir and its tmp/, files/ and
// versions/ are all on fl's file system, else nil: a tenant mounted from another
// file system (a volume at DATA/tenants/NAME) gets its own fsyncs, since the syncfs
// of a shared flush would not cover its files.
func tenantFlusher(dir string, fl *fsys.Flusher) *fsys.Flusher {
	if fl == nil {
		return nil
	}
	var devs []uint64
	for _, sub := range []string{"", "tmp", "files", "versions"} {
		d, err := deviceOf(filepath.Join(dir, sub))
		if err != nil {
			return nil // unknown: fsync each file
		}
		devs = append(devs, d)
	}
	return fl.For(devs...) // nil on another file system (docs/DEPLOY.md)
}

// Close closes the roots, the directories kept open and the descriptor of files/.
func (t *Tenant) Close() error {
	t.fdMu.Lock()
	fsys.ClosePathFD(t.filesFD)
	fsys.ClosePathFD(t.tmpFD)
	t.filesFD, t.tmpFD = -1, -1
	t.fdMu.Unlock()
	t.dirMu.Lock()
	for _, f := range []**os.File{&t.tmpDir, &t.versionsDir, &t.fsDir} {
		if *f != nil {
			(*f).Close()
			*f = nil
		}
	}
	t.dirMu.Unlock()
	for _, r := range []*os.Root{t.files, t.tmp, t.versions} {
		if r != nil {
			r.Close()
		}
	}
	return nil
}

// Closed reports whether Close released the descriptor of files/ (tests).
func (t *Tenant) Closed() bool {
	t.fdMu.RLock()
	defer t.fdMu.RUnlock()
	return t.filesFD == -1
}

// temp is an upload's file in tmp/.
type temp struct {
	t    *Tenant
	name string
	*os.File
}

// CreateTemp creates tmp/NAME, exclusively: in one openat(2) relative to tmp/'s
// descriptor where there is one (fsys.CreateExclAt), else through the root. Its mode
// is 0600 less the umask until SetModTime makes it exactly 0600.
func (t *Tenant) CreateTemp(name string) (blob.Temp, error) {
	t.fdMu.RLock()
	f, ok, err := fsys.CreateExclAt(t.tmpFD, name, blob.FilePerm, filepath.Join(t.dir, "tmp", name))
	t.fdMu.RUnlock()
	if !ok {
		f, err = t.tmp.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, blob.FilePerm)
	}
	if err != nil {
		return nil, err
	}
	return &temp{t: t, name: name, File: f}, nil
}

// SetModTime sets the temp file's times to mod through its descriptor where it can
// (fsys.SetModTimeFD), else by name, and returns the mtime as stored. It also makes
// the mode exactly 0600 if the umask took bits off at the creation: the fstat that
// reads the stored time shows the mode, so the common case costs no fchmod. Both
// come before the caller's Sync, so both are as durable as the content.
func (u *temp) SetModTime(mod time.Time) (time.Time, error) {
	ok, err := fsys.SetModTimeFD(u.File, mod)
	if !ok {
		err = u.t.tmp.Chtimes(u.name, mod, mod)
	}
	if err != nil {
		return time.Time{}, err
	}
	fi, err := u.File.Stat()
	if err != nil {
		return time.Time{}, err
	}
	if fi.Mode().Perm() != blob.FilePerm {
		if err := u.File.Chmod(blob.FilePerm); err != nil {
			return time.Time{}, err
		}
	}
	return fi.ModTime(), nil
}

var _ blob.Writeback = (*temp)(nil)

// StartWriteback starts writing [off, off+n) to the disk (fsys.StartWriteback).
func (u *temp) StartWriteback(off, n int64) { fsys.StartWriteback(u.File, off, n) }

// Sync fsyncs the temp file (through sync/fsys's seam).
func (u *temp) Sync() error { return fsys.Sync(u.File) }

// SyncShared fsyncs the temp file through the store's Flusher (blob.SharedSync): in
// one flush with the other small uploads' temp files and the directories being
// flushed at the same time, of every tenant.
func (u *temp) SyncShared() error { return u.t.flush.Sync(u.File) }

// RemoveTemp removes tmp/NAME.
func (t *Tenant) RemoveTemp(name string) error {
	err := t.tmp.Remove(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Open opens files/P if it is a regular file: through openat2 with RESOLVE_BENEATH
// where there is one (one system call), else through the root. The result is an
// *os.File (sendfile).
func (t *Tenant) Open(p, _ string) (io.ReadSeekCloser, error) {
	t.fdMu.RLock()
	f, ok, err := fsys.OpenFileBeneath(t.filesFD, p, filepath.Join(t.dir, "files", filepath.FromSlash(p)))
	t.fdMu.RUnlock()
	if !ok {
		f, err = openRegular(t.files, p)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// OpenVersion opens versions/ID.
func (t *Tenant) OpenVersion(id, _ string) (io.ReadSeekCloser, error) {
	f, err := openRegular(t.versions, id)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Mkdir creates files/P (0700) without syncing its parent.
func (t *Tenant) Mkdir(p string) (bool, error) { return mkdirPrivate(t.files, p) }

// MkdirAll creates files/P and its parents (0700).
func (t *Tenant) MkdirAll(p string) error { return t.files.MkdirAll(p, blob.DirPerm) }

// Remove removes files/P (a file or an empty directory).
func (t *Tenant) Remove(p string) error { return t.files.Remove(p) }

// RemoveAll removes files/P and its subtree.
func (t *Tenant) RemoveAll(p string) error { return t.files.RemoveAll(p) }

// SyncDir fsyncs the directory files/DIR.
func (t *Tenant) SyncDir(dir string) error { return syncDir(t.files, dir) }

// Move renames files/FROM to files/TO and fsyncs both parents.
func (t *Tenant) Move(from, to string, noReplace bool) error {
	return moveBetween(t.files, from, t.files, to, noReplace, true)
}

// KeepVersion renames files/P to versions/ID without fsyncs.
func (t *Tenant) KeepVersion(p, _, id string) error {
	return renameNoSync(t.files, p, t.versions, id, true)
}

// SyncVersions fsyncs versions/.
func (t *Tenant) SyncVersions() error { return syncDir(t.versions, "") }

// RestoreVersion renames versions/ID to files/P and fsyncs both directories.
func (t *Tenant) RestoreVersion(id, _, p string, noReplace bool) error {
	return moveBetween(t.versions, id, t.files, p, noReplace, true)
}

// Temps lists tmp/.
func (t *Tenant) Temps() ([]string, error) { return readDirNames(t.tmp, ".") }

// Versions lists versions/.
func (t *Tenant) Versions() ([]string, error) { return readDirNames(t.versions, ".") }

// RemoveTempAll removes tmp/NAME (and anything under it).
func (t *Tenant) RemoveTempAll(name string) error { return t.tmp.RemoveAll(name) }

// RemoveVersionAll removes versions/ID (and anything under it).
func (t *Tenant) RemoveVersionAll(id string) error { return t.versions.RemoveAll(id) }

// Batch starts a group commit: directories it opens stay open until Close.
func (t *Tenant) Batch() blob.Batch {
	return &batch{t: t, fileDirs: map[string]*os.File{}}
}

// batch holds the directories under files/ one group commit opened, by path (tmp/,
// versions/ and files/ itself are the Tenant's, kept open).
type batch struct {
	t        *Tenant
	mu       sync.Mutex // guards fileDirs (syncs run concurrently)
	fileDirs map[string]*os.File
}

// rootDir returns *f, the root directory of root, opening it on first use.
func (t *Tenant) rootDir(f **os.File, root *os.Root) (*os.File, error) {
	t.dirMu.Lock()
	defer t.dirMu.Unlock()
	if *f != nil {
		return *f, nil
	}
	d, err := openDir(root, "")
	if err != nil {
		return nil, err
	}
	*f = d
	return d, nil
}
