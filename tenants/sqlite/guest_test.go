package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// model is what a tenant's reads must show: its change log's paths in seq order and
// its live files' sizes.
type model struct {
	log  []string
	live map[string]int64
}

// models is every tenant's model.
type models map[string]*model

// apply runs w (a stageWrite: a file written, after a removal if w.remove) on st
// and records it.
func (ms models) record(w stageWrite) {
	m := ms[w.id]
	if w.remove != "" {
		delete(m.live, w.remove)
	}
	m.log = append(m.log, w.path)
	m.live[w.path] = w.size
}

// move moves tenant id's file from to to as a Write of its own (a statement of its
// own: it merges the journal first) and records it.
func (ms models) move(t *testing.T, st *Store, id, from, to string) {
	t.Helper()
	err := st.Write(context.Background(), id, index.WriteOptions{}, func(tx index.Tx) error {
		_, head := tx.Head()
		m := protocol.Metadata{Path: to, Size: ms[id].live[from], Hash: "h", Modified: time.Unix(1, 0), Seq: head + 1}
		ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: head + 1, Operation: protocol.NewOperation(protocol.OpMove, from, m)}
		if err := tx.Append(ev, 0, time.Unix(2, 0)); err != nil {
			return err
		}
		return tx.MoveTree(from, to, head+1)
	})
	if err != nil {
		t.Fatal(err)
	}
	m := ms[id]
	m.log = append(m.log, to)
	m.live[to] = m.live[from]
	delete(m.live, from)
}

