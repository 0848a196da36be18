package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// The batch's stage.
//
// The stage writes the rows of a batch of several tenants to the journal (journal.go),
// and those of one tenant straight to its trees.
//
// A job of a batch (one tenant's Write) that only appends change-log rows and puts
// entries runs no statement that changes data: its queued rows (rowbuf.go) and its
// head row's update are handed to the batch's stage when it succeeds, and the stage
// inserts the rows of all such jobs by one multi-row statement per table (up to
// maxBatchRows rows each) and updates their head rows by one statement, just before
// the batch commits. A batch of many tenants' single uploads then runs the statements
// of one tenant's group commit: 3 for up to maxBatchRows writes, where each write ran
// 5 (SAVEPOINT, two INSERTs, the head UPDATE, RELEASE). The statements run OR FAIL,
// the change-log insert and the head update without a statement journal (rowbuf.go).
//
// Every statement of a later job that could see or change what the stage holds runs
// after the stage is flushed (jobTx.change, jobTx.readHead): the tables then hold the
// earlier jobs' rows, as they would if each job ran its own statements, and a job's
// savepoint, opened after that flush, never holds them (its ROLLBACK TO leaves them).
//
// A failure of the stage's statements fails the whole batch (see txBatcher): it can
// only come from the database itself (a full disk, an I/O error, a change-log row
// beyond a tenant's head) or from a kept head row that is wrong, for which failing
// every write of the batch is right.

// stage holds the rows and head updates that the batch's succeeded jobs left to it.
type stage struct {
	changes rowBuf         // change-log rows (changeRows)
	entries rowBuf         // entry rows (entryRows)
	hseqs   []int64        // per entry row, the head of its write
	jb      *jbatch        // the batch's part in the journal
	final   bool           // the flush before COMMIT (not one for a job's statement)
	heads   []stagedHead   // head rows to update, one per tenant
	tenant  map[string]int // tenant id → its index in heads
	err     error          // the stage failed (then so does the batch)
}

// stagedHead moves tenant id's head row from epoch/base to epoch/seq.
type stagedHead struct {
	id, epoch string
	base, seq int64
}

// errStageBroken marks a stage whose flush did not finish (it panicked).
var errStageBroken = errors.New("sqlite: the batch's staged rows were not all written")

// headQueries[n] updates n head rows: each row's id, epoch, base and new seq.
var headQueries = func() []string {
	qs := make([]string, maxBatchRows+1)
	for n := 1; n <= maxBatchRows; n++ {
		qs[n] = `UPDATE OR FAIL tenants SET head_seq = v.column4 FROM (VALUES (?, ?, ?, ?)` + strings.Repeat(", (?, ?, ?, ?)", n-1) +
			`) AS v WHERE tenants.id = v.column1 AND tenants.epoch = v.column2 AND tenants.head_seq = v.column3`
	}
	return qs
}()

// reset empties s for a new batch.
func (s *stage) reset() {
	if s.tenant == nil {
		s.changes, s.entries, s.tenant = journalChangeRows, journalEntryRows, map[string]int{}
	}
	s.changes.args = s.changes.args[:0]
	s.entries.args = s.entries.args[:0]
	s.hseqs = s.hseqs[:0]
	s.heads = s.heads[:0]
	clear(s.tenant)
	s.err = nil
}

// add takes a succeeded job's rows and head update (h.seq == h.base: none). Two jobs
// of one tenant make one update: the later one's base is the earlier one's seq (its
// head was kept by the earlier job); if it is not, the stage fails.
func (s *stage) add(changes, entries *rowBuf, h stagedHead) {
	s.changes.args = append(s.changes.args, changes.args...)
	s.entries.args = append(s.entries.args, entries.args...)
	for range len(entries.args) / entries.cols {
		s.hseqs = append(s.hseqs, h.seq)
	}
	if h.seq == h.base {
		return
	}
	i, ok := s.tenant[h.id]
	if !ok {
		s.tenant[h.id] = len(s.heads)
		s.heads = append(s.heads, h)
		return
	}
	if p := &s.heads[i]; p.epoch == h.epoch && p.seq == h.base {
		p.seq = h.seq
	} else if s.err == nil {
		s.err = fmt.Errorf("sqlite: head row of tenant %s is no longer %s/%d (staged %s/%d)", h.id, h.epoch, h.base, p.epoch, p.seq)
	}
}

// holds reports whether s holds a head update of tenant id.
func (s *stage) holds(id string) bool {
	_, ok := s.tenant[id]
	return ok
}

// empty reports whether s holds nothing to write.
func (s *stage) empty() bool {
	return len(s.changes.args) == 0 && len(s.entries.args) == 0 && len(s.heads) == 0
}

