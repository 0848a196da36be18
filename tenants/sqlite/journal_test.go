package sqlite

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/index/indextest"
)

// openStore opens a Store on a new database in a temporary directory whose batches
// put every write's rows in the journal (those of one tenant too) and merge it once
// it holds mergeAt rows (0: mergeRows), and returns it with the database's path.
func openStore(t *testing.T, mergeAt int) (*Store, string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syncd.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := NewStore(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	st.txb.jb.mergeAt, st.txb.jb.always = mergeAt, true
	return st, path
}

// TestReadsConformanceMerging runs the reads' suite with every write's rows in the
// journal, merged by every batch (what the tables alone hold), every few rows (reads
// over both, and across merges) or only by the writes that need it; the suite in
// write_test.go runs with the default, where one tenant's rows go straight to its
// trees.
func TestReadsConformanceMerging(t *testing.T) {
	for _, at := range []int{1, 7, 0} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			indextest.RunReads(t, func(t *testing.T) indextest.Readable {
				st, _ := openStore(t, at)
				return st
			})
		})
	}
}

// put commits one new file p of tenant id (an event and its entry) as its own Write.
func put(st *Store, id, p string) (seq int64, err error) {
	err = st.Write(context.Background(), id, index.WriteOptions{}, func(tx index.Tx) error {
		_, head := tx.Head()
		seq = head + 1
		m := protocol.Metadata{Path: p, Size: int64(len(p)), Hash: "h", Modified: time.Unix(1, 0), Seq: seq}
		ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: seq, Operation: protocol.NewOperation(protocol.OpCreate, "", m)}
		if err := tx.Append(ev, 0, time.Unix(2, 0)); err != nil {
			return err
		}
		return tx.PutEntry(m)
	})
	return seq, err
}

// copyFile copies src to dst (mode 0600); a missing src is no error.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// wantLog checks that tenant id's change log is seqs 1…n in order, each the Create
// of the path paths[seq-1], its head n, and that each path has its entry.
func wantLog(t *testing.T, st *Store, id string, paths []string) {
	t.Helper()
	ctx := context.Background()
	page, err := st.Changes(ctx, id, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if page.Head != int64(len(paths)) || len(page.Events) != len(paths) || page.More {
		t.Fatalf("%s: head %d, %d events (more %v); want %d", id, page.Head, len(page.Events), page.More, len(paths))
	}
	for i, ev := range page.Events {
		if ev.Seq != int64(i+1) || ev.Operation.Meta().Path != paths[i] {
			t.Fatalf("%s: event %d is seq %d of %q; want seq %d of %q", id, i, ev.Seq, ev.Operation.Meta().Path, i+1, paths[i])
		}
	}
	got, err := st.LookupMany(ctx, id, paths)
	if err != nil || len(got) != len(paths) {
		t.Fatalf("%s: %d of %d entries (%v)", id, len(got), len(paths), err)
	}
}

// TestJournalSurvivesCrash: writes whose rows are still in the journal (acknowledged,
// not merged) are all there after a crash: the database and its WAL are copied as
// they are on disk while the Store is open (no Close, which would merge), and a
// Store opened on the copy merges them, with the change log gap-free and in order.
func TestJournalSurvivesCrash(t *testing.T) {
	st, path := openStore(t, 0)
	ctx := context.Background()
	ids := []string{"a", "b", "c"}
	for _, id := range ids {
		if err := st.CreateTenant(ctx, index.Tenant{Name: id, ID: id}, "e"); err != nil {
			t.Fatal(err)
		}
	}
	paths := map[string][]string{}
	for i := range 30 {
		id := ids[i%len(ids)]
		p := fmt.Sprintf("d/f%02d", i)
		if _, err := put(st, id, p); err != nil {
			t.Fatal(err)
		}
		paths[id] = append(paths[id], p)
	}
	var n int
	if err := st.DB().QueryRow(`SELECT count(*) FROM tenant_journal_changes`).Scan(&n); err != nil || n != 30 {
		t.Fatalf("journal holds %d change-log rows (%v), want 30: the test needs them unmerged", n, err)
	}
	crash := filepath.Join(t.TempDir(), "syncd.db")
	copyFile(t, path, crash)
	copyFile(t, path+"-wal", crash+"-wal")

	db, err := Open(ctx, crash)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st2, err := NewStore(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM tenant_journal_changes) + (SELECT count(*) FROM tenant_journal_entries)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after the reopen the journal holds %d rows (%v), want them merged", n, err)
	}
	for _, id := range ids {
		wantLog(t, st2, id, paths[id])
		if _, head, maxSeq, err := st2.LoadHead(ctx, id); err != nil || head != 10 || maxSeq != 10 {
			t.Fatalf("%s: head %d, max seq %d (%v), want 10, 10", id, head, maxSeq, err)
		}
	}
}

