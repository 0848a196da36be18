package tenants

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/sqlite"
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
// shared, so every change committed after S has kept its undo rows. Undo rows no open
// listing needs are pruned every second (Registry.Run) and all are dropped when the
// space opens. A listing whose space closed or whose epoch changed meanwhile fails.

// listPageSize is how many rows one page of a listing reads (index rows and undo rows
// each): one read transaction lasts about a millisecond.
var listPageSize = 256

// listScope is the SQL condition (on column path / parent) selecting a listing's rows.
type listScope struct {
	where string
	args  []any
}

func scopeOf(dir string, recursive bool) listScope {
	if recursive {
		cond, args := sqlite.SubtreeWhere("path", dir)
		return listScope{cond, args}
	}
	return listScope{"parent = ?", []any{dir}}
}

// List streams the entries under dir (every depth when recursive, else one level),
// ordered by path, as one snapshot at the seq given to head. head is called first
// with the snapshot's epoch and seq, then each once per entry; neither is called
// inside a database transaction. An error from head or each stops the listing and is
// returned. not_found if dir is not a directory.
func (s *Space) List(ctx context.Context, dir string, recursive bool, head func(epoch string, seq int64) error, each func(protocol.Metadata) error) error {
	d, err := pathrule.CleanDir(dir)
	if err != nil {
		return err
	}
	if err := s.alive(); err != nil {
		return err
	}
	sc := scopeOf(d, recursive)
	epoch, snap, page, next, done, err := s.snap.firstPage(ctx, d, sc)
	if err != nil {
		return err
	}
	defer s.snap.endSnapshot(snap)
	if head != nil {
		if err := head(epoch, snap); err != nil {
			return err
		}
	}
	for {
		for _, e := range page {
			if err := each(e.meta()); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return wrapInternal("list", err)
		}
		if page, next, done, err = s.snap.nextPage(ctx, sc, epoch, snap, next); err != nil {
			return err
		}
	}
}

// firstPage takes the snapshot (registering it before any writer can commit past
// it), checks dir and reads the first page. On success the caller must endSnapshot.
func (s *snapshots) firstPage(ctx context.Context, d string, sc listScope) (epoch string, snap int64, page []*entry, next string, done bool, err error) {
	tx, err := s.reg.store.DB().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return "", 0, nil, "", false, wrapInternal("list", err)
	}
	defer tx.Rollback()
	q := s.reg.store.InTx(tx)
	// Holding the commit section shared, no write is in progress: the transaction's
	// first read fixes its snapshot at a committed head, and writers that start
	// after the unlock see the registration.
	s.mu.RLock()
	if err := s.alive(); err != nil {
		s.mu.RUnlock()
		return "", 0, nil, "", false, err
	}
	err = q.QueryRowContext(ctx, `SELECT epoch, head_seq FROM tenants WHERE id = ?`, s.id).Scan(&epoch, &snap)
	if err == nil {
		s.snap.beginSnapshot(snap)
	}
	s.mu.RUnlock()
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil, "", false, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	if err != nil {
		return "", 0, nil, "", false, wrapInternal("list", err)
	}
	defer func() {
		if err != nil {
			s.snap.endSnapshot(snap)
		}
	}()
	if d != "" {
		e, lerr := s.lookupExact(ctx, q, d)
		if lerr != nil {
			return "", 0, nil, "", false, lerr
		}
		if e == nil || !e.IsDir {
			return "", 0, nil, "", false, protocol.Errorf(protocol.CodeNotFound, "no such directory")
		}
	}
	page, next, done, err = s.snap.listPage(ctx, q, sc, snap, "")
	return epoch, snap, page, next, done, err
}

// nextPage reads the page after the path after, in a transaction of its own.
func (s *snapshots) nextPage(ctx context.Context, sc listScope, epoch string, snap int64, after string) ([]*entry, string, bool, error) {
	if err := s.alive(); err != nil {
		return nil, "", false, err
	}
	tx, err := s.reg.store.DB().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, "", false, wrapInternal("list", err)
	}
	defer tx.Rollback()
	q := s.reg.store.InTx(tx)
	var cur string
	err = q.QueryRowContext(ctx, `SELECT epoch FROM tenants WHERE id = ?`, s.id).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", false, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	if err != nil {
		return nil, "", false, wrapInternal("list", err)
	}
	if cur != epoch {
		return nil, "", false, protocol.Errorf(protocol.CodeResyncRequired, "the store's history changed during the listing; list again")
	}
	// The space may have been closed and opened again (which drops undo rows).
	if err := s.alive(); err != nil {
		return nil, "", false, err
	}
	return s.snap.listPage(ctx, q, sc, snap, after)
}

