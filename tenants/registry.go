package tenants

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/blob"
	"github.com/syncspace/syncspace/tenants/index"
)

// Options are a tenant's own limits. Zero Quota means no quota; zero MaxFileSize or
// MaxEntries means the server default (Limits).
type Options struct {
	Quota, MaxFileSize, MaxEntries int64
}

// Tenant is one row of the registry. ID is the immutable random id (the token claim
// "tid"); a tenant deleted and created again gets a new one.
type Tenant struct {
	Name        string    `json:"name"`
	ID          string    `json:"id"`
	Quota       int64     `json:"quota"`
	MaxFileSize int64     `json:"max_file_size"`
	MaxEntries  int64     `json:"max_entries"`
	CreatedAt   time.Time `json:"created_at"`
}

// Limits are the server-wide limits (SPEC §5). Zero MaxFileSize, MaxEntries,
// MinFreeDisk or RetainVersions means unlimited / never pruned; zero RetainChanges
// keeps the whole change log. ReadOnly refuses every write with forbidden.
type Limits struct {
	MaxFileSize, MaxEntries, MinFreeDisk int64
	RetainChanges                        int64
	RetainVersions                       time.Duration
	ReadOnly                             bool
	// FreeDisk reports the bytes free for the data dir; nil means the file system's
	// own figure (statfs). A hook for tests, which cannot fill the real disk.
	FreeDisk func() (uint64, error)
}

// PollInterval is how often Run reads the tenants table to see changes made by another
// process (syncctl in local mode).
const PollInterval = 200 * time.Millisecond

// headMarkInterval is how often open spaces write their head mark (headmark.go).
const headMarkInterval = time.Second

// pruneInterval is how often Run prunes expired versions and old change-log rows.
const pruneInterval = time.Minute

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidName reports whether name is a valid tenant name (SPEC §1).
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Registry is the set of tenants stored in one database and data dir. It is safe for
// concurrent use. The zero value is not usable: use OpenRegistry.
type Registry struct {
	limits Limits
	log    *slog.Logger

	disk diskBudget // in-flight upload bytes against limits.MinFreeDisk (disk.go)

	index Index     // tenant records, entries, change log, heads, versions (index.go)
	blobs BlobStore // the tenants' content (blobs.go)

	mu    sync.Mutex
	cache map[string]Tenant // name → tenant, refreshed by Run
	// drops counts the names dropped from cache (Delete, forget; added to under mu):
	// a reader of the database that began before a drop does not put back what it
	// read.
	drops    atomic.Uint64
	spaces   map[string]*slot // name → opened (or opening) space
	closed   bool
	watchCtx context.Context // non-nil once StartWatchers ran

	bus       Bus         // carries every commit's notice to the other nodes
	inProcess bool        // bus is in-process and loses nothing: no head check
	seq       *sequencer  // orders every tenant's events for Listen (sequencer.go)
	busStop   func()      // ends the registry's subscription to bus
	busDown   atomic.Bool // the last Publish failed and no reconnection since
	send      *sender     // publishes on a network bus off the commit path; nil in process
	leader    Leader
	gc        collector      // the blob garbage collector, on the leader (collect.go)
	chunks    chunkSweeper   // the sweep of unused chunk lists (chunks.go), Run's own
	reserver  index.Reserver // nil: reservations in memory only (reserve.go)

	recv *receivers // small uploads of every space between their body's end and their queue (gather.go)

	commits, commitNanos atomic.Int64 // index write transactions of commits (Stats)

	// startCheckHook, when set (tests), is called by a watcher before the full scan
	// that does a space's deferred start-up check, with the tenant's name.
	startCheckHook func(tenant string)
}

// slot holds one tenant's Space while it is being opened or is open.
type slot struct {
	mu    sync.Mutex
	space *Space
}

