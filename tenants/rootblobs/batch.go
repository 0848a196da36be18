package rootblobs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/tenants/blob"
)

// fileDir returns the directory dir under files/, opened once per batch (through the
// root, refusing symlinks); files/ itself is the Tenant's, kept open.
func (b *batch) fileDir(dir string) (*os.File, error) {
	if dir == "" {
		return b.t.rootDir(&b.t.fsDir, b.t.files)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if f, ok := b.fileDirs[dir]; ok {
		return f, nil
	}
	f, err := b.t.openFileDir(dir)
	if err != nil {
		return nil, err
	}
	b.fileDirs[dir] = f
	return f, nil
}

// openFileDir opens files/DIR (not "") in one openat2 beneath files/ that refuses
// every symlink (fsys.OpenDirBeneath), else through the root (openDir: lstat, open,
// fstat).
func (t *Tenant) openFileDir(dir string) (*os.File, error) {
	t.fdMu.RLock()
	f, ok, err := fsys.OpenDirBeneath(t.filesFD, dir, filepath.Join(t.dir, "files", filepath.FromSlash(dir)))
	t.fdMu.RUnlock()
	if !ok {
		return openDir(t.files, dir)
	}
	if fsys.IsNotDir(err) {
		return nil, fmt.Errorf("%s: %w", dir, blob.ErrNotDir)
	}
	return f, err
}

// Close closes the directories the batch opened.
func (b *batch) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.fileDirs {
		f.Close()
	}
}

// Place keeps the current content of p as version id (if id != "", by a hard link
// into versions/) and renames tmp/TMP to files/P (noReplace: p must not exist),
// without fsyncs.
func (b *batch) Place(tmpName, p, _, id, _ string, noReplace bool) (kept bool, err error) {
	dst, err := b.fileDir(pathrule.Parent(p))
	if err != nil {
		return false, err
	}
	if id != "" {
		vd, err := b.t.rootDir(&b.t.versionsDir, b.t.versions)
		if err != nil {
			return false, err
		}
		if err := fsys.LinkAt(dst, pathrule.Base(p), vd, id); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return false, fmt.Errorf("keep version: %w", err)
			}
			// The old file vanished from disk: nothing to keep.
		} else {
			kept = true
		}
	}
	td, err := b.t.rootDir(&b.t.tmpDir, b.t.tmp)
	if err == nil {
		err = renameAt(td, tmpName, dst, p, noReplace)
	}
	if err != nil && kept {
		_ = b.t.versions.Remove(id)
		kept = false
	}
	return kept, err
}

// Mark describes files/P by an fstatat in its directory, opened through the root
// once per batch (fsys.MarkAt).
func (b *batch) Mark(p string) (fsys.Mark, error) {
	dir, err := b.fileDir(pathrule.Parent(p))
	if err != nil {
		return fsys.Mark{}, err
	}
	return fsys.MarkAt(dir, pathrule.Base(p))
}

// SyncDir fsyncs files/DIR.
func (b *batch) SyncDir(dir string) error {
	f, err := b.fileDir(dir)
	if err != nil {
		return err
	}
	return b.t.flush.Sync(f)
}

// QueueSyncDir queues the fsync of files/DIR (blob.BatchQueue).
func (b *batch) QueueSyncDir(dir string) func() error {
	f, err := b.fileDir(dir)
	if err != nil {
		return func() error { return err }
	}
	return b.t.flush.Queue(f).Wait
}

// QueueSyncVersions queues the fsync of versions/ (blob.BatchQueue).
func (b *batch) QueueSyncVersions() func() error {
	d, err := b.t.rootDir(&b.t.versionsDir, b.t.versions)
	if err != nil {
		return func() error { return err }
	}
	return b.t.flush.Queue(d).Wait
}

// SyncVersions fsyncs versions/.
func (b *batch) SyncVersions() error {
	d, err := b.t.rootDir(&b.t.versionsDir, b.t.versions)
	if err != nil {
		return err
	}
	return b.t.flush.Sync(d)
}