// write runs ws, in one batch if there are several, and records them.
func (ms models) write(t *testing.T, st *Store, ws ...stageWrite) {
	t.Helper()
	if len(ws) == 1 {
		if err := ws[0].run(st); err != nil {
			t.Fatal(err)
		}
	} else {
		for _, err := range must(inOneBatch(t, st, ws...)) {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, w := range ws {
		ms.record(w)
	}
}

func must(errs []error, _ int64) []error { return errs }

// check checks every tenant's reads on st against ms: the change log from 0 is
// seqs 1…head in order, of the model's paths; the listing has each live file once,
// in order, with its newest size, and nothing else; Lookup and LookupMany return
// the newest entry; LoadHead, ChangeBounds and Usage agree.
func (ms models) check(t *testing.T, st *Store, when string) {
	t.Helper()
	for id, m := range ms {
		ms.checkLog(t, st, id, m, when)
		ms.checkEntries(t, st, id, m, when)
	}
}

func (ms models) checkLog(t *testing.T, st *Store, id string, m *model, when string) {
	t.Helper()
	ctx := context.Background()
	page, err := st.Changes(ctx, id, 0, 100000)
	if err != nil {
		t.Fatalf("%s: %s: %v", when, id, err)
	}
	if page.Head != int64(len(m.log)) || len(page.Events) != len(m.log) || page.More {
		t.Fatalf("%s: %s: head %d, %d events; want %d", when, id, page.Head, len(page.Events), len(m.log))
	}
	for i, ev := range page.Events {
		if ev.Seq != int64(i+1) || ev.Operation.Meta().Path != m.log[i] {
			t.Fatalf("%s: %s: event %d is seq %d of %s; want seq %d of %s", when, id, i, ev.Seq, ev.Operation.Meta().Path, i+1, m.log[i])
		}
	}
	// Pages of 3 from every seq join up to the head.
	for since := int64(0); since < page.Head; since += 3 {
		p, err := st.Changes(ctx, id, since, 3)
		if err != nil || len(p.Events) != int(min(3, page.Head-since)) || p.Events[0].Seq != since+1 {
			t.Fatalf("%s: %s: page after %d: %d events (%v)", when, id, since, len(p.Events), err)
		}
	}
	_, head, max, err := st.LoadHead(ctx, id)
	if err != nil || head != page.Head || max != page.Head {
		t.Fatalf("%s: %s: LoadHead %d, %d (%v); want %d", when, id, head, max, err, page.Head)
	}
	oldest, head, err := st.ChangeBounds(ctx, id)
	if err != nil || head != page.Head || (head > 0 && oldest != 1) {
		t.Fatalf("%s: %s: ChangeBounds %d, %d (%v); want 1, %d", when, id, oldest, head, err, page.Head)
	}
}

func (ms models) checkEntries(t *testing.T, st *Store, id string, m *model, when string) {
	t.Helper()
	ctx := context.Background()
	sub, err := st.Subtree(ctx, id, "")
	if err != nil {
		t.Fatalf("%s: %s: %v", when, id, err)
	}
	var got []string
	var used int64
	for _, e := range sub {
		got = append(got, fmt.Sprintf("%s=%d", e.Path, e.Size))
	}
	var want []string
	for p, size := range m.live {
		want = append(want, fmt.Sprintf("%s=%d", p, size))
		used += size
		if e, err := st.Lookup(ctx, id, p); err != nil || e == nil || e.Size != size {
			t.Fatalf("%s: %s: Lookup(%s) = %v, %v; want size %d", when, id, p, e, err, size)
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %s: Subtree\n %v\nwant\n %v", when, id, got, want)
	}
	kids, err := st.Children(ctx, id, "d")
	if err != nil || len(kids) != len(m.live) {
		t.Fatalf("%s: %s: Children(d): %d entries (%v); want %d", when, id, len(kids), err, len(m.live))
	}
	if u, n, err := st.Usage(ctx, id); err != nil || u != used || n != int64(len(m.live)) {
		t.Fatalf("%s: %s: Usage %d bytes, %d entries (%v); want %d, %d", when, id, u, n, err, used, len(m.live))
	}
}

// journalRows returns how many change-log rows the journal tables hold.
func journalRows(t *testing.T, st *Store) (n int) {
	t.Helper()
	if err := st.DB().QueryRow(`SELECT count(*) FROM tenant_journal_changes`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// openGuest opens a second Store on the database at path, as syncctl --data does
// beside a running syncd, runs fn with it and closes it.
func openGuest(t *testing.T, path string, fn func(st *Store)) {
	t.Helper()
	if err := guest(path, fn); err != nil {
		t.Fatal(err)
	}
}

// guest is openGuest's work, for any goroutine.
func guest(path string, fn func(st *Store)) error {
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := NewStore(ctx, db, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	fn(st)
	return nil
}

// TestJournalSecondStore: a second Store opened on the database of a Store whose
// journal holds rows of several tenants (syncctl --data beside a running syncd), then
// closed, changes nothing the first one reads: its listings, point reads, change-log
// pages and heads stay right while it goes on writing (batches of many tenants and
// of one, deletes, moves), and after it is closed and the database opened again. A
// second Store that writes (deletes a tenant) while the first holds unmerged rows
// does not disturb the others either.
func TestJournalSecondStore(t *testing.T) {
	st, path := openStore(t, 0)
	ctx := context.Background()
	ms := models{}
	for _, id := range []string{"t0", "t1", "t2", "gone"} {
		if err := st.CreateTenant(ctx, index.Tenant{Name: id, ID: id}, "e"); err != nil {
			t.Fatal(err)
		}
		ms[id] = &model{live: map[string]int64{}}
	}
	for i := range 12 { // every write's rows in the journal
		ms.write(t, st, stageWrite{id: fmt.Sprintf("t%d", i%3), path: fmt.Sprintf("d/f%d", i%5), size: int64(i + 1)})
	}
	ms.write(t, st, stageWrite{id: "gone", path: "d/x", size: 7})
	ms.check(t, st, "before the second store")
	if n := journalRows(t, st); n != 13 {
		t.Fatalf("the journal holds %d change-log rows, want 13: the test needs them unmerged", n)
	}
	openGuest(t, path, func(g *Store) { ms.check(t, g, "the second store") })
	ms.check(t, st, "after the second store")

	st.txb.jb.always = false // as syncd runs: batches of many tenants go to the journal
	for i := range 4 {
		ms.write(t, st, stageWrite{id: "t0", path: fmt.Sprintf("d/f%d", i), size: 100 + int64(i)},
			stageWrite{id: "t1", path: fmt.Sprintf("d/g%d", i), size: 200 + int64(i)})
		ms.write(t, st, stageWrite{id: "t2", path: fmt.Sprintf("d/f%d", i), size: 300 + int64(i)})
		ms.check(t, st, fmt.Sprintf("batch %d", i))
	}
	ms.write(t, st, stageWrite{id: "t1", path: "d/h", size: 9, remove: "d/f1"})
	ms.move(t, st, "t0", "d/f2", "d/m2")
	ms.check(t, st, "after a delete and a move")

	ms.write(t, st, stageWrite{id: "t0", path: "d/f9", size: 9}, stageWrite{id: "t2", path: "d/f9", size: 9})
	if journalRows(t, st) == 0 {
		t.Fatal("the journal is empty: the test needs rows unmerged")
	}
	openGuest(t, path, func(g *Store) {
		ms.check(t, g, "the second store, again")
		if err := g.DeleteTenant(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
	})
	delete(ms, "gone")
	if _, _, err := st.ChangeBounds(ctx, "gone"); !errors.Is(err, index.ErrNoTenant) {
		t.Fatalf("the deleted tenant's ChangeBounds: %v", err)
	}
	ms.check(t, st, "after the second store wrote")
	for i := range 3 {
		ms.write(t, st, stageWrite{id: "t0", path: fmt.Sprintf("d/k%d", i), size: 1}, stageWrite{id: "t1", path: fmt.Sprintf("d/f%d", i), size: 2},
			stageWrite{id: "t2", path: fmt.Sprintf("d/k%d", i), size: 3})
	}
	ms.move(t, st, "t1", "d/g0", "d/m0")
	ms.check(t, st, "after more writes")

	st.Close()
	openGuest(t, path, func(g *Store) { ms.check(t, g, "reopened") })
}

// TestJournalSecondStoreConcurrent: 5 second Stores opened and closed one after the
// other on the database (each merging the journal at open) while 4 writers commit
// files of 3 tenants through the first Store's journal (merged every 200 rows, and by
// deletes) and a reader checks its reads: every read stays of one committed state,
// with no event or entry twice.
func TestJournalSecondStoreConcurrent(t *testing.T) {
	st, path := openStore(t, 200)
	ctx := context.Background()
	const ntenants, writers, each = 3, 4, 40
	ids := make([]string, ntenants)
	acked := make([][]string, ntenants)
	var mu sync.Mutex
	for i := range ids {
		ids[i] = fmt.Sprintf("t%d", i)
		if err := st.CreateTenant(ctx, index.Tenant{Name: ids[i], ID: ids[i]}, "e"); err != nil {
			t.Fatal(err)
		}
	}
	done, guestsDone := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := 0; i < each || !closed(guestsDone); i++ {
				k := (w + i) % ntenants
				p := fmt.Sprintf("d/w%d-%03d", w, i)
				if _, err := put(st, ids[k], p); err != nil {
					t.Error(err)
					return
				}
				if i%40 == 39 {
					removeOne(t, st, ids[k], fmt.Sprintf("x/w%d-%d", w, i))
				}
				mu.Lock()
				acked[k] = append(acked[k], p)
				mu.Unlock()
			}
		})
	}
	var bg sync.WaitGroup
	bg.Go(func() { // the reader
		for n := 0; !closed(done); n++ {
			mu.Lock()
			known := slicesClone(acked[n%ntenants])
			mu.Unlock()
			checkReads(t, st, ids[n%ntenants], known)
		}
	})
	bg.Go(func() { // the second Stores
		defer close(guestsDone)
		for range 5 {
			if err := guest(path, func(*Store) {}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	close(done)
	bg.Wait()
	for k, id := range ids {
		checkReads(t, st, id, acked[k])
	}
}

// closed reports whether c is closed.
func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