// Deps are the adapters a Registry works through.
type Deps struct {
	// Index holds the tenants' metadata (tenants/sqlite.Store on one node). Required.
	// Registry.Close closes it (which does not close a database it was given).
	Index Index
	// Bus carries each group commit's Notice to subscribers after the commit
	// (tenants/localbus in one process). Required. The registry does not close it.
	Bus Bus
	// Blobs holds the tenants' content (tenants/rootblobs.Store on the data dir's
	// disk). Required.
	Blobs BlobStore
	// Leader says whether this node runs the once-only jobs (version pruning,
	// change-log retention); nil means always (one node). The registry does not
	// close it.
	Leader Leader
	// Collector removes content nothing refers to any more (cluster mode:
	// tenants/casblobs.Collector), on the leader every CollectEvery (0: every
	// minute); nil means none (one node's store frees content at once).
	Collector    BlobCollector
	CollectEvery time.Duration
	// Reserver reserves large uploads' bytes against quotas for every node
	// (cluster mode: tenants/pgindex.Reservations, over Index's database); nil means
	// this process's own reservations only. Run calls its Maintain every second.
	Reserver index.Reserver
}

// Leader elects the one node of a cluster that runs the once-only jobs.
type Leader interface {
	// Leading reports whether this node holds the leadership now.
	Leading() bool
}

// Confirmer is implemented by a Leader whose Leading may lag (tenants/pgleader: up to
// its check interval after its lock was lost): Confirm checks the leadership now, at
// the cost of a round trip, and the registry calls it before each once-only job.
type Confirmer interface {
	Confirm(ctx context.Context) bool
}

// alwaysLeader is the Leader of a single node.
type alwaysLeader struct{}

func (alwaysLeader) Leading() bool { return true }

// leading reports whether this node may run a once-only job now: l.Leading, then, if
// l can, Confirm.
func leading(ctx context.Context, l Leader) bool {
	if !l.Leading() {
		return false
	}
	c, ok := l.(Confirmer)
	return !ok || c.Confirm(ctx)
}

// Open loads the tenant list from deps.Index. logger nil means slog.Default().
// tenants/sqlindex.OpenRegistry builds the single-node deps.
func Open(ctx context.Context, deps Deps, limits Limits, logger *slog.Logger) (*Registry, error) {
	if deps.Index == nil || deps.Bus == nil || deps.Blobs == nil {
		return nil, internal("open registry", errors.New("no index, bus or blob store"))
	}
	if logger == nil {
		logger = slog.Default()
	}
	r := &Registry{
		index:  deps.Index,
		blobs:  deps.Blobs,
		limits: limits,
		disk:   diskBudget{cached: limits.FreeDisk == nil, now: time.Now},
		log:    logger.With("component", "tenants"),
		cache:  map[string]Tenant{},
		spaces: map[string]*slot{},
		bus:    deps.Bus,
		recv:   newReceivers(),
	}
	r.inProcess = isInProcess(deps.Bus)
	if r.leader = deps.Leader; r.leader == nil {
		r.leader = alwaysLeader{}
	}
	r.gc.c, r.gc.every = deps.Collector, deps.CollectEvery
	r.reserver = deps.Reserver
	r.seq = newSequencer(deps.Index, r.log)
	if err := r.refresh(ctx); err != nil {
		return nil, err
	}
	r.busStop = func() {}
	if !r.inProcess { // an in-process bus carries only this registry's own commits
		r.send = newSender(deps.Bus, &r.busDown, r.log)
		r.busStop = deps.Bus.Subscribe(r.seq.notice, func() {
			r.busDown.Store(false) // reconnected
			r.seq.lost()
		})
	}
	return r, nil
}