// undoRow is a path's state before a change made after a snapshot.
type undoRow struct {
	present bool
	e       entry
}

// listPage reads, through q (one read transaction), the entries of sc after the path
// after as they were at snap: up to listPageSize index rows and undo rows each, up to
// the smaller of their last paths. next is the last path covered; done says nothing
// follows.
func (s *snapshots) listPage(ctx context.Context, q querier, sc listScope, snap int64, after string) (page []*entry, next string, done bool, err error) {
	n := listPageSize
	rows, err := q.QueryContext(ctx, `SELECT `+entryCols+` FROM tenant_entries WHERE tenant_id = ? AND `+sc.where+` AND path > ? ORDER BY path LIMIT ?`,
		append(append([]any{s.id}, sc.args...), after, n)...)
	if err != nil {
		return nil, "", false, wrapInternal("list", err)
	}
	var cur []*entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			rows.Close()
			return nil, "", false, wrapInternal("list", err)
		}
		cur = append(cur, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", false, wrapInternal("list", err)
	}
	// Per path the earliest state after snap (SQLite takes the bare columns from the
	// row holding min(died)).
	rows, err = q.QueryContext(ctx, `SELECT path, present, is_dir, size, hash, modified, seq, min(died) FROM tenant_entry_undo
		WHERE tenant_id = ? AND died > ? AND `+sc.where+` AND path > ? GROUP BY path ORDER BY path LIMIT ?`,
		append(append([]any{s.id, snap}, sc.args...), after, n)...)
	if err != nil {
		return nil, "", false, wrapInternal("list", err)
	}
	var undo []undoRow
	for rows.Next() {
		var u undoRow
		var mod, died int64
		if err := rows.Scan(&u.e.Path, &u.present, &u.e.IsDir, &u.e.Size, &u.e.Hash, &mod, &u.e.Seq, &died); err != nil {
			rows.Close()
			return nil, "", false, wrapInternal("list", err)
		}
		u.e.Modified = time.Unix(0, mod).UTC()
		undo = append(undo, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", false, wrapInternal("list", err)
	}
	// The page covers (after, end]; without a full batch on either side, the rest.
	done = true
	if len(cur) == n {
		next, done = cur[n-1].Path, false
	}
	if len(undo) == n && (done || undo[n-1].e.Path < next) {
		next, done = undo[n-1].e.Path, false
	}
	page = make([]*entry, 0, len(cur))
	i, j := 0, 0
merge:
	for i < len(cur) || j < len(undo) {
		var p string
		switch {
		case j == len(undo) || (i < len(cur) && cur[i].Path < undo[j].e.Path):
			p = cur[i].Path
		default:
			p = undo[j].e.Path
		}
		if !done && p > next {
			break merge
		}
		switch {
		case j < len(undo) && undo[j].e.Path == p:
			if undo[j].present {
				e := undo[j].e
				page = append(page, &e)
			}
			j++
			if i < len(cur) && cur[i].Path == p {
				i++
			}
		default:
			page = append(page, cur[i])
			i++
		}
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
	unlock := s.reg.store.LockWrites()
	_, err := s.reg.store.DB().ExecContext(ctx, `DELETE FROM tenant_entry_undo WHERE tenant_id = ? AND died <= ?`, s.id, bound)
	unlock()
	if err != nil || open {
		s.undoDirty.Store(true) // again next time
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("prune undo rows", "err", err)
	}
}

// clearUndo drops every undo row of the space (at open: no listing can be open, and
// seqs of another epoch must not be mistaken for this one's).
func (s *snapshots) clearUndo(ctx context.Context) error {
	defer s.reg.store.LockWrites()()
	_, err := s.reg.store.DB().ExecContext(ctx, `DELETE FROM tenant_entry_undo WHERE tenant_id = ?`, s.id)
	return err
}
