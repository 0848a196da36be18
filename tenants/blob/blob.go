// Package blob holds the values that tenants' content-store interfaces (tenants.Blobs,
// tenants.LocalDisk) share with their adapters (tenants/rootblobs on a tenant's
// directory): the errors a store reports and the handles it returns for an upload's
// temp file and for one group commit.
package blob

import (
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
)

// Permissions of everything a disk store creates, whatever the umask.
const (
	DirPerm  fs.FileMode = 0o700
	FilePerm fs.FileMode = 0o600
)

// ErrNotDir reports a path whose directory (or a parent) is not a real directory on
// the store: a file or a symlink is there.
var ErrNotDir = errors.New("not a directory")

// ErrUnstable reports a file that changed while it was hashed.
var ErrUnstable = errors.New("file changed while hashed")

// Temp is an upload's temp file being written. The caller writes the body, sets its
// modification time, syncs and closes it; the temp file then waits, under its name,
// for a Batch to publish it (or for RemoveTemp).
type Temp interface {
	io.Writer
	// SetModTime stores t as the content's modification time and returns the time as
	// stored (the store's resolution).
	SetModTime(t time.Time) (time.Time, error)
	// Sync makes the written content durable.
	Sync() error
	Close() error
}

// SharedSync is a Temp whose Sync can share one flush with other files' (a small
// upload's: fsys.Flusher, where concurrent requests are one syncfs). Equally durable;
// for small files only, since a shared flush waits for what the others' need.
type SharedSync interface {
	SyncShared() error
}

// Writeback is a Temp that can start writing what was written so far to its device
// before Sync (a large upload's final fsync then has less to wait for). It makes
// nothing durable.
type Writeback interface {
	// StartWriteback starts, without waiting, the write of the bytes [off, off+n).
	StartWriteback(off, n int64)
}

// Batch is one group commit's access to the store: it publishes temp files at their
// paths without fsyncs, then syncs the directories they changed, all at once.
type Batch interface {
	// Place keeps the current content at p (of hash oldHash) as version versionID if
	// versionID is not "" (kept false when nothing was there to keep), and publishes
	// the temp file tmp (of hash hash) at p; with noReplace an existing p fails with
	// fs.ErrExist. On error nothing is kept.
	Place(tmp, p, hash, versionID, oldHash string, noReplace bool) (kept bool, err error)
	// SyncDir makes the names in the directory dir ("" = the root) durable. Safe for
	// concurrent use.
	SyncDir(dir string) error
	// SyncVersions makes the versions kept by Place durable. Safe for concurrent use.
	SyncVersions() error
	// Close releases what the batch holds open.
	Close()
}

// BatchQueue is a Batch whose syncs can be queued first and waited for later: each
// queues its flush without waiting and returns the function that waits for it (which
// the caller must call, exactly once). The syncs of several batches, all queued
// before the first is waited for, then share one flush (fsys.Flusher.Queue).
type BatchQueue interface {
	QueueSyncDir(dir string) (wait func() error)
	QueueSyncVersions() (wait func() error)
}

// BatchMark is a Batch that describes a name under files/ through the directory it
// holds open for it (one system call, no walk from the root): the disk state a
// commit left, for the watcher's own-write marks. A missing name fails with an error
// matching fs.ErrNotExist; errors.ErrUnsupported asks the caller to look by path.
type BatchMark interface {
	Mark(p string) (fsys.Mark, error)
}

// Tenant names a tenant to a Store: a disk store keeps its content by name
// (DATA/tenants/NAME), a content-addressed one by its immutable id.
type Tenant struct{ Name, ID string }

// Store holds every tenant's content (tenants.BlobStore). Tenants are named by name;
// content by path and, where it is addressed, by its sha256 too, so that a
// content-addressed store can serve it.
type Store interface {
	// Create makes the place of a new tenant's content (idempotent).
	Create(t Tenant) error
	// Open opens the tenant's content store (creating its place if missing).
	Open(t Tenant) (Content, error)
	// Delete removes all of the tenant's content. A tenant without content is no
	// error.
	Delete(t Tenant) error
	// RemoveVersion removes version id of the tenant; a missing one is no error. hash
	// is its content's sha256, or "" when the caller does not know it (pruning: a
	// content-addressed store then drops only the reference and collects content
	// that nothing refers to on its own).
	RemoveVersion(t Tenant, id, hash string) error
	// Free returns the bytes free for new content (limits.MinFreeDisk).
	Free() (uint64, error)
}

