package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// stageWrite is one Write of the stage tests: it removes the tree remove (if set),
// then appends the creation of path (size bytes) and puts its entry, then fails with
// fail or panics.
type stageWrite struct {
	id, path string
	size     int64
	remove   string
	fail     error
	panics   bool
	ctx      context.Context // nil: context.Background()
}

func (w stageWrite) run(st *Store) error {
	ctx := w.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	return st.Write(ctx, w.id, index.WriteOptions{}, func(tx index.Tx) error {
		if w.remove != "" {
			if n, _, err := tx.RemoveTree(w.remove); err != nil || n == 0 {
				return fmt.Errorf("RemoveTree(%s): %d, %v", w.remove, n, err)
			}
		}
		_, seq := tx.Head()
		m := protocol.Metadata{Path: w.path, Size: w.size, Hash: "h", Modified: time.Unix(1, 0), Seq: seq + 1}
		ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: m.Seq, Operation: protocol.NewOperation(protocol.OpCreate, "", m)}
		if err := tx.Append(ev, 0, time.Unix(2, 0)); err != nil {
			return err
		}
		if err := tx.PutEntry(m); err != nil {
			return err
		}
		if w.panics {
			panic("bad write")
		}
		return w.fail
	})
}

// newStageStore returns a Store with tenants t0…t(n-1) (ids "t0"…), each with one
// file "warm" written at seq 1, so that the batcher keeps their heads.
func newStageStore(t *testing.T, n int) *Store {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := NewStore(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	for i := range n {
		id := fmt.Sprintf("t%d", i)
		if err := st.CreateTenant(ctx, index.Tenant{Name: id, ID: id}, "e"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n { // after every CreateTenant, whose commits drop the kept heads
		if err := (stageWrite{id: fmt.Sprintf("t%d", i), path: "warm", size: 1}).run(st); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// inOneBatch runs ws in one batch, queued in their order, and returns their errors
// and the statements the batch ran.
func inOneBatch(t *testing.T, st *Store, ws ...stageWrite) (errs []error, stmts int64) {
	t.Helper()
	b0, s0 := st.Batches(), st.BatchStatements()
	st.wmu.Lock() // a commit "in progress": the writes queue behind it
	errs = make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() { errs[i] = w.run(st) })
		waitPending(t, &st.txb, i+1)
	}
	st.wmu.Unlock()
	wg.Wait()
	if n := st.Batches() - b0; n != 1 {
		t.Fatalf("%d batches, want 1", n)
	}
	return errs, st.BatchStatements() - s0
}

// wantTenant checks tenant id's change log (its seqs and paths, in order), head and
// the size of its entry at each of sizes' paths (-1: no entry).
func wantTenant(t *testing.T, st *Store, id string, paths []string, sizes map[string]int64) {
	t.Helper()
	ctx := context.Background()
	page, err := st.Changes(ctx, id, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, ev := range page.Events {
		if ev.Seq != int64(i+1) {
			t.Errorf("%s: event %d has seq %d", id, i, ev.Seq)
		}
		got = append(got, ev.Operation.Meta().Path)
	}
	if !slices.Equal(got, paths) || page.Head != int64(len(paths)) {
		t.Errorf("%s: log %v, head %d; want %v, head %d", id, got, page.Head, paths, len(paths))
	}
	for p, size := range sizes {
		e, err := st.Lookup(ctx, id, p)
		switch {
		case err != nil:
			t.Fatal(err)
		case size < 0 && e != nil:
			t.Errorf("%s: entry %s present (%+v), want none", id, p, e)
		case size >= 0 && (e == nil || e.Size != size):
			t.Errorf("%s: entry %s is %+v, want size %d", id, p, e, size)
		}
	}
}

// TestStageMerges: the plain writes of 20 tenants in one batch run one multi-row
// statement per table and per maxBatchRows rows (2 × 3 = 6), not 5 statements each
// (SAVEPOINT, two INSERTs, the head UPDATE, RELEASE), and every row and head is right.
func TestStageMerges(t *testing.T) {
	const n = 20
	st := newStageStore(t, n)
	var ws []stageWrite
	for i := range n {
		ws = append(ws, stageWrite{id: fmt.Sprintf("t%d", i), path: "f", size: int64(i)})
	}
	errs, stmts := inOneBatch(t, st, ws...)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if stmts != 6 {
		t.Errorf("the batch ran %d statements, want 6", stmts)
	}
	for i := range n {
		wantTenant(t, st, fmt.Sprintf("t%d", i), []string{"warm", "f"}, map[string]int64{"warm": 1, "f": int64(i)})
	}
}

// TestStageFailedJobs: a write that fails and one that panics, after their appends,
// between plain writes: theirs are absent, the others' present, every head right, and
// the failed tenants' next writes take the next seq.
func TestStageFailedJobs(t *testing.T) {
	st := newStageStore(t, 5)
	errBoom := errors.New("boom")
	errs, _ := inOneBatch(t, st,
		stageWrite{id: "t0", path: "a", size: 10},
		stageWrite{id: "t1", path: "b", size: 11, fail: errBoom},
		stageWrite{id: "t2", path: "c", size: 12},
		stageWrite{id: "t3", path: "d", size: 13, panics: true},
		stageWrite{id: "t4", path: "e", size: 14},
	)
	if errs[0] != nil || errs[2] != nil || errs[4] != nil || !errors.Is(errs[1], errBoom) || errs[3] == nil {
		t.Fatalf("results %v", errs)
	}
	wantTenant(t, st, "t0", []string{"warm", "a"}, map[string]int64{"a": 10})
	wantTenant(t, st, "t1", []string{"warm"}, map[string]int64{"b": -1})
	wantTenant(t, st, "t2", []string{"warm", "c"}, map[string]int64{"c": 12})
	wantTenant(t, st, "t3", []string{"warm"}, map[string]int64{"d": -1})
	wantTenant(t, st, "t4", []string{"warm", "e"}, map[string]int64{"e": 14})
	errs, _ = inOneBatch(t, st, stageWrite{id: "t1", path: "b2", size: 1}, stageWrite{id: "t3", path: "d2", size: 1})
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("next writes: %v", errs)
	}
	wantTenant(t, st, "t1", []string{"warm", "b2"}, nil)
	wantTenant(t, st, "t3", []string{"warm", "d2"}, nil)
}

// TestStageSavepointAfterStaged: a write that removes a tree (a statement of its own,
// in its savepoint) and then fails, after plain writes of other tenants and of its
// own: its ROLLBACK TO must leave their rows (staged before it opened its savepoint)
// and undo its removal; a later write of its tenant follows the staged one.
func TestStageSavepointAfterStaged(t *testing.T) {
	st := newStageStore(t, 3)
	errBoom := errors.New("boom")
	errs, _ := inOneBatch(t, st,
		stageWrite{id: "t0", path: "a", size: 10},
		stageWrite{id: "t1", path: "b", size: 11},
		stageWrite{id: "t1", path: "c", size: 12, remove: "warm", fail: errBoom},
		stageWrite{id: "t2", path: "d", size: 13, remove: "warm"},
		stageWrite{id: "t1", path: "e", size: 14},
	)
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], errBoom) || errs[3] != nil || errs[4] != nil {
		t.Fatalf("results %v", errs)
	}
	wantTenant(t, st, "t0", []string{"warm", "a"}, map[string]int64{"warm": 1, "a": 10})
	wantTenant(t, st, "t1", []string{"warm", "b", "e"}, map[string]int64{"warm": 1, "b": 11, "c": -1, "e": 14})
	wantTenant(t, st, "t2", []string{"warm", "d"}, map[string]int64{"warm": -1, "d": 13})
}

// TestStageCancelledWrite: a write whose context is cancelled fails alone: the
// stage's flush and its savepoint, which the other writes' rows depend on, run under
// the batch's context, not the write's.
func TestStageCancelledWrite(t *testing.T) {
	st := newStageStore(t, 3)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	errs, _ := inOneBatch(t, st,
		stageWrite{id: "t0", path: "a", size: 10},
		stageWrite{id: "t1", path: "b", size: 11, remove: "warm", ctx: cancelled},
		stageWrite{id: "t2", path: "c", size: 12},
	)
	if errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("results %v", errs)
	}
	wantTenant(t, st, "t0", []string{"warm", "a"}, map[string]int64{"warm": 1, "a": 10})
	wantTenant(t, st, "t1", []string{"warm"}, map[string]int64{"warm": 1, "b": -1})
	wantTenant(t, st, "t2", []string{"warm", "c"}, map[string]int64{"warm": 1, "c": 12})
}