// TestJournalOldDatabase: a database made before the journal (no journal tables)
// opens, gets them, and keeps its rows readable beside new ones.
func TestJournalOldDatabase(t *testing.T) {
	ctx := context.Background()
	st, path := openStore(t, 0)
	if err := st.CreateTenant(ctx, index.Tenant{Name: "a", ID: "a"}, "e"); err != nil {
		t.Fatal(err)
	}
	if _, err := put(st, "a", "old"); err != nil {
		t.Fatal(err)
	}
	st.Close() // merges: "old" is in tenant_changes and tenant_entries
	if _, err := st.DB().Exec(`DROP TABLE tenant_journal_changes; DROP TABLE tenant_journal_entries`); err != nil {
		t.Fatal(err)
	}
	if err := MergeJournal(ctx, st.DB()); err != nil { // cluster import's, on such a database
		t.Fatal(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st2, err := NewStore(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if _, err := put(st2, "a", "new"); err != nil {
		t.Fatal(err)
	}
	wantLog(t, st2, "a", []string{"old", "new"})
}

// TestJournalReadsDuringMerges: while 8 writers commit files of 5 tenants through a
// journal merged every 20 rows (and a delete merges it too), readers check that
// every read is of one committed state: the change log from 1 is gap-free up to the
// head the page reports, every file acknowledged before the read began is found by
// Lookup, Children and Subtree, and ChangeBounds' head is at least that file's seq.
func TestJournalReadsDuringMerges(t *testing.T) {
	st, _ := openStore(t, 20)
	ctx := context.Background()
	const ntenants, writers, each = 5, 8, 60
	ids := make([]string, ntenants)
	var ackMu sync.Mutex
	ackPaths := make([][]string, ntenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%d", i)
		if err := st.CreateTenant(ctx, index.Tenant{Name: ids[i], ID: ids[i]}, "e"); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				k := (w + i) % ntenants
				p := fmt.Sprintf("d/w%d-%03d", w, i)
				if _, err := put(st, ids[k], p); err != nil {
					t.Error(err)
					return
				}
				if i%25 == 24 {
					removeOne(t, st, ids[k], fmt.Sprintf("x/w%d-%d", w, i))
				}
				ackMu.Lock()
				ackPaths[k] = append(ackPaths[k], p)
				ackMu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	var rg sync.WaitGroup
	for r := range 2 {
		rg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				k := (r + n) % ntenants
				ackMu.Lock()
				known := slicesClone(ackPaths[k])
				ackMu.Unlock()
				checkReads(t, st, ids[k], known)
			}
		})
	}
	wg.Wait()
	close(done)
	rg.Wait()
	for k, id := range ids {
		checkReads(t, st, id, ackPaths[k])
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// removeOne commits a file of tenant id and removes it again (a Write with a
// statement of its own: it merges the journal first).
func removeOne(t *testing.T, st *Store, id, p string) {
	t.Helper()
	if _, err := put(st, id, p); err != nil {
		t.Error(err)
		return
	}
	err := st.Write(context.Background(), id, index.WriteOptions{}, func(tx index.Tx) error {
		_, head := tx.Head()
		m := protocol.Metadata{Path: p, Seq: head + 1}
		ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: head + 1, Operation: protocol.NewOperation(protocol.OpDelete, "", m)}
		if err := tx.Append(ev, 0, time.Unix(2, 0)); err != nil {
			return err
		}
		n, _, err := tx.RemoveTree(p)
		if err == nil && n != 1 {
			err = fmt.Errorf("RemoveTree(%s) removed %d entries", p, n)
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
}

// checkReads checks the reads of tenant id against the files known acknowledged.
func checkReads(t *testing.T, st *Store, id string, known []string) {
	t.Helper()
	ctx := context.Background()
	page, err := st.Changes(ctx, id, 0, 100000)
	if err != nil {
		t.Error(err)
		return
	}
	if int64(len(page.Events)) != page.Head || page.More {
		t.Errorf("%s: %d events up to head %d", id, len(page.Events), page.Head)
	}
	for i, ev := range page.Events {
		if ev.Seq != int64(i+1) {
			t.Errorf("%s: event %d has seq %d", id, i, ev.Seq)
			return
		}
	}
	if len(page.Events) < len(known) {
		t.Errorf("%s: %d events, but %d files were acknowledged", id, len(page.Events), len(known))
	}
	kids, err := st.Children(ctx, id, "d")
	if err != nil {
		t.Error(err)
	}
	sub, err := st.Subtree(ctx, id, "d")
	if err != nil {
		t.Error(err)
	}
	have := map[string]int{}
	for _, e := range kids {
		have[e.Path]++
	}
	for i, e := range sub {
		have[e.Path] += 10
		if i > 0 && sub[i-1].Path >= e.Path {
			t.Errorf("%s: Subtree out of order or doubled at %s", id, e.Path)
		}
	}
	for _, p := range known {
		if have[p] != 11 {
			t.Errorf("%s: acknowledged %s seen %d times by Children, %d by Subtree", id, p, have[p]%10, have[p]/10)
			return
		}
		if e, err := st.Lookup(ctx, id, p); err != nil || e == nil {
			t.Errorf("%s: Lookup(%s): %v, %v", id, p, e, err)
			return
		}
	}
	if _, head, err := st.ChangeBounds(ctx, id); err != nil || head < int64(len(known)) {
		t.Errorf("%s: ChangeBounds head %d (%v) below %d acknowledged files", id, head, err, len(known))
	}
}

// TestJournalTakesManyTenantsBatches: a batch of several tenants' plain writes puts
// their rows in the journal; a batch of one tenant's writes puts them straight into
// its trees, unless the journal holds rows of that tenant: then into the journal,
// and a second batch of that tenant alone in a row merges the journal first.
func TestJournalTakesManyTenantsBatches(t *testing.T) {
	st := newStageStore(t, 3)
	journaled := func() (n int) {
		t.Helper()
		if err := st.DB().QueryRow(`SELECT count(*) FROM tenant_journal_changes`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i, step := range []struct {
		ws   []stageWrite
		want int
	}{
		{nil, 0}, // newStageStore's writes, one tenant at a time
		{[]stageWrite{{id: "t0", path: "a", size: 1}, {id: "t1", path: "b", size: 1}}, 2},
		{[]stageWrite{{id: "t2", path: "c", size: 1}}, 2},                                 // alone, no rows in the journal
		{[]stageWrite{{id: "t1", path: "d", size: 1}, {id: "t1", path: "e", size: 1}}, 4}, // alone, rows in the journal
		{[]stageWrite{{id: "t1", path: "f", size: 1}}, 0},                                 // alone again: merged first
		{[]stageWrite{{id: "t1", path: "g", size: 1}}, 0},
	} {
		if step.ws != nil {
			inOneBatch(t, st, step.ws...)
		}
		if n := journaled(); n != step.want {
			t.Fatalf("step %d: the journal holds %d rows, want %d", i, n, step.want)
		}
	}
	wantTenant(t, st, "t1", []string{"warm", "b", "d", "e", "f", "g"}, map[string]int64{"b": 1, "e": 1, "g": 1})
	wantTenant(t, st, "t2", []string{"warm", "c"}, map[string]int64{"c": 1})
}
