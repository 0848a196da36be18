package tenants

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/blob"
	"github.com/syncspace/syncspace/tenants/index"
)

// Source says who made a change: the event's source_client and source_subject. The
// zero value is a change detected on the server's disk.
type Source struct{ ClientID, Subject string }

// Space is one tenant's file store, index and change log. It is safe for concurrent
// use. Obtain it from Registry.Space; it stays valid until the tenant is deleted or the
// registry closed, after which every call fails.
type Space struct {
	reg  *Registry
	rc   *reconciler // recovery, reconciling, own writes, head mark, watcher
	cm   *committer  // checks and commits writes
	snap *snapshots  // listings' snapshots and undo rows
	name string
	id   string
	log  *slog.Logger

	// blobs is the tenant's content; use it only holding mu (Open: shared) and after
	// checking closed, which close sets before it closes blobs under mu. disk is blobs
	// as a LocalDisk, nil if it is none (no watcher, no reconcile with the disk).
	blobs Blobs
	disk  LocalDisk

	// mu is the commit section: writers hold it exclusively while they change the
	// disk and commit; Open holds it shared so that index and content agree.
	mu sync.RWMutex

	// hmu guards the fields below.
	hmu      sync.Mutex
	epoch    string
	seq      int64
	used     int64 // bytes of current files
	entries  int64 // files + directories
	reserved int64 // bytes reserved by uploads in progress
	// pendingUsed and pendingEntries count what a batch of the group commit has put
	// on disk but not yet committed (growth only), so that limits hold meanwhile.
	pendingUsed    int64
	pendingEntries int64
	tenant         Tenant
	closed         bool
	// cgen counts the starts and ends of the space's index writes, cbusy those in
	// progress (counts.go: recount).
	cgen  uint64
	cbusy int

	w     *watcher   // nil until startWatcher
	start startCheck // the start-up check of the disk (startcheck.go)

	meta metaCache // hot index entries (metacache.go); single node only

	gc groupCommit // batches concurrent Puts into one commit

	own      ownMarks    // disk state left by syncd's own recent writes (own.go)
	verified verifiedSet // files whose mtime changed on disk but not their content
	skipMu   sync.Mutex
	skipped  map[string]bool // disk paths already logged as skipped

	markMu sync.Mutex // serialises head mark writes (headmark.go)
	marked headMark   // the head last written to the mark; guarded by markMu

	// Paged listings open now (snapshot.go): snaps counts them by snapshot seq
	// (guarded by hmu); snapCount is their number, read by writers to decide whether
	// to keep undo rows; undoDirty says undo rows may be left to prune.
	snaps     map[int64]int
	snapCount atomic.Int32
	undoDirty atomic.Bool
}

// entry is one index entry.
type entry = index.Entry

// openSpace opens t's space and runs its start-up recovery; deferCheck leaves the
// comparison of the disk with the index to the watcher's first scan (startcheck.go).
func (r *Registry) openSpace(ctx context.Context, t Tenant, deferCheck bool) (*Space, error) {
	b, err := r.blobs.Open(blob.Tenant{Name: t.Name, ID: t.ID})
	if err != nil {
		return nil, internal("open space", err)
	}
	s := &Space{reg: r, name: t.Name, id: t.ID, tenant: t, log: r.log.With("tenant", t.Name), blobs: b}
	s.disk, _ = b.(LocalDisk)
	s.rc, s.cm, s.snap = &reconciler{s}, &committer{s}, &snapshots{s}
	s.gc.arrived = make(chan struct{}, 1)
	if deferCheck && s.disk != nil {
		s.start.deferCheck()
	}
	if err := s.rc.recover(ctx); err != nil {
		s.blobs.Close()
		return nil, wrapInternal("recover space", err)
	}
	return s, nil
}

func (s *Space) close() {
	s.hmu.Lock()
	if s.closed {
		s.hmu.Unlock()
		return
	}
	s.closed = true
	w := s.w
	s.hmu.Unlock()
	if w != nil {
		w.stop()
	}
	s.reg.seq.untrack(s.id, s)
	s.mu.Lock() // wait for a commit in progress
	s.rc.writeHeadMark(true)
	s.blobs.Close()
	s.mu.Unlock()
}

func (s *Space) isClosed() bool {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.closed
}

func (s *Space) setTenant(t Tenant) {
	s.hmu.Lock()
	s.tenant = t
	s.hmu.Unlock()
}

// Name returns the tenant's name.
func (s *Space) Name() string { return s.name }