// TestStageSameTenant: three plain writes of one tenant in one batch, each rewriting
// the same entry: the log is gap-free and in order, the entry holds the last write,
// and the head moves once. Run with the batcher's kept heads and without them (on
// the pool after close: each write reads the head row, which the stage must write
// first).
func TestStageSameTenant(t *testing.T) {
	for _, kept := range []bool{true, false} {
		t.Run(fmt.Sprintf("kept=%v", kept), func(t *testing.T) {
			st := newStageStore(t, 2)
			if !kept {
				st.txb.close()
			}
			errs, _ := inOneBatch(t, st,
				stageWrite{id: "t0", path: "f", size: 1},
				stageWrite{id: "t1", path: "g", size: 5},
				stageWrite{id: "t0", path: "F", size: 2},
				stageWrite{id: "t0", path: "f", size: 3},
			)
			for i, err := range errs {
				if err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			wantTenant(t, st, "t0", []string{"warm", "f", "F", "f"}, map[string]int64{"f": 3})
			wantTenant(t, st, "t1", []string{"warm", "g"}, map[string]int64{"g": 5})
		})
	}
}

// TestStageBadKeptHead: a kept head row made wrong fails the whole batch, nothing of
// it is stored, and the next batch reads the head rows again and succeeds. Ahead of
// the stored head, it fails the staged head update; behind it, a staged change-log
// row collides with a stored one and fails the stage's multi-row INSERT after it wrote
// another tenant's row (INSERT OR FAIL keeps it), which the batch's rollback undoes.
func TestStageBadKeptHead(t *testing.T) {
	for _, tc := range []struct {
		name string
		seq  int64 // t1's kept head (stored: 1, "warm")
	}{{"ahead", 7}, {"behind", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStageStore(t, 3)
			st.wmu.Lock()
			st.txb.heads["t1"] = headRow{"e", tc.seq}
			st.wmu.Unlock()
			ws := []stageWrite{{id: "t0", path: "a", size: 1}, {id: "t1", path: "b", size: 1}, {id: "t2", path: "c", size: 1}}
			errs, _ := inOneBatch(t, st, ws...)
			for i, err := range errs {
				if err == nil {
					t.Errorf("write %d of the batch with a wrong kept head succeeded", i)
				}
			}
			for i, p := range []string{"a", "b", "c"} {
				wantTenant(t, st, fmt.Sprintf("t%d", i), []string{"warm"}, map[string]int64{p: -1, "warm": 1})
			}
			errs, _ = inOneBatch(t, st, ws...)
			for i, err := range errs {
				if err != nil {
					t.Fatalf("write %d of the next batch: %v", i, err)
				}
			}
			for i, p := range []string{"a", "b", "c"} {
				wantTenant(t, st, fmt.Sprintf("t%d", i), []string{"warm", p}, map[string]int64{p: 1})
			}
		})
	}
}

