// The index write transaction of a space and how a commit becomes visible.

package tenants

import (
	"context"
	"errors"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// wtx is one write transaction of a space: it assigns seqs and collects events.
type wtx struct {
	s            *Space
	ctx          context.Context
	tx           index.Tx
	epoch        string
	seq          int64
	base         int64 // head_seq when the transaction began
	src          Source
	events       []protocol.Event
	usedDelta    int64
	entriesDelta int64
	// releaseUsed and releaseEntries are taken off pendingUsed and pendingEntries
	// when the transaction commits (set by a group-commit batch).
	releaseUsed    int64
	releaseEntries int64
}

// write runs fn in an IMMEDIATE transaction (shared with other spaces' writes, in its
// own savepoint), commits it durably, then updates the in-memory head and counters
// and publishes the commit on the bus. The caller holds s.mu.
func (s *committer) write(ctx context.Context, src Source, fn func(w *wtx) error) ([]protocol.Event, error) {
	w, err := s.cm.commitTx(ctx, src, fn)
	if err != nil {
		return nil, err
	}
	s.cm.publish(w)
	return w.events, nil
}

// commitTx is write without its last step: the transaction is durable, but the
// in-memory head, the counters and the bus notice are left to publish, which the
// caller must call next (still holding s.mu) unless it returns an error.
func (s *committer) commitTx(ctx context.Context, src Source, fn func(w *wtx) error) (*wtx, error) {
	return s.commitTxAlong(ctx, src, nil, nil, fn)
}

// commitTxAlong is commitTx with index.WriteOptions.Alongside and Gather set to along
// and gather (nil: none).
func (s *committer) commitTxAlong(ctx context.Context, src Source, along func() func(), gather func(), fn func(w *wtx) error) (*wtx, error) {
	if s.isClosed() {
		if along != nil {
			go along()() // Alongside runs exactly once, whatever happens
		}
		return nil, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	// Commit even if the caller goes away now: the disk has already changed.
	ctx = context.WithoutCancel(ctx)
	s.start.waitCounted() // a commit's deltas apply to the loaded counters
	// The index may share the transaction with other tenants' writes queued
	// meanwhile (tenants/sqlite: one durable commit for all of them).
	var w *wtx
	// Undo rows are kept while a listing is open (snapshot.go). The caller holds s.mu,
	// which beginSnapshot's caller holds shared, so the answer cannot change during
	// the write from false to true for a snapshot the write precedes.
	o := index.WriteOptions{KeepUndo: s.snapCount.Load() > 0, Alongside: along, Gather: gather}
	if o.KeepUndo {
		s.undoDirty.Store(true)
	}
	start := time.Now()
	// The metadata cache forgets what the transaction touches and is neither read
	// nor filled until the transaction is over (committed or not).
	s.meta.begin()
	commitStarts(s.Space)
	err := s.reg.index.Write(ctx, s.id, o, func(tx index.Tx) error {
		w = &wtx{s: s.Space, ctx: ctx, tx: cachedTx{Tx: tx, c: &s.meta}, src: src}
		w.epoch, w.seq = tx.Head()
		w.base = w.seq
		return fn(w)
	})
	s.meta.end()
	s.reg.commits.Add(1)
	s.reg.commitNanos.Add(int64(time.Since(start)))
	if err != nil {
		s.hmu.Lock()
		commitEnds(s.Space)
		s.hmu.Unlock()
	}
	if errors.Is(err, index.ErrNoTenant) {
		return nil, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	if err != nil {
		return nil, wrapInternal("commit", err)
	}
	return w, nil
}

// publish makes a committed transaction visible: head and counters, then one Notice
// for the whole transaction (a group commit's members in seq order), delivered to
// this node's listeners through the sequencer and announced on the bus for the others
// (a network bus: queued, never waited for).
func (s *committer) publish(w *wtx) {
	s.hmu.Lock()
	s.epoch, s.seq = w.epoch, w.seq
	s.used += w.usedDelta
	s.entries += w.entriesDelta
	s.pendingUsed -= w.releaseUsed
	s.pendingEntries -= w.releaseEntries
	commitEnds(s.Space)
	s.hmu.Unlock()
	if len(w.events) == 0 {
		return
	}
	n := Notice{TenantID: s.id, TenantName: s.name, Epoch: w.epoch,
		First: w.events[0].Seq, Last: w.events[len(w.events)-1].Seq, Events: w.events}
	s.reg.seq.own(w.ctx, n)
	s.reg.announce(w.ctx, n)
}

// event appends a change-log row with the next seq and returns that seq.
func (w *wtx) event(op, from string, m protocol.Metadata) (int64, error) {
	w.seq++
	// A Delete carries the last metadata of what it deleted, seq included (the change
	// that last wrote it); every other event's metadata was written by the event.
	var metaSeq int64
	if op == protocol.OpDelete && m.Seq > 0 && m.Seq < w.seq {
		metaSeq = m.Seq
	} else {
		m.Seq = w.seq
	}
	ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: w.seq,
		Operation: protocol.NewOperation(op, from, m), SourceClient: w.src.ClientID, SourceSubject: w.src.Subject}
	if err := w.tx.Append(ev, metaSeq, time.Now()); err != nil {
		return 0, err
	}
	w.events = append(w.events, ev)
	return w.seq, nil
}

// put inserts or replaces the index row of m.Path, which the caller found as old
// (nil: none), under a parent it found to be a directory.
func (w *wtx) put(m protocol.Metadata, old *entry) error {
	expect := w.expectEntry
	if m.IsDirectory && old == nil {
		expect = func(p string, _ *entry) error { return w.expectNoFile(p) }
	}
	if err := expect(m.Path, old); err != nil {
		return err
	}
	if err := w.tx.PutEntry(m); err != nil {
		return err
	}
	if old == nil {
		w.entriesDelta++
	} else if !old.IsDir {
		w.usedDelta -= old.Size
	}
	if !m.IsDirectory {
		w.usedDelta += m.Size
	}
	return nil
}

// removeTree deletes the index rows of p and everything under it.
func (w *wtx) removeTree(p string) error {
	n, bytes, err := w.tx.RemoveTree(p)
	if err != nil {
		return err
	}
	w.entriesDelta -= n
	w.usedDelta -= bytes
	return nil
}

// addVersion records a kept earlier content of path.
func (w *wtx) addVersion(id, path string, e *entry, deleted bool) error {
	err := w.tx.AddVersion(id, protocol.Metadata{Path: path, Size: e.Size, Hash: e.Hash, Modified: e.Modified}, time.Now(), deleted)
	return err
}

// follow moves the in-memory head to (epoch, seq), a head the sequencer delivered:
// commits of other nodes, or a new epoch. It never moves the head back in an epoch.
func (s *committer) follow(epoch string, seq int64) {
	s.hmu.Lock()
	if epoch != s.epoch || seq > s.seq {
		s.epoch, s.seq = epoch, seq
	}
	s.hmu.Unlock()
}

// expectEntry has the transaction fail (503 unavailable) unless p's entry is still e as
// the caller read it (nil: none), under a directory, when other processes write the
// index too (index.ExpectTx, cluster mode): the caller's checks read the index before
// the transaction locked the tenant's head, and another node may have committed in
// between (before session 25 such a write went through: a second Create of one path
// replaced the first without a version, a file replaced a directory that had gained
// a child, a file landed in a directory deleted meanwhile). On an index only this
// process writes, the commit section keeps the reads current: nothing to check.
func (w *wtx) expectEntry(p string, e *entry) error {
	if ex := w.expecter(); ex != nil {
		return ex.ExpectEntry(p, e)
	}
	return nil
}

// expectNoFile is expectEntry for a directory about to be made where the caller found
// nothing: another node may have made the same directory meanwhile.
func (w *wtx) expectNoFile(p string) error {
	if ex := w.expecter(); ex != nil {
		return ex.ExpectNoFile(p)
	}
	return nil
}

// expectTree is expectEntry for what lies under dir: n entries, the newest written
// by maxSeq.
func (w *wtx) expectTree(dir string, n, maxSeq int64) error {
	if ex := w.expecter(); ex != nil {
		return ex.ExpectTree(dir, n, maxSeq)
	}
	return nil
}

// expecter is the index transaction's index.ExpectTx, nil if it has none.
func (w *wtx) expecter() index.ExpectTx {
	tx := w.tx
	if c, ok := tx.(cachedTx); ok {
		tx = c.Tx
	}
	ex, _ := tx.(index.ExpectTx)
	return ex
}
