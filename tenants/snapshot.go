package tenants

import (
	"context"
	"errors"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// Paged listings.
//
// A listing (List: GET /api/list, GET /api/archive) is one snapshot of the index at
// a seq, but it is read in short read transactions, one page each, and the caller's
// callbacks (which write to the network and may block for as long as a client likes)
// run between them, never inside one: an open SQLite read transaction pins the WAL
// of the whole database, every tenant's writes included.
//
// tenant_entries is changed in place, so a page read later sees later changes. To
// answer at the snapshot's seq anyway, writers keep undo rows while a listing of the
// tenant is open: before a change touches an index row, the row as it was (or "no
// entry" for a path that had none) goes into tenant_entry_undo, stamped died = the
// transaction's starting head + 1. A page at snapshot S reads, in one transaction,
// the current rows of its key range and, per path, the undo row with the smallest
// died > S; where there is one it is the path's state at S (an entry, or none), else
// the current row is. A listing registers its snapshot holding the commit section
// shared, so every change committed after S has kept its undo rows; where other nodes
// write too, a listing of more than one page also takes the tenant's undo lease, which
// their writes obey (undolease.go). Undo rows no open listing needs are pruned every
// second (Registry.Run) and all are dropped when the space opens (in a cluster, not
// while a lease runs). A listing whose space closed or whose epoch changed meanwhile
// fails.

// listPageSize is how many rows one page of a listing reads (index rows and undo rows
// each): one read transaction lasts about a millisecond.
var listPageSize = 256

// listScope selects a listing's entries: under dir, one level or every depth.
type listScope struct {
	dir       string
	recursive bool
}

func scopeOf(dir string, recursive bool) listScope { return listScope{dir, recursive} }

// List streams the entries under dir (every depth when recursive, else one level),
// ordered by path, as one snapshot at the seq given to head. head is called first
// with the snapshot's epoch and seq, then each once per entry; neither is called
// inside a database transaction. An error from head or each stops the listing and is
// returned. not_found if dir is not a directory.
func (s *Space) List(ctx context.Context, dir string, recursive bool, head func(epoch string, seq int64) error, each func(protocol.Metadata) error) error {
	return s.snap.list(ctx, dir, recursive, func(sn snapshot) error {
		if head == nil {
			return nil
		}
		return head(sn.epoch, sn.seq)
	}, func(e *entry) error { return each(e.Meta()) })
}

// snapshot is an open listing's snapshot: the head it reads at, and the metadata
// cache's generation at that head (metaCache.generation), which tells whether any
// write of the space has begun since.
type snapshot struct {
	epoch string
	seq   int64
	gen   uint64
	// leased is when the listing last asked for its undo lease (undolease.go); zero
	// for none.
	leased time.Time
}

// list is List with the snapshot's generation and the index entries themselves.
func (s *snapshots) list(ctx context.Context, dir string, recursive bool, head func(snapshot) error, each func(*entry) error) error {
	d, err := pathrule.CleanDir(dir)
	if err != nil {
		return err
	}
	if err := s.alive(); err != nil {
		return err
	}
	sc := scopeOf(d, recursive)
	sn, page, next, done, err := s.firstPage(ctx, d, sc)
	if err != nil {
		return err
	}
	if !done && !s.reg.inProcess {
		sn2, page2, next2, done2, err := s.leasedFirstPage(ctx, sc, d, sn)
		switch {
		case errors.Is(err, errors.ErrUnsupported): // no lease needed: keep the first read
		case err != nil:
			return err
		default:
			sn, page, next, done = sn2, page2, next2, done2
			// The rows other nodes kept for it are this node's to prune.
			defer s.undoDirty.Store(true)
		}
	}
	defer s.endSnapshot(sn.seq)
	if err := head(sn); err != nil {
		return err
	}
	for {
		for _, e := range page {
			if err := each(e); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return wrapInternal("list", err)
		}
		if err := s.renewLease(ctx, &sn); err != nil {
			return err
		}
		if page, next, done, err = s.nextPage(ctx, sc, sn.epoch, sn.seq, next); err != nil {
			return err
		}
	}
}

// firstPage takes the snapshot (registering it before any writer can commit past
// it), checks dir and reads the first page, in one read snapshot of the index. On
// success the caller must endSnapshot.
func (s *snapshots) firstPage(ctx context.Context, d string, sc listScope) (sn snapshot, page []*entry, next string, done bool, err error) {
	registered := false
	err = s.reg.index.View(ctx, s.id, func(v index.View) error {
		// Holding the commit section shared, no write is in progress: the snapshot's
		// first read fixes it at a committed head, and writers that start after the
		// unlock see the registration.
		s.mu.RLock()
		if err := s.alive(); err != nil {
			s.mu.RUnlock()
			return err
		}
		var err error
		sn.epoch, sn.seq, err = v.Head()
		if err == nil {
			s.snap.beginSnapshot(sn.seq)
			sn.gen = s.meta.generation()
			registered = true
		}
		s.mu.RUnlock()
		if err != nil {
			return err
		}
		if d != "" {
			e, err := v.Lookup(d)
			if err != nil {
				return internal("read index", err)
			}
			if e == nil || e.Path != d || !e.IsDir {
				return protocol.Errorf(protocol.CodeNotFound, "no such directory")
			}
		}
		page, next, done, err = v.ListPage(sc.dir, sc.recursive, sn.seq, "", listPageSize)
		return err
	})
	if err != nil {
		if registered {
			s.snap.endSnapshot(sn.seq)
		}
		if errors.Is(err, index.ErrNoTenant) {
			return snapshot{}, nil, "", false, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
		}
		return snapshot{}, nil, "", false, wrapInternal("list", err)
	}
	return sn, page, next, done, nil
}

// nextPage reads the page after the path after, in a read snapshot of its own.
func (s *snapshots) nextPage(ctx context.Context, sc listScope, epoch string, snap int64, after string) (page []*entry, next string, done bool, err error) {
	if err := s.alive(); err != nil {
		return nil, "", false, err
	}
	err = s.reg.index.View(ctx, s.id, func(v index.View) error {
		cur, _, err := v.Head()
		if err != nil {
			return err
		}
		if cur != epoch {
			return protocol.Errorf(protocol.CodeResyncRequired, "the store's history changed during the listing; list again")
		}
		// The space may have been closed and opened again (which drops undo rows).
		if err := s.alive(); err != nil {
			return err
		}
		page, next, done, err = v.ListPage(sc.dir, sc.recursive, snap, after, listPageSize)
		return err
	})
	if errors.Is(err, index.ErrNoTenant) {
		return nil, "", false, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	if err != nil {
		return nil, "", false, wrapInternal("list", err)
	}
	return page, next, done, nil
}

// beginSnapshot registers an open listing at seq. The caller holds s.mu shared.
func (s *snapshots) beginSnapshot(seq int64) {
	s.hmu.Lock()
	if s.snaps == nil {
		s.snaps = map[int64]int{}
	}
	s.snaps[seq]++
	s.hmu.Unlock()
	s.snapCount.Add(1)
}

// endSnapshot ends a listing registered by beginSnapshot.
func (s *snapshots) endSnapshot(seq int64) {
	s.hmu.Lock()
	if s.snaps[seq]--; s.snaps[seq] <= 0 {
		delete(s.snaps, seq)
	}
	s.hmu.Unlock()
	s.snapCount.Add(-1)
}

// pruneUndo drops the undo rows no open listing needs: those that died at or before
// the oldest open snapshot (or the head, when none is open).
func (s *snapshots) pruneUndo(ctx context.Context) {
	if !s.undoDirty.Swap(false) {
		return
	}
	s.hmu.Lock()
	bound, open := s.seq, len(s.snaps) > 0
	for seq := range s.snaps {
		bound = min(bound, seq)
	}
	s.hmu.Unlock()
	err := s.reg.index.PruneUndo(ctx, s.id, bound)
	if err != nil || open {
		s.undoDirty.Store(true) // again next time
	}
	if errors.Is(err, index.ErrUndoHeld) {
		return // a listing on another node needs them
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("prune undo rows", "err", err)
	}
}

// clearUndo drops every undo row of the space (at open: no listing can be open, and
// seqs of another epoch must not be mistaken for this one's).
func (s *snapshots) clearUndo(ctx context.Context) error {
	return s.reg.index.ClearUndo(ctx, s.id)
}