// TestStageStatementsCannotAbort: the change-log INSERT, the head UPDATE and the
// journal's INSERTs that the stage runs have no constraint check that aborts the statement
// (OP_Halt with OE_Abort, p2 = 2), so SQLite keeps no statement journal for them
// (rowbuf.go). The entries' upsert still has some (its DO UPDATE branch).
func TestStageStatementsCannotAbort(t *testing.T) {
	st := newStageStore(t, 1)
	for name, q := range map[string]struct {
		sql  string
		args int
	}{"change log": {changeRows.queries[2], 26}, "heads": {headQueries[2], 8},
		"journal's change log": {journalChangeRows.queries[2], 26}, "journal's entries": {journalEntryRows.queries[2], 18}} {
		rows, err := st.DB().Query("EXPLAIN "+q.sql, make([]any, q.args)...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var addr, p1, p2, p3 int64
			var op string
			var p4, p5, comment any
			if err := rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
				t.Fatal(err)
			}
			if (op == "Halt" || op == "HaltIfNull") && p2 == 2 {
				t.Errorf("%s: %d %s aborts the statement (p4 %v)", name, addr, op, p4)
			}
		}
		rows.Close()
	}
}

// TestBatchCommitPanics: a panic in a batch's commit outside the jobs' code (before
// the stage's statements, or before COMMIT) fails every write of the batch, stores
// nothing of it, and leaves neither the write lock nor the lead held: the next write
// of another tenant commits, and so does a write of the batch's tenants after it.
func TestBatchCommitPanics(t *testing.T) {
	for _, at := range []string{"stage", "commit"} {
		t.Run(at, func(t *testing.T) {
			st := newStageStore(t, 3)
			var armed sync.Once
			st.wmu.Lock()
			st.txb.fault = func(point string) {
				if point == at {
					armed.Do(func() { panic("fault at " + point) })
				}
			}
			st.wmu.Unlock()
			errs, _ := inOneBatch(t, st, stageWrite{id: "t0", path: "a", size: 1}, stageWrite{id: "t1", path: "b", size: 1})
			for i, err := range errs {
				if err == nil {
					t.Errorf("write %d of the panicking batch succeeded", i)
				}
			}
			wantTenant(t, st, "t0", []string{"warm"}, map[string]int64{"a": -1})
			wantTenant(t, st, "t1", []string{"warm"}, map[string]int64{"b": -1})
			done := make(chan error, 1)
			go func() { done <- stageWrite{id: "t2", path: "c", size: 1}.run(st) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the next write never ran: the panicking batch kept the write lock or the lead")
			}
			if err := (stageWrite{id: "t0", path: "a", size: 1}).run(st); err != nil {
				t.Fatal(err)
			}
			wantTenant(t, st, "t2", []string{"warm", "c"}, map[string]int64{"c": 1})
			wantTenant(t, st, "t0", []string{"warm", "a"}, map[string]int64{"a": 1})
		})
	}
}

// TestBatchPanicAfterCommit: a panic after the batch's COMMIT succeeded fails none
// of its writes (they are in the database; a caller told otherwise would undo its
// files on disk while the index keeps their rows), and the next writes still run.
func TestBatchPanicAfterCommit(t *testing.T) {
	st := newStageStore(t, 3)
	var armed sync.Once
	st.wmu.Lock()
	st.txb.fault = func(point string) {
		if point == "committed" {
			armed.Do(func() { panic("fault at " + point) })
		}
	}
	st.wmu.Unlock()
	errs, _ := inOneBatch(t, st, stageWrite{id: "t0", path: "a", size: 1}, stageWrite{id: "t1", path: "b", size: 1})
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d of the batch that committed failed: %v", i, err)
		}
	}
	wantTenant(t, st, "t0", []string{"warm", "a"}, map[string]int64{"a": 1})
	wantTenant(t, st, "t1", []string{"warm", "b"}, map[string]int64{"b": 1})
	if err := (stageWrite{id: "t0", path: "c", size: 1}).run(st); err != nil {
		t.Fatal(err)
	}
	wantTenant(t, st, "t0", []string{"warm", "a", "c"}, map[string]int64{"c": 1})
}
