package index

import (
	"context"
	"errors"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// ErrNoVersion is Version's error for a version the index does not hold.
var ErrNoVersion = errors.New("index: no such version")

// Entry is one entry of a tenant's index: a file or a directory.
type Entry struct {
	Path     string
	IsDir    bool
	Size     int64
	Hash     string
	Modified time.Time
	Seq      int64 // the change that last wrote it
}

// Meta returns e as wire metadata.
func (e *Entry) Meta() protocol.Metadata {
	return protocol.Metadata{Path: e.Path, Size: e.Size, Modified: e.Modified, Hash: e.Hash, IsDirectory: e.IsDir, Seq: e.Seq}
}

// DeletedFile is a deleted path with its newest kept version.
type DeletedFile struct {
	Path, Version string
	DeletedAt     time.Time
	Size          int64
	Hash          string
}

// Reader answers point reads of one tenant's index, each on its own (no shared
// snapshot). Entries are matched by fold key (pathrule.FoldKey) unless said.
type Reader interface {
	// Lookup returns the entry whose path has p's fold key (nil if none).
	Lookup(ctx context.Context, id, p string) (*Entry, error)
	// LookupMany is Lookup of several paths, by fold key; absent paths are missing.
	LookupMany(ctx context.Context, id string, paths []string) (map[string]*Entry, error)
	// Children returns the entries whose parent is exactly dir ("" = the root).
	Children(ctx context.Context, id, dir string) ([]*Entry, error)
	// Subtree returns the entries strictly under dir, ordered by path.
	Subtree(ctx context.Context, id, dir string) ([]*Entry, error)
	// ChangeBounds returns the oldest seq the change log keeps (0 if empty) and the
	// head seq.
	ChangeBounds(ctx context.Context, id string) (oldest, head int64, err error)
	// ChangedAfter reports whether an event after seq touched p or a path under it,
	// or deleted or moved an ancestor of p.
	ChangedAfter(ctx context.Context, id, p string, seq int64) (bool, error)
	// Versions returns the versions kept of p (by fold key) replaced at or after
	// since, newest first.
	Versions(ctx context.Context, id, p string, since time.Time) ([]protocol.Version, error)
	// DeletedPage returns, by fold key, the paths under dir ("" = all) deleted at or
	// after since that have no entry now, each with its newest deleted version: those
	// whose fold key is after after ("" = from the start), in fold-key order, at most
	// n of them, read without sorting more than the page. next is the fold key of the
	// last path given, where the following page starts; done says none follows.
	DeletedPage(ctx context.Context, id, dir string, since time.Time, after string, n int) (page []DeletedFile, next string, done bool, err error)
	// Version returns the kept version versionID of p (Path, Size, Hash, Modified);
	// ErrNoVersion if there is none.
	Version(ctx context.Context, id, versionID, p string) (protocol.Metadata, error)
}

// ChangesPage is a page of a tenant's change log, read in one snapshot.
type ChangesPage struct {
	Epoch  string
	Head   int64
	Oldest int64 // oldest seq kept (0: the log is empty)
	Events []protocol.Event
	More   bool // events after the last one returned exist
}

// Viewer reads in one consistent snapshot.
type Viewer interface {
	// Changes returns the head and up to limit events after since, in seq order, in
	// one snapshot; ErrNoTenant if none.
	Changes(ctx context.Context, id string, since int64, limit int) (ChangesPage, error)
	// View runs fn in one read snapshot of the tenant's index.
	View(ctx context.Context, id string, fn func(View) error) error
}

// View is a read snapshot of one tenant's index (see Viewer.View).
type View interface {
	// Head returns the epoch and head seq; ErrNoTenant if none.
	Head() (epoch string, head int64, err error)
	// Lookup is Reader.Lookup in the snapshot.
	Lookup(p string) (*Entry, error)
	// ListPage returns up to n entries under dir (one level, or every depth when
	// recursive) after the path after, by path, as they were at seq snap (the undo
	// rows of index.WriteOptions.KeepUndo answer for changes after snap). next is the
	// last path covered; done says nothing follows.
	ListPage(dir string, recursive bool, snap int64, after string, n int) (page []*Entry, next string, done bool, err error)
}

// ErrUndoHeld is Maintenance.PruneUndo's error when a listing on another node may
// still need the tenant's undo rows (UndoLeaser): nothing was pruned; try again later.
var ErrUndoHeld = errors.New("index: undo rows held by an open listing")

// UndoLeaser is implemented by an index that several nodes write (tenants/pgindex): a
// paged listing on one node leases the tenant's undo rows so that every node's writes
// keep them (whatever index.WriteOptions.KeepUndo says) and none prunes or clears them
// while the lease runs.
type UndoLeaser interface {
	// LeaseUndo makes every writer of the tenant keep undo rows from now on, and
	// keeps them, for at least d from the moment it is called.
	LeaseUndo(ctx context.Context, id string, d time.Duration) error
}

// VersionRef names one kept version.
type VersionRef struct{ TenantID, TenantName, ID string }

// Maintenance is the index's upkeep.
type Maintenance interface {
	// PruneUndo drops the tenant's undo rows that died at or before bound; ErrUndoHeld
	// if a lease (UndoLeaser) keeps them.
	PruneUndo(ctx context.Context, id string, bound int64) error
	// ClearUndo drops every undo row of the tenant, unless a lease (UndoLeaser) keeps
	// them.
	ClearUndo(ctx context.Context, id string) error
	// PruneChanges drops, of every tenant, the change-log rows more than keep behind
	// its head.
	PruneChanges(ctx context.Context, keep int64) error
	// OldestVersions returns up to limit versions replaced before before (zero: any
	// time), of the tenant id ("" = of every tenant), oldest first.
	OldestVersions(ctx context.Context, id string, before time.Time, limit int) ([]VersionRef, error)
	// DeleteVersions forgets the versions refs (their content is removed first).
	DeleteVersions(ctx context.Context, refs []VersionRef) error
	// Maintain runs the index's periodic upkeep (a WAL checkpoint on SQLite).
	Maintain(ctx context.Context)
	// Ping reports whether the index's database answers (a node's readiness).
	Ping(ctx context.Context) error
	// Close releases what the index holds; it does not close a database it was given.
	Close()
}

// Head is a tenant's position: its epoch and the seq of its last event, and where
// the index keeps them with the head (HeadReader), its counters.
type Head struct {
	Epoch string
	Seq   int64
	// Used and Entries are the bytes of the tenant's files and its number of entries
	// as of Seq (HeadReader only).
	Used, Entries int64
}

// HeadReader is implemented by an index that reads many tenants' heads in one query
// (the registry's once-a-second head check in cluster mode); without it the registry
// reads them one by one (Recovery.LoadHead). Its head rows keep the counters exact in
// every write, so a node of a cluster also reads them there (Recovery.Usage counts
// the entries) before it refuses a write over the quota or the entry limit: other
// nodes' commits change them too.
type HeadReader interface {
	// Heads returns the heads of the tenants ids, counters included; ids with no
	// tenant are missing.
	Heads(ctx context.Context, ids []string) (map[string]Head, error)
}
