// Package rootblobs is the single-node content store of tenants (blob.Store,
// blob.Content and blob.Disk, which are tenants.BlobStore, Blobs and LocalDisk) on the
// local disk: DATA/tenants/NAME/files/ holds each tenant's files at their paths
// (watched for edits made by hand), versions/ the kept versions by id, tmp/ the
// uploads in progress, and the file "head" the tenant's head mark. Every access goes through the tenant's *os.Root (symlinks never lead
// outside), and the platform calls are those of sync/fsys (renameat2, linkat, statfs,
// openat2 with RESOLVE_BENEATH on Linux).
package rootblobs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/tenants/blob"
)

// Store is the content of every tenant of one data dir.
type Store struct {
	dataDir string // absolute
	// flush merges the fsyncs of uploads' temp files and of group commits'
	// directories across all tenants (nil where the platform has no syncfs).
	flush *fsys.Flusher
}

var _ blob.Store = (*Store)(nil)

// New creates DATA/tenants (0700) and returns the store of the data dir dataDir.
func New(dataDir string) (*Store, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	if err := mkdirAllOS(filepath.Join(abs, "tenants")); err != nil {
		return nil, err
	}
	fl, err := fsys.NewFlusher(filepath.Join(abs, "tenants"))
	if err != nil {
		return nil, err
	}
	return &Store{dataDir: abs, flush: fl}, nil
}

func (st *Store) tenantDir(name string) string {
	return filepath.Join(st.dataDir, "tenants", name)
}

// Create makes DATA/tenants/NAME and its files/, versions/ and tmp/ (0700).
func (st *Store) Create(t blob.Tenant) error {
	for _, sub := range []string{"", "files", "versions", "tmp"} {
		if err := mkdirAllOS(filepath.Join(st.tenantDir(t.Name), sub)); err != nil {
			return err
		}
	}
	return nil
}

// Open creates the tenant's directories if missing and opens them.
func (st *Store) Open(t blob.Tenant) (blob.Content, error) {
	if err := st.Create(t); err != nil {
		return nil, err
	}
	return openTenant(st.tenantDir(t.Name), st.flush)
}

// Delete moves the tenant's directory aside first, so that the name is free at once,
// then removes it.
func (st *Store) Delete(t blob.Tenant) error {
	trash := filepath.Join(st.dataDir, "tenants", ".deleted-"+t.ID)
	if err := os.Rename(st.tenantDir(t.Name), trash); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(trash)
}

// RemoveVersion removes versions/ID of the tenant.
func (st *Store) RemoveVersion(t blob.Tenant, id, _ string) error {
	root, err := os.OpenRoot(filepath.Join(st.tenantDir(t.Name), "versions"))
	if err != nil {
		return nil // no versions directory: nothing to remove
	}
	defer root.Close()
	if err := root.Remove(id); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Free returns the bytes free on the data dir's file system (statfs).
func (st *Store) Free() (uint64, error) { return fsys.DiskFree(st.dataDir) }

// mkdirAllOS creates dir and its parents with mode 0700 on the host file system (for
// the data dir layout, outside any tenant root).
func mkdirAllOS(dir string) error {
	if err := os.MkdirAll(dir, blob.DirPerm); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: %w", dir, blob.ErrNotDir)
	}
	if fi.Mode().Perm() != blob.DirPerm {
		return os.Chmod(dir, blob.DirPerm)
	}
	return nil
}
