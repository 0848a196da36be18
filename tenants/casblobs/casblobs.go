// Package casblobs is tenants' content (blob.Store and blob.Content, which are
// tenants.BlobStore and Blobs) over a content-addressed object store keyed by tenant id
// and sha256 in the tenants/blobkey layout: tenants/s3blobs.Store or
// tenants/dirblobs.Store. Names live only in the index: publishing a file stores its
// content under its hash, a move or a directory changes nothing here, and a version is
// a reference to a hash. Uploads are written to a local temp directory first (the hash
// is known only at the end of the body). Content no index row refers to any more is
// left for the garbage collector (collect.go: Collector, over a Book that the index
// keeps), not removed here: another path or version may refer to the same hash. A cas
// store is no tenants.LocalDisk, so a space on it has no watcher and no reconcile with
// a disk.
package casblobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/tenants/blob"
	"github.com/syncspace/syncspace/tenants/blobkey"
)

// Objects is the content-addressed store: tenants/s3blobs.Store and
// tenants/dirblobs.Store implement it.
type Objects interface {
	Put(ctx context.Context, tenantID, sha256hex string, size int64, r io.Reader) error
	Open(ctx context.Context, tenantID, sha256hex string, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, tenantID, sha256hex string) (blobkey.Info, error)
	Delete(ctx context.Context, tenantID, sha256hex string) error
	List(ctx context.Context, tenantID string, fn func(blobkey.Info) error) error
	Tenants(ctx context.Context, fn func(tenantID string) error) error
}

// Store is every tenant's content in one object store.
type Store struct {
	obj    Objects
	book   Book          // nil: no collector's book (content is never collected)
	tmpDir string        // local: TMP/<tenant id>/<upload>
	stall  time.Duration // Options.StallTimeout
}

var _ blob.Store = (*Store)(nil)

// Options tune a Store; the zero value is the production setting.
type Options struct {
	// StallTimeout is how long a call to the object store or the book may go without
	// progress (no byte of the content read or delivered, no answer) before it is
	// given up: a store or database that stops answering fails the upload or the
	// download instead of holding it, and the tenant's commits behind it, for ever.
	// 0 means DefaultStallTimeout.
	StallTimeout time.Duration
}

// DefaultStallTimeout is Options.StallTimeout's default: the S3 client's own wait
// for an answer's headers, and limits.stream_stall's default.
const DefaultStallTimeout = time.Minute