// Run polls the tenants table every PollInterval (so a tenant created or deleted by
// another process is seen within a second), writes head marks, prunes undo rows no
// listing needs and truncates an oversized WAL every second, and periodically prunes
// expired versions and old change-log rows. It returns when ctx ends. Server only.
func (r *Registry) Run(ctx context.Context) {
	poll := time.NewTicker(PollInterval)
	defer poll.Stop()
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	mark := time.NewTicker(headMarkInterval)
	defer mark.Stop()
	var heads <-chan time.Time // the head check, with a bus that may lose notices
	if !r.inProcess {
		t := time.NewTicker(HeadCheckInterval)
		defer t.Stop()
		heads = t.C
	}
	defer func(done <-chan struct{}) { <-done }(r.gc.run(ctx, r.collect))
	r.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-heads:
			r.seq.checkHeads(ctx)
		case <-poll.C:
			if err := r.refresh(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("refresh tenants", "err", err)
			}
		case <-mark.C:
			for _, sp := range r.openSpaces() {
				sp.rc.flushHeadMark()
				sp.snap.pruneUndo(ctx)
			}
			r.index.Maintain(ctx)
			if r.reserver != nil {
				r.reserver.Maintain(ctx)
			}
		case <-prune.C:
			r.prune(ctx)
		}
	}
}

// openSpaces returns the spaces open now (not those being opened).
func (r *Registry) openSpaces() []*Space {
	r.mu.Lock()
	slots := make([]*slot, 0, len(r.spaces))
	for _, sl := range r.spaces {
		slots = append(slots, sl)
	}
	r.mu.Unlock()
	var out []*Space
	for _, sl := range slots {
		if sp := sl.peek(); sp != nil && !sp.isClosed() {
			out = append(out, sp)
		}
	}
	return out
}

// refresh reloads the tenant list, closes spaces of tenants that are gone (or were
// recreated under the same name), updates open spaces' limits, and, when watchers run,
// opens the spaces of new tenants.
func (r *Registry) refresh(ctx context.Context) error {
	var fresh map[string]Tenant
	for attempt := 0; ; attempt++ {
		drops := r.drops.Load()
		list, err := r.List(ctx)
		if err != nil {
			return err
		}
		fresh = make(map[string]Tenant, len(list))
		for _, t := range list {
			fresh[t.Name] = t
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil
		}
		if r.drops.Load() == drops {
			break // mu held
		}
		r.mu.Unlock()
		if attempt == 2 {
			return nil // tenants deleted meanwhile: the next poll reads again
		}
	}
	r.cache = fresh
	var stale []*Space
	for name, sl := range r.spaces {
		sp := sl.peek()
		if sp == nil {
			continue
		}
		t, ok := fresh[name]
		if !ok || t.ID != sp.id {
			delete(r.spaces, name)
			stale = append(stale, sp)
			continue
		}
		sp.setTenant(t)
	}
	var added []string
	if r.watchCtx != nil {
		for name := range fresh {
			if _, ok := r.spaces[name]; !ok {
				added = append(added, name)
			}
		}
	}
	r.mu.Unlock()
	for _, sp := range stale {
		r.log.Info("tenant gone, closing its space", "tenant", sp.name)
		sp.close()
	}
	for _, name := range added {
		if _, err := r.Space(ctx, name); err != nil && ctx.Err() == nil {
			r.log.Warn("open space of new tenant", "tenant", name, "err", err)
		}
	}
	return nil
}

func (sl *slot) peek() *Space {
	if !sl.mu.TryLock() {
		return nil // being opened; the next refresh looks again
	}
	defer sl.mu.Unlock()
	return sl.space
}

// Close closes every open space (stopping watchers) and the index. It does not close
// the database the index was given.
func (r *Registry) Close() error {
	r.mu.Lock()
	already := r.closed
	r.closed = true
	spaces := r.spaces
	r.spaces = map[string]*slot{}
	r.mu.Unlock()
	for _, sl := range spaces {
		sl.mu.Lock()
		if sl.space != nil {
			sl.space.close()
			sl.space = nil
		}
		sl.mu.Unlock()
	}
	if !already {
		r.busStop()
		if r.send != nil {
			r.send.close()
		}
	}
	r.index.Close()
	return nil
}