// flush writes what s holds through q and empties it. Once it fails (or failed, or
// panicked), it keeps failing: the batch must not commit.
func (s *stage) flush(ctx context.Context, q Q) error {
	if s.err != nil || s.empty() {
		return s.err
	}
	s.err = errStageBroken // until every statement ran
	changes, entries := s.changes.args, s.entries.args
	direct, err := s.jb.direct(ctx, q, s.final, s.heads)
	if err != nil {
		s.err = err
		return err
	}
	s.changes.queries, s.entries.queries = journalChangeRows.queries, journalEntryRows.queries
	if direct {
		s.changes.queries, s.entries.queries = changeRows.queries, entryRows.queries
	}
	if err := s.changes.flush(ctx, q); err != nil {
		s.err = err
		return err
	}
	if err := s.entries.flush(ctx, q); err != nil {
		s.err = err
		return err
	}
	heads := s.heads
	s.heads = s.heads[:0]
	clear(s.tenant)
	for len(heads) > 0 {
		n := min(len(heads), maxBatchRows)
		if err := updateHeads(ctx, q, heads[:n]); err != nil {
			s.err = err
			return err
		}
		heads = heads[n:]
	}
	// Into the overlay only now: the head updates checked that the rows follow
	// their tenants' stored heads.
	if !direct {
		s.jb.added(changes, entries, s.hseqs)
	}
	s.hseqs = s.hseqs[:0]
	s.err = nil
	return nil
}

// updateHeads moves the head rows of hs (at most maxBatchRows, distinct tenants) by
// one statement, each only if it still holds its epoch and base.
func updateHeads(ctx context.Context, q Q, hs []stagedHead) error {
	args := make([]any, 0, 4*len(hs))
	for _, h := range hs {
		args = append(args, h.id, h.epoch, h.base, h.seq)
	}
	res, err := q.ExecContext(ctx, headQueries[len(hs)], args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(hs)) {
		return fmt.Errorf("sqlite: %d of %d staged head rows updated (%v): a head row is not what its write read", n, len(hs), err)
	}
	return nil
}

// jobTx is a job's handle on its batch's transaction. Jobs run one at a time, on
// the leader's goroutine, under wmu.
type jobTx struct {
	// ctx is the batch's, never cancelled: the stage's flush, the savepoint and its
	// end, on which other jobs' rows depend, run under it, not under the job's own.
	ctx   context.Context
	b     *txBatcher
	tx    *sql.Tx
	q     Q      // inside tx, counting the batch's statements
	st    *stage // the batch's stage
	alone bool   // the batch's only job: it needs no savepoint
	own   bool   // the job has run (or is about to run) a statement that changes data

	// What the job hands to the stage if it succeeds (stage).
	staged           bool
	changes, entries *rowBuf
	head             stagedHead
}

// stage hands the job's queued rows and its head update to the batch's stage, once
// the job has succeeded. The job must not have run a statement that changes data
// (then it runs its own, in its savepoint).
func (j *jobTx) stage(changes, entries *rowBuf, h stagedHead) {
	j.staged, j.changes, j.entries, j.head = true, changes, entries, h
}

// change readies the transaction for a statement of the job that changes data: it
// flushes the stage, then, the first time, opens the job's savepoint (unless the job
// is alone). A failure here fails the batch.
func (j *jobTx) change() error {
	if err := j.st.flush(j.ctx, j.q); err != nil {
		return err
	}
	if j.st.jb.rows > 0 {
		// The job's statements see (and change) every row: the journal's first.
		if err := j.st.jb.merge(j.ctx, j.q); err != nil {
			j.st.err = err
			return err
		}
	}
	if j.own {
		return nil
	}
	j.own = true
	if j.alone {
		return nil
	}
	if _, err := j.q.ExecContext(j.ctx, "SAVEPOINT job"); err != nil {
		j.st.err = err
		return err
	}
	return nil
}

// readHead readies the transaction for reading tenant id's head row: the stage is
// flushed first if it holds an update of that row (no other row of the stage is
// read).
func (j *jobTx) readHead(id string) error {
	if !j.st.holds(id) {
		return nil
	}
	return j.st.flush(j.ctx, j.q)
}

// end ends the job after it returned err: a job with a savepoint is released, rolled
// back to it first if it failed; a job without one that failed ran nothing that
// changed data, and its rows were never staged. An error fails the batch.
func (j *jobTx) end(err error) error {
	if err == nil && j.staged {
		j.st.add(j.changes, j.entries, j.head)
	}
	if !j.own || j.alone {
		return nil
	}
	if err != nil {
		if _, err := j.q.ExecContext(j.ctx, "ROLLBACK TO job"); err != nil {
			return err
		}
	}
	_, err = j.q.ExecContext(j.ctx, "RELEASE job")
	return err
}
