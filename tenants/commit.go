package tenants

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/blob"
)

// Group commit of uploads.
//
// Each Put receives, hashes and fsyncs its temp file on its own, outside any lock.
// Then it queues a putReq. The first caller to find no batch in progress becomes the
// leader: it takes the commit section (s.mu), moves every queued upload into place in
// queue order — each one re-checked against the index as the earlier members of the
// batch left it — then, at the same time, fsyncs each touched directory once (queued
// together, to share a flush round) and commits all of them in one SQL transaction (shared with other
// tenants' writes, txbatch.go), hence one WAL fsync. The index queues the directory
// fsyncs when it begins that transaction (index.WriteOptions.Alongside), so that the
// fsyncs of the tenants sharing it share one flush too. Only when both are done is the
// batch's one Notice published on the bus (events in seq order) and the callers released, so SPEC §3's promise
// holds: a change is durable before its 2xx. Uploads arriving meanwhile queue up for the next
// batch, whose leader is the first of them; a leader never commits more than one batch.
//
// A member that fails its checks or its own disk step fails alone (its disk changes
// undone before the next member is looked at). A failure of the SQL transaction fails
// the whole batch: every member's disk change is undone, in reverse order, and no seq
// is used. A failure of the directory fsyncs when the transaction committed leaves the
// changes committed and published (index, disk and log agree) but answers every member
// with an internal error, since their durability is not known: a retry is an
// identical PUT (which flushes its path's directories before its 2xx: sameAsIndexed),
// and start-up recovery reconciles index and disk after a crash.

// smallUpload: an upload of a declared size of at most gatherMaxSize, which leaders
// wait for (gather).
func smallUpload(o PutOptions) bool { return o.Size >= 0 && o.Size <= gatherMaxSize }

// maxBatch bounds how many uploads one group commit takes.
const maxBatch = 128

// maxGather is how long a leader waits for small uploads still being received, and
// gatherMaxSize the largest declared size that counts as small.
const (
	maxGather     = 2 * time.Millisecond
	gatherMaxSize = 64 << 10
)

// gatherFault, when set (by tests only), is called with the tenant's name when a
// small upload's body has been received and counted for the index's gathering
// (gather.go), before its temp file's fsync.
var gatherFault func(tenant string)

// batchFault, when set (by tests only), is called at the stages "apply" (as each
// member is re-checked, before its disk step; an error fails that member), "queue"
// (the first step of the directory fsyncs, on the index's goroutine; its error is
// ignored, a test may panic there), "sync" (after the directory fsyncs) and "commit"
// (inside the SQL transaction, after its statements); an error there fails the batch.
var batchFault func(stage string) error

// groupCommit is the queue of a space's uploads waiting to commit.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*putReq
	leading bool // a leader is committing a batch

	receiving atomic.Int64  // small uploads between their first check and their queueing
	arrived   chan struct{} // wakes a gathering leader when it may stop waiting (buffered 1)
	flushing  atomic.Int64  // its uploads counted in the registry's receivers (gather.go)

	// returning counts the small uploads the last batch answered, less the uploads
	// of the tenant (of any client, of any size) begun since: how many of those
	// clients may still be on their way with their next upload. A leader waits for
	// them too (gather), until returnBy (Unix ns).
	returning atomic.Int64
	returnBy  atomic.Int64

	maxWait time.Duration // the longest gather (0: maxGather); tests lengthen it
}

// longest returns how long a leader gathers at most.
func (g *groupCommit) longest() time.Duration {
	if g.maxWait > 0 {
		return g.maxWait
	}
	return maxGather
}

// startReceiving counts a small upload that begins to be received, which may be the
// next upload of a client that the last batch answered (clientBack).
func (g *groupCommit) startReceiving() {
	g.receiving.Add(1)
	g.clientBack()
}

// clientBack counts an upload (of any size) that begins: its client, if the last
// batch answered it, is back and cannot be waited for. When that was the last client
// awaited and nothing is being received, it wakes a gathering leader: its wait is over.
func (g *groupCommit) clientBack() {
	for {
		n := g.returning.Load()
		if n <= 0 {
			return
		}
		if g.returning.CompareAndSwap(n, n-1) {
			if n == 1 && g.receiving.Load() == 0 {
				g.wakeGatherer()
			}
			return
		}
	}
}

// answered records that a batch answered n small uploads: their clients may be back
// with their next ones at once (gather).
func (g *groupCommit) answered(n int) {
	g.returnBy.Store(time.Now().Add(g.longest()).UnixNano())
	g.returning.Store(int64(n))
}

