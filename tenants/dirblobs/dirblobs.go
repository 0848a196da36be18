// Package dirblobs is a content-addressed blob store on a directory every cluster
// node mounts (NFS, say): blobs live at DIR/t/<tenant id>/sha256/<h[0:2]>/<h>, written
// atomically (temp file in DIR/tmp, fsync, verify, rename, fsync the directory) so a
// blob is visible only complete and with the announced content. Every access goes
// through one *os.Root on DIR.
package dirblobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/tenants/blobkey"
)

// tmpDir holds uploads in progress, on the same file system as the blobs.
const tmpDir = "tmp"

// Store is a blob store on one directory. Its methods are safe for concurrent use, by
// several goroutines and by several nodes sharing the directory.
type Store struct {
	dir  string
	root *os.Root
}

// Open opens the store at dir (an absolute path), creating it (0700) when create is
// true and it is missing.
func Open(dir string, create bool) (*Store, error) {
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("dirblobs: %w", err)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("dirblobs: %w", err)
	}
	if err := root.MkdirAll(tmpDir, 0o700); err != nil {
		root.Close()
		return nil, fmt.Errorf("dirblobs: %w", err)
	}
	return &Store{dir: dir, root: root}, nil
}

// Close releases the directory.
func (s *Store) Close() error { return s.root.Close() }

// Put stores size bytes of r as the tenant's blob sha256hex. The content is verified
// before the blob becomes visible: another hash or size is blobkey.ErrMismatch and
// stores nothing. A blob already stored is not written again (r is not read).
func (s *Store) Put(ctx context.Context, tenantID, sha256hex string, size int64, r io.Reader) error {
	key, err := blobkey.Key(tenantID, sha256hex)
	if err != nil {
		return err
	}
	if fi, err := s.root.Stat(key); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
		return nil
	}
	tmp, err := s.writeTemp(ctx, sha256hex, size, r)
	if err != nil {
		return err
	}
	defer s.root.Remove(tmp) // after a successful rename: already gone
	dir := path.Dir(key)
	_, statErr := s.root.Stat(dir)
	if err := s.root.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("dirblobs: %w", err)
	}
	if err := s.root.Rename(tmp, key); err != nil {
		return fmt.Errorf("dirblobs: %w", err)
	}
	// The rename is durable once the directory is; directories created just now must
	// reach their parents too.
	for d := dir; ; d = path.Dir(d) {
		if err := fsys.SyncDir(filepath.Join(s.dir, filepath.FromSlash(d))); err != nil {
			return fmt.Errorf("dirblobs: %w", err)
		}
		if statErr == nil || d == "." {
			break
		}
	}
	return nil
}

// writeTemp writes r into a new file of tmp/, fsyncs and verifies it, and returns its
// name.
func (s *Store) writeTemp(ctx context.Context, sha256hex string, size int64, r io.Reader) (_ string, err error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	name := path.Join(tmpDir, sha256hex[:16]+"-"+hex.EncodeToString(rnd[:]))
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("dirblobs: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			s.root.Remove(name)
		}
	}()
	v := blobkey.NewVerifier(ctxReader{ctx, r}, sha256hex, size)
	if _, err := io.Copy(f, v); err != nil {
		return "", fmt.Errorf("dirblobs: write: %w", err)
	}
	if err := v.Verify(); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("dirblobs: fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("dirblobs: %w", err)
	}
	return name, nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Open reads length bytes of the blob from offset (length < 0: to the end).
func (s *Store) Open(_ context.Context, tenantID, sha256hex string, offset, length int64) (io.ReadCloser, error) {
	key, err := blobkey.Key(tenantID, sha256hex)
	if err != nil {
		return nil, err
	}
	f, err := s.root.Open(key)
	if err != nil {
		return nil, mapErr(err)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("dirblobs: %w", err)
		}
	}
	if length < 0 {
		return f, nil
	}
	return limitedFile{io.LimitReader(f, length), f}, nil
}

type limitedFile struct {
	io.Reader
	io.Closer
}

// Stat describes the blob.
func (s *Store) Stat(_ context.Context, tenantID, sha256hex string) (blobkey.Info, error) {
	key, err := blobkey.Key(tenantID, sha256hex)
	if err != nil {
		return blobkey.Info{}, err
	}
	fi, err := s.root.Stat(key)
	if err != nil {
		return blobkey.Info{}, mapErr(err)
	}
	return blobkey.Info{TenantID: tenantID, SHA256: sha256hex, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// Delete removes the blob; a missing blob is not an error.
func (s *Store) Delete(_ context.Context, tenantID, sha256hex string) error {
	key, err := blobkey.Key(tenantID, sha256hex)
	if err != nil {
		return err
	}
	if err := s.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dirblobs: %w", err)
	}
	return nil
}

// List calls fn for each blob of the tenant, in key order, until fn returns an error
// (which List returns). For the garbage collector.
func (s *Store) List(ctx context.Context, tenantID string, fn func(blobkey.Info) error) error {
	prefix, err := blobkey.TenantPrefix(tenantID)
	if err != nil {
		return err
	}
	top := path.Clean(prefix)
	if _, err := s.root.Stat(top); errors.Is(err, fs.ErrNotExist) {
		return nil // no blob yet
	}
	return fs.WalkDir(s.root.FS(), top, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while listing
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		id, h, err := blobkey.Parse(p)
		if err != nil {
			return nil // not a blob (a stray file): leave it
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while listing
		}
		if err != nil {
			return err
		}
		return fn(blobkey.Info{TenantID: id, SHA256: h, Size: fi.Size(), Modified: fi.ModTime()})
	})
}

// Tenants calls fn with the id of each tenant that has a directory under t/, in name
// order, until fn returns an error (which Tenants returns). For the garbage collector,
// which also removes the blobs of deleted tenants.
func (s *Store) Tenants(ctx context.Context, fn func(tenantID string) error) error {
	ents, err := fs.ReadDir(s.root.FS(), "t")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dirblobs: %w", err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := blobkey.TenantPrefix(e.Name()); err != nil || !e.IsDir() {
			continue // not a tenant's directory: leave it
		}
		if err := fn(e.Name()); err != nil {
			return err
		}
	}
	return nil
}

// SweepTemps removes the files of tmp/ last written before before, which uploads of a
// node that died in the middle left, and returns how many it removed
// (casblobs.TempSweeper, for the garbage collector).
func (s *Store) SweepTemps(ctx context.Context, before time.Time) (int64, error) {
	ents, err := fs.ReadDir(s.root.FS(), tmpDir)
	if err != nil {
		return 0, fmt.Errorf("dirblobs: %w", err)
	}
	var n int64
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(before) {
			continue // gone meanwhile (its upload ended), or still being written
		}
		if err := s.root.Remove(path.Join(tmpDir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("dirblobs: %w", err)
		}
		n++
	}
	return n, nil
}

func mapErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dirblobs: %w", blobkey.ErrNotFound)
	}
	return fmt.Errorf("dirblobs: %w", err)
}