// ID returns the tenant's immutable id.
func (s *Space) ID() string { return s.id }

// Head returns the current epoch and the seq of the last committed change (0 if none).
func (s *Space) Head() (epoch string, seq int64) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return s.epoch, s.seq
}

// limits returns the effective limits: the tenant's own, else the server's.
func (s *Space) limits() (quota, maxFile, maxEntries int64) {
	s.start.waitCounted() // limits are checked against the counters
	s.hmu.Lock()
	t := s.tenant
	s.hmu.Unlock()
	quota, maxFile, maxEntries = t.Quota, t.MaxFileSize, t.MaxEntries
	if maxFile == 0 {
		maxFile = s.reg.limits.MaxFileSize
	}
	if maxEntries == 0 {
		maxEntries = s.reg.limits.MaxEntries
	}
	return
}

// Usage returns the bytes of current files, the quota, the number of entries and the
// entry limit (zero = unlimited).
func (s *Space) Usage(ctx context.Context) (protocol.Usage, error) {
	if err := s.alive(); err != nil {
		return protocol.Usage{}, err
	}
	quota, _, maxEntries := s.limits()
	if !s.reg.inProcess {
		// Other nodes commit too (cluster mode): the index's head row is the truth,
		// this node's counters know only its own commits.
		used, entries, err := s.reg.index.Usage(ctx, s.id)
		if err != nil {
			return protocol.Usage{}, internal("usage", err)
		}
		return protocol.Usage{Used: used, Quota: quota, Entries: entries, MaxEntries: maxEntries}, nil
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	return protocol.Usage{Used: s.used, Quota: quota, Entries: s.entries, MaxEntries: maxEntries}, nil
}

func (s *Space) alive() error {
	if s.isClosed() {
		return protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	return nil
}

func (s *Space) writable() error {
	if err := s.alive(); err != nil {
		return err
	}
	if s.reg.limits.ReadOnly {
		return protocol.Errorf(protocol.CodeForbidden, "the server is read-only")
	}
	return nil
}

// lookup returns the index entry whose name equals p under case folding (nil if none).
// On a single node it is answered from memory when it can (metaCache); in a cluster,
// where other nodes commit too, it always reads the index.
func (s *Space) lookup(ctx context.Context, p string) (*entry, error) {
	if !s.reg.inProcess {
		e, err := s.reg.index.Lookup(ctx, s.id, p)
		if err != nil {
			return nil, internal("read index", err)
		}
		return e, nil
	}
	k := pathrule.FoldKey(p)
	e, ok, gen := s.meta.get(k)
	if ok {
		return cloneEntry(e), nil
	}
	e, err := s.reg.index.Lookup(ctx, s.id, p)
	if err != nil {
		return nil, internal("read index", err)
	}
	s.meta.fill(k, cloneEntry(e), gen)
	return e, nil
}

// lookupExact is lookup that treats a name differing in case as absent.
func (s *Space) lookupExact(ctx context.Context, p string) (*entry, error) {
	e, err := s.lookup(ctx, p)
	if e != nil && e.Path != p {
		return nil, err
	}
	return e, err
}

// Stat returns the metadata of the file or directory at path (not_found if none).
func (s *Space) Stat(ctx context.Context, path string) (protocol.Metadata, error) {
	p, err := pathrule.Clean(path)
	if err != nil {
		return protocol.Metadata{}, err
	}
	if err := s.alive(); err != nil {
		return protocol.Metadata{}, err
	}
	s.rc.checkName(ctx, p)
	e, err := s.lookupExact(ctx, p)
	if err != nil {
		return protocol.Metadata{}, err
	}
	if e == nil {
		return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "no such file")
	}
	return e.Meta(), nil
}

// Open opens the regular file at path for reading and ranges (Blobs.Open: an *os.File
// on the local disk) and returns it with its metadata; the content matches the
// metadata. not_found for a missing path or a directory. The caller closes the file.
func (s *Space) Open(ctx context.Context, path string) (io.ReadSeekCloser, protocol.Metadata, error) {
	p, err := pathrule.Clean(path)
	if err != nil {
		return nil, protocol.Metadata{}, err
	}
	if err := s.alive(); err != nil {
		return nil, protocol.Metadata{}, err
	}
	s.rc.checkName(ctx, p)
	s.mu.RLock()
	defer s.mu.RUnlock()
	// Checked again holding mu: close closes blobs only under mu, after setting
	// closed.
	if err := s.alive(); err != nil {
		return nil, protocol.Metadata{}, err
	}
	e, err := s.lookupExact(ctx, p)
	if err != nil {
		return nil, protocol.Metadata{}, err
	}
	if e == nil || e.IsDir {
		return nil, protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "no such file")
	}
	f, err := s.blobs.Open(p, e.Hash)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "no such file")
		}
		return nil, protocol.Metadata{}, internal("open file", err)
	}
	return f, e.Meta(), nil
}