// awaited tells whether a gathering leader still has uploads to wait for: small
// uploads being received, or clients the last batch answered (lately) that have not
// begun their next one.
func (g *groupCommit) awaited() bool {
	return g.receiving.Load() > 0 || (g.returning.Load() > 0 && time.Now().UnixNano() < g.returnBy.Load())
}

// doneReceiving takes a small upload off the receiving count (queued: it joined the
// queue, of queued uploads in all) and wakes a gathering leader if that ends its
// wait: the last upload being received arrived or failed, or the queue holds a full
// batch. Arrivals that end nothing wake nobody (a context switch each on a busy
// machine).
func (g *groupCommit) doneReceiving(queued int) {
	if g.receiving.Add(-1) == 0 || queued >= maxBatch {
		g.wakeGatherer()
	}
}

func (g *groupCommit) wakeGatherer() {
	select {
	case g.arrived <- struct{}{}:
	default:
	}
}

// gather lets a new leader wait, at most maxGather, for small uploads that are being
// received right now, so that they join its batch instead of paying for a commit of
// their own just after it, and for the next uploads of the clients that the last
// batch answered (at most maxGather after it). The second keeps concurrent clients in
// one batch: a leader that queued behind a batch would otherwise commit at once with
// the uploads queued with it, while the clients that batch answered are still on
// their way, and the clients would go on in two groups taking turns, each a batch of
// half of them (8 clients: 4.2 uploads a batch against 7.1, 1,866 files/s against
// 2,380 in one group; docs/BENCHMARKS.md, "Small uploads: session 20" and "Commits
// and small uploads: session 21"). A client that does not come back costs the next
// leader that wait once.
func (g *groupCommit) gather() {
	if !g.awaited() {
		return
	}
	deadline := time.Now().Add(g.longest())
	t := time.NewTimer(g.longest())
	defer t.Stop()
	for {
		g.mu.Lock()
		waiting := int64(len(g.queue))
		g.mu.Unlock()
		if !g.awaited() || waiting >= maxBatch {
			return
		}
		// Only answered clients awaited: no longer than their answers' returnBy.
		wait := time.Until(deadline)
		if g.receiving.Load() == 0 {
			wait = min(wait, time.Until(time.Unix(0, g.returnBy.Load())))
		}
		if wait <= 0 {
			return
		}
		t.Reset(wait)
		select {
		case <-g.arrived:
		case <-t.C: // the deadline, or returnBy: look again
		}
	}
}

// putReq is one received upload waiting for its commit, and then its result.
type putReq struct {
	ctx context.Context
	p   string
	o   PutOptions
	u   *upload
	// small: counted in groupCommit.receiving until queued.
	small bool

	// wake gets true when this request is to lead the next batch, false when its
	// result is set.
	wake chan bool

	meta    protocol.Metadata
	created bool
	err     error
	same    *putReq // identical content written by this earlier member of the batch
}