// Space returns the tenant's space, opening it (with start-up recovery) on first use.
// not_found if there is no such tenant.
func (r *Registry) Space(ctx context.Context, name string) (*Space, error) {
	for attempt := 0; attempt < 2; attempt++ {
		t, err := r.tenant(ctx, name)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, protocol.Errorf(protocol.CodeUnavailable, "store closed")
		}
		sl := r.spaces[name]
		if sl == nil {
			sl = &slot{}
			r.spaces[name] = sl
		}
		watchCtx := r.watchCtx
		r.mu.Unlock()

		sl.mu.Lock()
		if sl.space != nil && sl.space.id == t.ID && !sl.space.isClosed() {
			sp := sl.space
			sl.mu.Unlock()
			return sp, nil
		}
		if sl.space != nil {
			sl.space.close()
			sl.space = nil
		}
		sp, err := r.openSpace(ctx, t, watchCtx != nil)
		if err != nil {
			sl.mu.Unlock()
			if protocol.CodeOf(err) == protocol.CodeNotFound {
				r.forget(name)
				continue
			}
			return nil, err
		}
		if watchCtx != nil {
			if err := sp.rc.startWatcher(watchCtx); err != nil {
				r.log.Warn("start watcher", "tenant", name, "err", err)
				sp.start.runNow(ctx, sp.rc)
			}
		}
		sl.space = sp
		sl.mu.Unlock()
		// The slot may have been replaced by a Delete meanwhile.
		r.mu.Lock()
		cur := r.spaces[name]
		r.mu.Unlock()
		if cur != sl {
			sp.close()
			return nil, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
		}
		return sp, nil
	}
	return nil, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
}

func (r *Registry) forget(name string) {
	r.mu.Lock()
	r.drops.Add(1)
	delete(r.cache, name)
	r.mu.Unlock()
}

// tenant returns the tenant row from the cache, or from the database.
func (r *Registry) tenant(ctx context.Context, name string) (Tenant, error) {
	r.mu.Lock()
	t, ok := r.cache[name]
	r.mu.Unlock()
	if ok {
		return t, nil
	}
	if !ValidName(name) {
		return Tenant{}, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	return r.Get(ctx, name)
}

// StartWatchers opens every tenant's space and starts its server-side watcher, and
// makes spaces opened later (new tenants) start theirs. The watchers stop when ctx
// ends or the registry is closed. Server only.
func (r *Registry) StartWatchers(ctx context.Context) error {
	r.mu.Lock()
	if r.watchCtx != nil {
		r.mu.Unlock()
		return nil
	}
	r.watchCtx = ctx
	var open []*Space
	for _, sl := range r.spaces {
		if sp := sl.peek(); sp != nil {
			open = append(open, sp)
		}
	}
	r.mu.Unlock()
	for _, sp := range open {
		if err := sp.rc.startWatcher(ctx); err != nil {
			return internal("start watcher", err)
		}
	}
	list, err := r.List(ctx)
	if err != nil {
		return err
	}
	for _, t := range list {
		if _, err := r.Space(ctx, t.Name); err != nil {
			return fmt.Errorf("tenants: open space %s: %w", t.Name, err)
		}
	}
	return nil
}

// internal wraps a cause the caller cannot act on: unavailable when the index or the
// blob store did not answer in time or could not be reached (protocol.StoreFailure),
// else internal.
func internal(what string, err error) *protocol.Error {
	return protocol.StoreFailure(what+" failed", err)
}

// diskErr maps a file-system failure of a write: a path whose parent is no longer a
// real directory on disk (a symlink or file put there by hand) is conflict.
func diskErr(what string, err error) error {
	if errors.Is(err, blob.ErrNotDir) {
		return &protocol.Error{Code: protocol.CodeConflict, Message: "the disk differs from the index at this path", Err: err}
	}
	return internal(what, err)
}

// wrapInternal passes *protocol.Error through and wraps anything else as internal.
func wrapInternal(what string, err error) error {
	if err == nil {
		return nil
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &protocol.Error{Code: protocol.CodeUnavailable, Message: "request cancelled", Err: err}
	}
	return internal(what, err)
}