// Content is one tenant's content (tenants.Blobs): the files at their paths, the temp
// files of uploads in progress and the kept versions. Paths are clean tenant paths
// ("" = the root). Everything that changes the tree is durable when it returns, except
// what a Batch does (it syncs at its end), Mkdir and KeepVersion (the caller calls
// SyncDir, SyncVersions). A disk store also implements Disk.
type Content interface {
	// CreateTemp creates the temp file name for an upload.
	CreateTemp(name string) (Temp, error)
	// RemoveTemp removes the temp file name (a missing one is no error).
	RemoveTemp(name string) error
	// Batch starts one group commit's placing of temp files (Batch.Close ends it).
	Batch() Batch

	// Open opens the regular file at p, of content hash, for reading and ranges; an
	// error matching fs.ErrNotExist when there is none. The disk store returns an
	// *os.File, which the HTTP server sends with sendfile.
	Open(p, hash string) (io.ReadSeekCloser, error)
	// OpenVersion opens the content of version id (of content hash).
	OpenVersion(id, hash string) (io.ReadSeekCloser, error)

	// Mkdir creates the directory p (its parent exists) without syncing its parent;
	// created is false when a real directory was there already; anything else there
	// is ErrNotDir.
	Mkdir(p string) (created bool, err error)
	// MkdirAll creates the directory p and its parents (to undo a removal).
	MkdirAll(p string) error
	// Remove removes the file or empty directory p; RemoveAll p and its subtree.
	Remove(p string) error
	RemoveAll(p string) error
	// SyncDir makes the names in the directory dir durable.
	SyncDir(dir string) error
	// Move renames the file or subtree from to to (noReplace: to must not exist, else
	// fs.ErrExist) and makes both directories durable. A content-addressed store only
	// moves names.
	Move(from, to string, noReplace bool) error

	// KeepVersion takes the file at p (of content hash) out of the tree as version id,
	// without syncing; fs.ErrNotExist when p is not there.
	KeepVersion(p, hash, id string) error
	// SyncVersions makes the versions kept durable.
	SyncVersions() error
	// RestoreVersion puts version id (of content hash) back at p, durably, and the
	// version is no longer kept (noReplace: p must not exist).
	RestoreVersion(id, hash, p string, noReplace bool) error
	// Temps and Versions list the temp files and the versions kept (recovery drops
	// what no upload or index row owns); RemoveTempAll and RemoveVersionAll drop one.
	// A store that cannot list its versions (they are references to content)
	// returns an error matching errors.ErrUnsupported from Versions.
	Temps() ([]string, error)
	Versions() ([]string, error)
	RemoveTempAll(name string) error
	RemoveVersionAll(id string) error

	// Close releases the store's handles; later calls fail.
	Close() error
}

// Disk is what the watcher and recovery read from a store whose files are on this
// machine's disk, where people may change them by hand (tenants.LocalDisk).
type Disk interface {
	// Lstat describes p without following a symlink.
	Lstat(p string) (fs.FileInfo, error)
	// ReadDir lists the directory dir ("" = the root), which must be a real directory
	// (else ErrNotDir); ReadDirNames only names its entries.
	ReadDir(dir string) ([]fs.DirEntry, error)
	ReadDirNames(dir string) ([]string, error)
	// HashStable returns the sha256 (hex) of the regular file p and what it looked like
	// while hashed; ErrUnstable if its size, mtime or identity changed meanwhile.
	HashStable(p string) (string, fs.FileInfo, error)
	// WatchRoot is the absolute host path of the tenant's files, for fsnotify.
	WatchRoot() string
	// ReadHeadMark and WriteHeadMark read and replace (atomically, without fsync) the
	// tenant's head mark (headmark.go); RemoveHeadTemps drops temp files a crash left
	// from writing it.
	ReadHeadMark() ([]byte, error)
	WriteHeadMark(b []byte) error
	RemoveHeadTemps()
}
