package tenants

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// smallPages makes listings read n rows per transaction for the test.
func smallPages(t *testing.T, n int) {
	t.Helper()
	old := listPageSize
	listPageSize = n
	t.Cleanup(func() { listPageSize = old })
}

// collect lists dir and returns the entries in order and the snapshot's seq.
func (e *env) collect(dir string, recursive bool, between func(i int, m protocol.Metadata)) ([]protocol.Metadata, int64) {
	e.t.Helper()
	var out []protocol.Metadata
	var seq int64
	err := e.sp.List(context.Background(), dir, recursive, func(_ string, s int64) error { seq = s; return nil },
		func(m protocol.Metadata) error {
			out = append(out, m)
			if between != nil {
				between(len(out)-1, m)
			}
			return nil
		})
	if err != nil {
		e.t.Fatalf("List(%q): %v", dir, err)
	}
	return out, seq
}

func sameList(t *testing.T, got, want []protocol.Metadata) {
	t.Helper()
	n := max(len(got), len(want))
	for i := range n {
		var g, w protocol.Metadata
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g.Path != w.Path || g.IsDirectory != w.IsDirectory || g.Size != w.Size || g.Hash != w.Hash || g.Seq != w.Seq || !g.Modified.Equal(w.Modified) {
			t.Errorf("entry %d: got %+v, want %+v", i, g, w)
		}
	}
}