// New returns the store over obj, with uploads in progress under the local directory
// tmpDir (created 0700). book records each blob before an upload stores it, for the
// garbage collector (Store.Collector); nil means none (then nothing may collect).
func New(obj Objects, book Book, tmpDir string, o Options) (*Store, error) {
	if err := os.MkdirAll(tmpDir, blob.DirPerm); err != nil {
		return nil, err
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	return &Store{obj: obj, book: book, tmpDir: tmpDir, stall: o.StallTimeout}, nil
}

func (st *Store) tenantTmp(t blob.Tenant) (string, error) {
	if _, err := blobkey.TenantPrefix(t.ID); err != nil {
		return "", err
	}
	return filepath.Join(st.tmpDir, t.ID), nil
}

// Create makes the tenant's local temp directory.
func (st *Store) Create(t blob.Tenant) error {
	dir, err := st.tenantTmp(t)
	if err != nil {
		return err
	}
	return os.MkdirAll(dir, blob.DirPerm)
}

// Open returns the tenant's content.
func (st *Store) Open(t blob.Tenant) (blob.Content, error) {
	if err := st.Create(t); err != nil {
		return nil, err
	}
	dir, _ := st.tenantTmp(t)
	return &Tenant{obj: st.obj, book: st.book, id: t.ID, tmp: dir, stall: st.stall}, nil
}

// Delete removes every blob of the tenant and its temp directory. Listing and each
// removal are given up once they go Options.StallTimeout without progress (watchdog):
// before session 26 a stalled store held the tenant's delete for ever.
func (st *Store) Delete(t blob.Tenant) error {
	w := newWatchdog(st.stall)
	defer w.stop()
	var hashes []string
	err := st.obj.List(w.ctx, t.ID, func(i blobkey.Info) error {
		w.progress()
		hashes = append(hashes, i.SHA256)
		return nil
	})
	if err != nil {
		return w.explain(err)
	}
	for _, h := range hashes {
		w.progress()
		if err := st.obj.Delete(w.ctx, t.ID, h); err != nil {
			return w.explain(err)
		}
	}
	dir, err := st.tenantTmp(t)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// RemoveVersion drops nothing: a version is a reference to its content, which the
// garbage collector removes when nothing refers to it.
func (st *Store) RemoveVersion(blob.Tenant, string, string) error { return nil }

// Free returns the bytes free for the local temp files of uploads.
func (st *Store) Free() (uint64, error) { return fsys.DiskFree(st.tmpDir) }

// Tenant is one tenant's content.
type Tenant struct {
	obj   Objects
	book  Book          // nil: none
	id    string        // the tenant's id: the blob keys' prefix
	tmp   string        // local temp directory of its uploads
	stall time.Duration // Options.StallTimeout
}

var _ blob.Content = (*Tenant)(nil)

// temp is an upload being written to a local file.
type temp struct {
	*os.File
}

// CreateTemp creates the local temp file name (0600).
func (t *Tenant) CreateTemp(name string) (blob.Temp, error) {
	f, err := os.OpenFile(filepath.Join(t.tmp, filepath.Base(name)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, blob.FilePerm)
	if err != nil {
		return nil, err
	}
	return temp{f}, nil
}

// SetModTime keeps t as the content's modification time: the index holds it.
func (temp) SetModTime(t time.Time) (time.Time, error) { return t, nil }

// RemoveTemp removes the local temp file name.
func (t *Tenant) RemoveTemp(name string) error {
	err := os.Remove(filepath.Join(t.tmp, filepath.Base(name)))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Batch returns a batch that stores each temp file under its hash.
func (t *Tenant) Batch() blob.Batch { return batch{t} }

type batch struct{ t *Tenant }

// Place records the blob hash in the book, then stores the temp file tmp as that blob
// and removes it; the content kept as version versionID is oldHash's blob, which
// stays. noReplace is the index's affair. The record comes first so that the garbage
// collector leaves the blob alone until the commit that refers to it (collect.go).
// Both are given up once they go Options.StallTimeout without progress (watchdog).
func (b batch) Place(tmp, _, hash, versionID, oldHash string, _ bool) (bool, error) {
	name := filepath.Join(b.t.tmp, filepath.Base(tmp))
	f, err := os.Open(name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	w := newWatchdog(b.t.stall)
	defer w.stop()
	if b.t.book != nil {
		if err := b.t.book.TouchBlob(w.ctx, b.t.id, hash, fi.Size()); err != nil {
			return false, w.explain(err)
		}
		w.progress()
	}
	if err := b.t.obj.Put(w.ctx, b.t.id, hash, fi.Size(), progressReader{f, w}); err != nil {
		return false, fmt.Errorf("store blob: %w", w.explain(err))
	}
	_ = os.Remove(name)
	return versionID != "" && oldHash != "", nil
}

// SyncDir and SyncVersions have nothing to do: Put is durable when it returns.
func (batch) SyncDir(string) error { return nil }
func (batch) SyncVersions() error  { return nil }
func (batch) Close()               {}

// Open reads the blob hash (p is the index's affair).
func (t *Tenant) Open(_, hash string) (io.ReadSeekCloser, error) { return t.open(hash) }

// OpenVersion reads the blob hash the version refers to.
func (t *Tenant) OpenVersion(_, hash string) (io.ReadSeekCloser, error) { return t.open(hash) }

func (t *Tenant) open(hash string) (io.ReadSeekCloser, error) {
	w := newWatchdog(t.stall)
	info, err := t.obj.Stat(w.ctx, t.id, hash)
	w.stop()
	if err != nil {
		err = w.explain(err)
		if errors.Is(err, blobkey.ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", os.ErrNotExist, err)
		}
		return nil, err
	}
	return &reader{t: t, hash: hash, size: info.Size, stall: t.stall}, nil
}

// Names only: directories, removals and moves change nothing in the object store.
func (t *Tenant) Mkdir(string) (bool, error)               { return false, nil }
func (t *Tenant) MkdirAll(string) error                    { return nil }
func (t *Tenant) Remove(string) error                      { return nil }
func (t *Tenant) RemoveAll(string) error                   { return nil }
func (t *Tenant) SyncDir(string) error                     { return nil }
func (t *Tenant) Move(string, string, bool) error          { return nil }
func (t *Tenant) KeepVersion(string, string, string) error { return nil }
func (t *Tenant) SyncVersions() error                      { return nil }
func (t *Tenant) RestoreVersion(string, string, string, bool) error {
	return nil
}

// Temps lists the local temp files.
func (t *Tenant) Temps() ([]string, error) {
	ents, err := os.ReadDir(t.tmp)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

// Versions are references to content, listed by the index only.
func (t *Tenant) Versions() ([]string, error) {
	return nil, fmt.Errorf("casblobs: listing versions: %w", errors.ErrUnsupported)
}

// RemoveTempAll removes the local temp file name.
func (t *Tenant) RemoveTempAll(name string) error {
	return os.RemoveAll(filepath.Join(t.tmp, filepath.Base(name)))
}

// RemoveVersionAll drops nothing (see Store.RemoveVersion).
func (t *Tenant) RemoveVersionAll(string) error { return nil }

// Close has nothing to release.
func (t *Tenant) Close() error { return nil }