// StatFile returns the metadata Open would return for the regular file at path, with
// the same errors (not_found for a missing path or a directory), for a HEAD. On a
// single node whose files are on the local disk it answers from the index entry (from
// memory when cached: see metaCache) without opening the file, since the headers of a
// download come from the entry alone and the commit section changes entry and file
// together; elsewhere (cluster, remote blobs) it opens and closes the content, as a
// download would, so that a blob the index names but the store lacks is not_found too.
func (s *Space) StatFile(ctx context.Context, path string) (protocol.Metadata, error) {
	if !s.reg.inProcess || s.disk == nil {
		f, m, err := s.Open(ctx, path)
		if err != nil {
			return protocol.Metadata{}, err
		}
		f.Close()
		return m, nil
	}
	m, err := s.Stat(ctx, path)
	if err != nil {
		return protocol.Metadata{}, err
	}
	if m.IsDirectory {
		return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "no such file")
	}
	return m, nil
}

// Changes returns up to limit events after since (exclusive) in seq order. limit <= 0
// means protocol.DefaultChangesLimit; it is capped at protocol.MaxChangesLimit. A
// non-empty epoch other than the current one, a since beyond the head, or a since older
// than the retained log is resync_required.
func (s *Space) Changes(ctx context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error) {
	if err := s.alive(); err != nil {
		return protocol.ChangesPage{}, err
	}
	if since < 0 {
		return protocol.ChangesPage{}, protocol.Errorf(protocol.CodeBadRequest, "since must not be negative")
	}
	if limit <= 0 {
		limit = protocol.DefaultChangesLimit
	}
	if limit > protocol.MaxChangesLimit {
		limit = protocol.MaxChangesLimit
	}
	ip, err := s.reg.index.Changes(ctx, s.id, since, limit)
	if errors.Is(err, index.ErrNoTenant) {
		return protocol.ChangesPage{}, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	if err != nil {
		return protocol.ChangesPage{}, wrapInternal("changes", err)
	}
	resync := &protocol.Error{Code: protocol.CodeResyncRequired, Message: "changes not retained; list again"}
	if (epoch != "" && epoch != ip.Epoch) || since > ip.Head {
		return protocol.ChangesPage{}, resync
	}
	page := protocol.ChangesPage{Epoch: ip.Epoch, Seq: since, Events: []protocol.Event{}}
	if since == ip.Head {
		return page, nil
	}
	if ip.Oldest == 0 || since+1 < ip.Oldest {
		return protocol.ChangesPage{}, resync
	}
	page.Events = append(page.Events, ip.Events...)
	page.More = ip.More
	if n := len(ip.Events); n > 0 {
		page.Seq = ip.Events[n-1].Seq
	}
	return page, nil
}

// The Space's collaborators: each holds the Space and owns one part of its work.
type (
	// reconciler brings index and disk together: start-up recovery (recover.go),
	// reconciling directories and names (reconcile.go), the marks of syncd's own writes
	// (own.go), the head mark (headmark.go) and the watcher (watcher.go).
	reconciler struct{ *Space }
	// snapshots are the paged listings' snapshots and undo rows (snapshot.go).
	snapshots struct{ *Space }
	// committer checks and commits writes: the PUT checks (put.go), receiving uploads
	// (upload.go), the group commit (commit.go) and the index write transaction.
	committer struct{ *Space }
)

// FlushPath makes the directory entries of the file at path durable: the directory
// holding it and each one above it, up to the root. The /ws hub calls it before it
// acknowledges a file Create or Update whose content an earlier upload stored: that
// upload's batch may have committed while its directory flushes failed (commitDone),
// and an acknowledgement, like a 2xx, promises durability (SPEC §2), as an identical
// re-upload's does (sameAsIndexed).
func (s *Space) FlushPath(ctx context.Context, path string) error {
	p, err := pathrule.Clean(path)
	if err != nil {
		return err
	}
	if err := s.alive(); err != nil {
		return err
	}
	for _, d := range dirsAbove(p) {
		if err := s.blobs.SyncDir(d); err != nil {
			return internal("sync directory", err)
		}
	}
	return nil
}