func (e *env) undoRows() int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(`SELECT count(*) FROM tenant_entry_undo`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestListPagedSnapshotWithWritesBetweenPages: a listing read in pages of two rows
// answers exactly the snapshot at its seq although every kind of write lands between
// its pages, ahead of and behind the page being read (SPEC §3: lists stream from one
// snapshot).
func TestListPagedSnapshotWithWritesBetweenPages(t *testing.T) {
	smallPages(t, 2)
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	for _, p := range []string{"a/1", "a/2", "a/b/3", "a/b/4", "c/5", "c/6", "d/7", "e", "f/g/8", "h", "i", "j/9"} {
		e.put(p, []byte("content of "+p))
	}
	e.sp.Mkdir(ctx, "k/empty", Source{})
	want, seq := e.collect("", true, nil)
	wantA, seqA := e.collect("a", false, nil)
	if seqA != seq {
		t.Fatalf("quiet seqs %d %d", seq, seqA)
	}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	put := func(p, data string) error {
		_, _, err := e.sp.Put(ctx, p, strings.NewReader(data), PutOptions{Size: int64(len(data))})
		return err
	}
	// One write (or a few) after each entry delivered.
	script := []func(){
		func() { must(put("zz-new", "ahead")) },                                               // create ahead
		func() { must(put("0-new", "behind")) },                                               // create behind
		func() { must(put("c/5", "updated")); must(put("c/5", "updated twice")) },             // update ahead, twice
		func() { _, err := e.sp.Delete(ctx, "d", DeleteOptions{Recursive: true}); must(err) }, // delete a dir ahead
		func() { _, err := e.sp.Move(ctx, "f", "0f", "", Source{}); must(err) },               // move a dir ahead to behind
		func() { _, err := e.sp.Move(ctx, "a/b", "y/b", "", Source{}); must(err) },            // move a dir behind to ahead
		func() { _, err := e.sp.Move(ctx, "h", "H", "", Source{}); must(err) },                // case-only rename
		func() {
			must(put("i", "replaced"))
			_, err := e.sp.Delete(ctx, "i", DeleteOptions{})
			must(err)
			must(put("i", "back"))
		},
		func() { _, _, err := e.sp.Mkdir(ctx, "k/empty/sub", Source{}); must(err) },
		func() { must(put("j/new/x/deep", "parents made")) },
	}
	got, gotSeq := e.collect("", true, func(i int, m protocol.Metadata) {
		if i < len(script) {
			script[i]()
			if e.undoRows() == 0 {
				t.Errorf("write %d kept no undo rows during a listing", i)
			}
		}
	})
	if gotSeq != seq {
		t.Fatalf("snapshot seq %d, want %d", gotSeq, seq)
	}
	sameList(t, got, want)

	// One level, with writes ahead and behind.
	gotA, gotSeqA := e.collect("a", false, func(i int, m protocol.Metadata) {
		if i == 0 {
			must(put("a/0", "behind"))
			must(put("a/zz", "ahead"))
			_, err := e.sp.Delete(ctx, "a/2", DeleteOptions{})
			must(err)
			_, err = e.sp.Move(ctx, "y/b", "a/b", "", Source{})
			must(err)
		}
	})
	if gotSeqA <= seqA {
		t.Fatalf("second snapshot seq %d not after %d", gotSeqA, seqA)
	}
	// The one-level listing is the state at its seq: the writes of the full listing
	// above are in it (a/b had moved away), the ones made during it are not.
	var wantA2 []protocol.Metadata
	for _, m := range wantA {
		if m.Path != "a/b" {
			wantA2 = append(wantA2, m)
		}
	}
	sameList(t, gotA, wantA2)

	// A fresh listing shows every write: undo rows of ended listings do not leak.
	now := map[string]protocol.Metadata{}
	list, _ := e.collect("", true, nil)
	for _, m := range list {
		now[m.Path] = m
	}
	page, err := e.sp.Changes(ctx, 0, "", protocol.MaxChangesLimit)
	if err != nil || page.More {
		t.Fatalf("changes %v more %v", err, page.More)
	}
	sameTree(t, now, replay(page.Events))

	// Undo rows no listing needs are pruned.
	e.sp.snap.pruneUndo(ctx)
	if n := e.undoRows(); n != 0 {
		t.Fatalf("%d undo rows left after the listings ended", n)
	}
}

// TestListSnapshotUnderConcurrentWrites: listings in pages of three rows, with
// writers of every kind running meanwhile (group commits of several members, moves,
// recursive deletes), each equal the change log replayed up to the listing's seq.
func TestListSnapshotUnderConcurrentWrites(t *testing.T) {
	smallPages(t, 3)
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	names := []string{"a/x", "a/y", "a/b/z", "b/q", "c", "C2", "d/e/f", "m/n"}
	dirs := []string{"a", "a/b", "b", "d", "d/e", "m", "w"}
	for _, p := range names {
		e.put(p, []byte(p))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				switch rng.IntN(6) {
				case 0, 1, 2:
					p := names[rng.IntN(len(names))]
					data := fmt.Sprintf("%s %d %d", p, w, i)
					e.sp.Put(ctx, p, strings.NewReader(data), PutOptions{Size: int64(len(data))})
				case 3:
					e.sp.Delete(ctx, dirs[rng.IntN(len(dirs))], DeleteOptions{Recursive: true})
				case 4:
					e.sp.Move(ctx, dirs[rng.IntN(len(dirs))], dirs[rng.IntN(len(dirs))], "", Source{})
				case 5:
					e.sp.Mkdir(ctx, dirs[rng.IntN(len(dirs))], Source{})
				}
				writes.Add(1)
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	for round := range 12 {
		start := writes.Load()
		got := map[string]protocol.Metadata{}
		var seq int64
		var epoch string
		err := e.sp.List(ctx, "", true, func(ep string, s int64) error { epoch, seq = ep, s; return nil }, func(m protocol.Metadata) error {
			if _, dup := got[m.Path]; dup {
				t.Errorf("round %d: %s listed twice", round, m.Path)
			}
			got[m.Path] = m
			time.Sleep(time.Millisecond) // let writers in between pages
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var evs []protocol.Event
		for since := int64(0); since < seq; {
			page, err := e.sp.Changes(ctx, since, epoch, protocol.MaxChangesLimit)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range page.Events {
				if ev.Seq <= seq {
					evs = append(evs, ev)
				}
			}
			if len(page.Events) == 0 {
				break
			}
			since = page.Seq
		}
		sameTree(t, got, replay(evs))
		if t.Failed() {
			for _, ev := range evs {
				t.Logf("event %d %s %s", ev.Seq, ev.Operation.Kind(), ev.Operation.Meta().Path)
			}
			rows, _ := e.db.Query(`SELECT path, died, present FROM tenant_entry_undo ORDER BY path, died`)
			for rows.Next() {
				var p string
				var d, pr int64
				rows.Scan(&p, &d, &pr)
				t.Logf("undo %s died %d present %d", p, d, pr)
			}
			rows.Close()
			rows, _ = e.db.Query(`SELECT path, seq FROM tenant_entries ORDER BY path`)
			for rows.Next() {
				var p string
				var d int64
				rows.Scan(&p, &d)
				t.Logf("entry %s seq %d", p, d)
			}
			rows.Close()
			t.Fatalf("round %d: listing at seq %d differs from the log replayed to it", round, seq)
		}
		if round == 11 && writes.Load() == start {
			t.Log("no writes landed during the last listing")
		}
	}
}

// TestListHoldsNoTransactionBetweenPages: while a listing's caller is blocked (a
// client that stopped reading), a TRUNCATE checkpoint completes: no read transaction
// is left open to pin the WAL.
func TestListHoldsNoTransactionBetweenPages(t *testing.T) {
	smallPages(t, 2)
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	for i := range 8 {
		e.put(fmt.Sprintf("f%d", i), []byte("x"))
	}
	checked := false
	e.collect("", true, func(i int, m protocol.Metadata) {
		if i != 3 {
			return
		}
		for j := range 20 {
			e.put(fmt.Sprintf("w%d", j), []byte("more"))
		}
		conn, err := e.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 100`); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(ctx, `PRAGMA busy_timeout = 10000`)
		var busy, frames, done int
		if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
			t.Fatal(err)
		}
		if busy != 0 {
			t.Errorf("checkpoint blocked by the listing (busy %d, %d frames)", busy, frames)
		}
		fi, err := os.Stat(filepath.Join(e.dir, "syncd.db-wal"))
		if err != nil || fi.Size() != 0 {
			t.Errorf("WAL not truncated: %v %v", fi, err)
		}
		checked = true
	})
	if !checked {
		t.Fatal("the listing never reached the check")
	}
}

// TestListFailsWhenTenantGoes: a listing whose tenant is deleted between pages fails
// rather than answering part of a snapshot.
func TestListFailsWhenTenantGoes(t *testing.T) {
	smallPages(t, 2)
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	for i := range 6 {
		e.put(fmt.Sprintf("f%d", i), []byte("x"))
	}
	n := 0
	err := e.sp.List(ctx, "", true, nil, func(protocol.Metadata) error {
		if n++; n == 1 {
			if err := e.reg.Delete(ctx, e.tenant); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	wantCode(t, err, protocol.CodeNotFound)
	if n >= 6 {
		t.Fatalf("the whole listing was delivered (%d entries)", n)
	}
}

// TestWALTruncatedWhenLarge: the registry's background loop truncates a WAL grown
// beyond sqlite.WALTruncateSize.
func TestWALTruncatedWhenLarge(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	wal := filepath.Join(e.dir, "syncd.db-wal")
	// Pin the WAL with a read transaction while writing past the threshold.
	tx, err := e.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM tenants`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	blob := strings.Repeat("x", 64<<10)
	if _, err := e.db.Exec(`CREATE TABLE filler (b TEXT)`); err != nil {
		t.Fatal(err)
	}
	for size := int64(0); size <= sqlite.WALTruncateSize; {
		if _, err := e.db.Exec(`INSERT INTO filler VALUES (?)`, blob); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		size = fi.Size()
	}
	walBytes := func() int64 {
		t.Helper()
		fi, err := os.Stat(wal)
		if errors.Is(err, fs.ErrNotExist) {
			return 0 // removed when the last connection closed
		}
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	e.reg.index.Maintain(ctx) // the reader still pins it: postponed
	if n := walBytes(); n <= sqlite.WALTruncateSize {
		t.Fatalf("WAL truncated under an open reader: %d", n)
	}
	tx.Rollback()
	e.reg.index.Maintain(ctx)
	if n := walBytes(); n != 0 {
		t.Fatalf("WAL %d bytes after the checkpoint", n)
	}
	// The pool still works with its usual busy timeout.
	var bt int
	if err := e.db.QueryRow(`PRAGMA busy_timeout`).Scan(&bt); err != nil || bt != 10000 {
		t.Fatalf("busy_timeout %d %v", bt, err)
	}
}