// commitPut commits r (alone or in a batch with other uploads) and sets its result.
func (s *committer) commitPut(r *putReq) {
	g := &s.gc
	g.mu.Lock()
	g.queue = append(g.queue, r)
	r.u.arrived()
	if r.small {
		g.doneReceiving(len(g.queue))
	} else if len(g.queue) >= maxBatch {
		g.wakeGatherer()
	}
	if g.leading {
		g.mu.Unlock()
		if lead := <-r.wake; !lead {
			return
		}
		// Promoted: r is at the head of the queue.
	} else {
		g.leading = true
		g.mu.Unlock()
	}
	g.gather()
	g.mu.Lock()
	n := min(len(g.queue), maxBatch)
	batch := append([]*putReq(nil), g.queue[:n]...)
	g.queue = append(g.queue[:0:0], g.queue[n:]...)
	g.mu.Unlock()

	s.cm.commitBatchSafely(batch)
	small := 0
	for _, m := range batch {
		if m.small && m.err == nil {
			small++
		}
	}
	g.answered(small)

	g.mu.Lock()
	var next *putReq
	if len(g.queue) > 0 {
		next = g.queue[0]
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	for _, m := range batch {
		if m != r {
			m.wake <- false
		}
	}
	if next != nil {
		next.wake <- true
	}
}

// applied is a batch member whose content is in place on disk, not yet committed.
type applied struct {
	r         *putReq
	cur       *entry   // the entry it replaces (nil: new path)
	missing   []string // parents it adds to the index
	created   []string // parents it created on disk
	versionID string   // where the replaced content is kept ("" = none)
	grow      int64    // its share of pendingUsed
	adds      int64    // its share of pendingEntries
}

// batch is the state of one group commit while its members are applied.
type batch struct {
	s        *Space
	over     map[string]*entry   // fold key → entry as earlier members left it (nil: none)
	writer   map[string]*putReq  // fold key → member that wrote that file
	dirs     map[string]struct{} // directories under files/ to fsync
	versions bool                // versions/ got a new name
	done     []*applied
	// unchanged: members whose content the index already held (sameAsIndexed),
	// answered once their directories are flushed.
	unchanged []*putReq

	blobs blob.Batch // the store's side: publishing temp files, directory fsyncs
}

// place keeps the current content of p (cur) as version id (if id != "") and
// publishes the upload u at p (noReplace: p must not exist), without fsyncs.
func (b *batch) place(u *upload, p string, cur *entry, id string, noReplace bool) (kept bool, err error) {
	var oldHash string
	if cur != nil {
		oldHash = cur.Hash
	}
	return b.blobs.Place(u.name, p, u.hash, id, oldHash, noReplace)
}

// lookup reads the index as the batch left it so far. Entries read from the database
// are kept for the rest of the batch: nothing else writes the index while the batch
// holds the commit section.
func (b *batch) lookup(ctx context.Context, paths []string) (map[string]*entry, error) {
	out := make(map[string]*entry, len(paths))
	var rest []string
	for _, p := range paths {
		k := pathrule.FoldKey(p)
		if e, ok := b.over[k]; ok {
			out[k] = e
		} else {
			rest = append(rest, p)
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	found, err := b.s.cm.lookupInSection(ctx, rest, paths, out)
	if err != nil {
		return nil, err
	}
	for _, p := range rest {
		k := pathrule.FoldKey(p)
		b.over[k] = found[k] // nil: known to be absent
		out[k] = found[k]
	}
	return out, nil
}

// commitBatch applies, syncs and commits the members of one batch and sets their
// results.
func (s *committer) commitBatch(members []*putReq) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &batch{s: s.Space, over: map[string]*entry{}, writer: map[string]*putReq{}, dirs: map[string]struct{}{},
		blobs: s.blobs.Batch()}
	defer b.blobs.Close()
	s.cm.applyAll(b, members)
	var serr error
	if len(b.done) > 0 {
		serr = s.cm.commitDone(b)
	} else if len(b.unchanged) > 0 {
		serr = b.queueSync()()
	}
	b.answerUnchanged(serr)
	// Members that found their content already written by an earlier member share
	// its outcome.
	for _, r := range members {
		if r.same != nil {
			if r.same.err != nil {
				r.meta, r.err = protocol.Metadata{}, r.same.err
			} else {
				r.meta, r.created = r.same.meta, false
			}
		}
	}
}

// applyPut re-checks r against the index as the batch sees it and moves its content
// into place without fsyncs. On error it undoes its own disk changes.
func (s *committer) applyPut(b *batch, r *putReq) error {
	ctx, p, o, u := r.ctx, r.p, r.o, r.u
	// Check again in the commit section: the tree may have changed meanwhile.
	cur, missing, err := s.cm.checkPut(ctx, p, o, b.lookup)
	if err != nil {
		return err
	}
	if cur != nil && cur.Hash == u.hash {
		// Identical content: nothing changes.
		if w := b.writer[pathrule.FoldKey(p)]; w != nil {
			r.same = w
		} else {
			b.sameAsIndexed(r, cur)
		}
		return nil
	}
	if err := s.cm.checkQuotaAtCommit(u, cur); err != nil {
		return err
	}
	if err := beforeCommit(o.BeforeCommit); err != nil {
		return err
	}
	if batchFault != nil {
		if err := batchFault("apply"); err != nil {
			return err
		}
	}
	// Disk: parents, old content into versions/, new content into place.
	created, err := s.cm.makeParentsNoSync(missing)
	if err != nil {
		return err
	}
	var versionID string
	if cur != nil {
		versionID = newID()
	}
	kept, err := b.place(u, p, cur, versionID, cur == nil)
	if !kept {
		versionID = ""
	}
	if err != nil {
		s.cm.removeDirs(created)
		if errors.Is(err, fs.ErrExist) {
			return protocol.Errorf(protocol.CodeConflict, "an unindexed file exists at this path")
		}
		return diskErr("rename into place", err)
	}
	u.name = ""
	r.meta = protocol.Metadata{Path: p, Size: u.size, Modified: u.modified, Hash: u.hash}
	r.created = cur == nil

	// What must be fsynced before the commit: the file's directory, the parent of
	// each created directory, versions/.
	b.dirs[pathrule.Parent(p)] = struct{}{}
	for _, d := range created {
		b.dirs[pathrule.Parent(d)] = struct{}{}
	}
	b.versions = b.versions || versionID != ""

	s.cm.account(b, &applied{r: r, cur: cur, missing: missing, created: created, versionID: versionID})
	return nil
}

// account records an applied member in the batch's view of the index and in the
// pending counters (which now hold what its upload's reservation held).
func (s *committer) account(b *batch, a *applied) {
	p, u, cur, missing := a.r.p, a.r.u, a.cur, a.missing
	for _, d := range missing {
		b.over[pathrule.FoldKey(d)] = &entry{Path: d, IsDir: true}
	}
	b.over[pathrule.FoldKey(p)] = &entry{Path: p, Size: u.size, Hash: u.hash, Modified: u.modified}
	b.writer[pathrule.FoldKey(p)] = a.r
	a.adds = int64(len(missing))
	if cur == nil {
		a.adds++
	}
	var old int64
	if cur != nil {
		old = cur.Size
	}
	a.grow = max(u.size-old, 0)
	s.hmu.Lock()
	s.pendingUsed += a.grow
	s.pendingEntries += a.adds
	s.hmu.Unlock()
	// The pending counters now hold what the reservation held.
	if u.reserved > 0 {
		s.cm.unreserve(u.reserved)
		u.reserved = 0
	}
	b.done = append(b.done, a)
}

// commitApplied writes the batch's members to the index and the change log in one
// transaction (events in batch order). The caller publishes the result (Space.publish)
// once the directory fsyncs are done too.
func (s *committer) commitApplied(b *batch, along func() func()) (*wtx, error) {
	var grow, adds int64
	for _, a := range b.done {
		grow += a.grow
		adds += a.adds
	}
	ctx := context.WithoutCancel(b.done[0].r.ctx)
	gather := func() { s.reg.recv.gather(&s.gc.flushing) }
	return s.cm.commitTxAlong(ctx, Source{}, along, gather, func(w *wtx) error {
		w.releaseUsed, w.releaseEntries = grow, adds
		for _, a := range b.done {
			r := a.r
			w.src = r.o.Source
			if err := w.addParents(a.missing); err != nil {
				return err
			}
			op := protocol.OpCreate
			if a.cur != nil {
				op = protocol.OpUpdate
				if a.versionID != "" {
					if err := w.addVersion(a.versionID, r.p, a.cur, false); err != nil {
						return err
					}
				}
			}
			meta := r.meta
			seq, err := w.event(op, "", meta)
			if err != nil {
				return err
			}
			meta.Seq = seq
			if err := w.put(meta, a.cur); err != nil {
				return err
			}
			r.meta = meta
		}
		if err := releaseInCommit(w, b.done); err != nil {
			return err
		}
		if batchFault != nil {
			return batchFault("commit")
		}
		return nil
	})
}

// undoBatch takes every applied member's change off the disk again, newest first, and
// fails them all with err.
func (s *committer) undoBatch(b *batch, err error) {
	var grow, adds int64
	for i := len(b.done) - 1; i >= 0; i-- {
		a := b.done[i]
		if a.versionID != "" {
			// The old content back into place (over the new one).
			if rerr := s.blobs.RestoreVersion(a.versionID, a.cur.Hash, a.r.p, false); rerr != nil {
				s.log.Error("undo failed upload", "err", rerr)
			}
		} else {
			// A new path, or the old file had vanished from disk: nothing in its place.
			_ = s.blobs.Remove(a.r.p)
		}
		s.cm.removeDirs(a.created)
		a.r.meta, a.r.created, a.r.err = protocol.Metadata{}, false, err
		grow += a.grow
		adds += a.adds
	}
	s.hmu.Lock()
	s.pendingUsed -= grow
	s.pendingEntries -= adds
	s.hmu.Unlock()
}

// beforeCommit calls the caller's hook (if any). It runs on the batch leader's
// goroutine, so a panic in it becomes this member's error instead of stopping the
// batch and the callers waiting on it.
func beforeCommit(fn func() error) (err error) {
	if fn == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = internal("before commit", fmt.Errorf("panic: %v", p))
		}
	}()
	return fn()
}
