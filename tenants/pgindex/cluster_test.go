package pgindex_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/pgindex"
)

// commitFiles appends one Create per name after the head and puts the entries.
func commitFiles(ctx context.Context, st *pgindex.Store, id string, size int64, names ...string) (first int64, err error) {
	err = st.Write(ctx, id, index.WriteOptions{}, func(tx index.Tx) error {
		_, head := tx.Head()
		first = head + 1
		for _, name := range names {
			_, seq := tx.Head()
			m := protocol.Metadata{Path: name, Size: size, Hash: "h", Modified: time.Unix(1, 0).UTC(), Seq: seq + 1}
			ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: seq + 1, Operation: protocol.NewOperation(protocol.OpCreate, "", m)}
			if err := tx.Append(ev, 0, time.Now()); err != nil {
				return err
			}
			if err := tx.PutEntry(m); err != nil {
				return err
			}
		}
		return nil
	})
	return first, err
}

// follower reads the change log from node st as a subscriber would, and fails t on
// any hole or repeat: each page must start right after the last seq seen.
type follower struct {
	st   *pgindex.Store
	id   string
	last int64
}

func (f *follower) step(ctx context.Context) error {
	p, err := f.st.Changes(ctx, f.id, f.last, 50)
	if err != nil {
		return err
	}
	for _, ev := range p.Events {
		if ev.Seq != f.last+1 {
			return fmt.Errorf("after seq %d the log gives %d (head %d)", f.last, ev.Seq, p.Head)
		}
		f.last = ev.Seq
	}
	if f.last > p.Head {
		return fmt.Errorf("event %d beyond the head %d of the same page", f.last, p.Head)
	}
	return nil
}

// TestTwoNodesOneTenant: two nodes (two pools) commit to one tenant at once. The log
// ends with every committed seq exactly once; a reader on either node that sees seq
// N+1 (the head) at once reads N; a follower never sees a hole or a repeat.
func TestTwoNodesOneTenant(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	nodes := []*pgindex.Store{open(t, url, 4, pgindex.Options{}), open(t, url, 4, pgindex.Options{})}
	if err := nodes[0].CreateTenant(ctx, index.Tenant{Name: "team", ID: "tid"}, "e1"); err != nil {
		t.Fatal(err)
	}
	const writers, writes = 3, 20
	var committed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for n, st := range nodes {
		for g := range writers {
			wg.Go(func() {
				for i := range writes {
					k := 1 + (g+i)%3
					names := make([]string, k)
					for j := range names {
						names[j] = fmt.Sprintf("n%d/g%d/f%d-%d", n, g, i, j)
					}
					if _, err := commitFiles(ctx, st, "tid", 1, names...); err != nil {
						t.Error(err)
						return
					}
					committed.Add(int64(k))
				}
			})
		}
	}
	var rg sync.WaitGroup
	for n, st := range nodes {
		other := nodes[1-n]
		rg.Go(func() { // sees N+1 on one node, reads N on the other at once
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, head, _, err := st.LoadHead(ctx, "tid")
				if err != nil {
					t.Error(err)
					return
				}
				if head == 0 {
					continue
				}
				p, err := other.Changes(ctx, "tid", head-1, 1)
				if err != nil || len(p.Events) != 1 || p.Events[0].Seq != head {
					t.Errorf("head %d seen on node %d; node %d reads after %d: %+v %v", head, n, 1-n, head-1, p.Events, err)
					return
				}
			}
		})
		rg.Go(func() {
			f := &follower{st: st, id: "tid"}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := f.step(ctx); err != nil {
					t.Errorf("follower on node %d: %v", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	total := committed.Load()
	f := &follower{st: nodes[1], id: "tid"}
	for f.last < total {
		before := f.last
		if err := f.step(ctx); err != nil {
			t.Fatal(err)
		}
		if f.last == before {
			break
		}
	}
	_, head, maxSeq, err := nodes[1].LoadHead(ctx, "tid")
	if err != nil || head != total || maxSeq != total || f.last != total {
		t.Fatalf("head %d, max seq %d, followed to %d (%v); %d changes committed", head, maxSeq, f.last, err, total)
	}
	checkCounters(t, url, nodes[0], "tid", total, total)
}

// checkCounters checks the head row's counters against the entries, and the values.
func checkCounters(t *testing.T, url string, st *pgindex.Store, id string, used, entries int64) {
	t.Helper()
	var hUsed, hEntries int64
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), `SELECT used_bytes, entries FROM tenant_heads WHERE tenant_id = $1`, id).Scan(&hUsed, &hEntries); err != nil {
		t.Fatal(err)
	}
	u, n, err := st.Usage(context.Background(), id)
	if err != nil || u != hUsed || n != hEntries || u != used || n != entries {
		t.Fatalf("head counters %d bytes %d entries; counted %d %d (%v); want %d %d", hUsed, hEntries, u, n, err, used, entries)
	}
}

// TestLimitsAcrossNodes: two nodes race for the last bytes of a quota and the last
// entries of a limit; the tenant never ends over either, the refused writes get the
// domain's errors, and what was refused left nothing behind.
func TestLimitsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	nodes := []*pgindex.Store{open(t, url, 4, pgindex.Options{MaxEntries: 30}), open(t, url, 4, pgindex.Options{MaxEntries: 30})}
	if err := nodes[0].CreateTenant(ctx, index.Tenant{Name: "q", ID: "q", Quota: 100}, "e"); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].CreateTenant(ctx, index.Tenant{Name: "m", ID: "m"}, "e"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id        string
		size      int64
		code      protocol.Code
		ok, limit int64
	}{{"q", 10, protocol.CodeQuotaExceeded, 10, 100}, {"m", 0, protocol.CodeTooLarge, 30, 30}} {
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for n, st := range nodes {
			for g := range 4 {
				wg.Go(func() {
					for i := range 10 {
						_, err := commitFiles(ctx, st, c.id, c.size, fmt.Sprintf("n%d-g%d-%d", n, g, i))
						var pe *protocol.Error
						switch {
						case err == nil:
							ok.Add(1)
						case errors.As(err, &pe) && pe.Code == c.code:
							refused.Add(1)
						default:
							t.Errorf("%s: %v", c.id, err)
						}
					}
				})
			}
		}
		wg.Wait()
		if ok.Load() != c.ok || refused.Load() != 80-c.ok {
			t.Errorf("%s: %d writes committed, %d refused; want %d, %d", c.id, ok.Load(), refused.Load(), c.ok, 80-c.ok)
		}
		checkCounters(t, url, nodes[1], c.id, c.ok*c.size, c.ok)
		if _, head, _, err := nodes[1].LoadHead(ctx, c.id); err != nil || head != c.ok {
			t.Errorf("%s: head %d (%v), want %d: refused writes used no seq", c.id, head, err, c.ok)
		}
	}
	// A write that shrinks is allowed over the limit; NoLimits turns the check off.
	free := open(t, url, 2, pgindex.Options{NoLimits: true})
	if _, err := commitFiles(ctx, free, "q", 10, "over"); err != nil {
		t.Fatal(err)
	}
	if _, err := commitFiles(ctx, nodes[0], "q", 1, "over"); err != nil {
		t.Fatalf("shrinking a file over the quota: %v", err)
	}
}

// TestCountersFollowEntries: the head row's bytes and entries follow puts, replaces,
// moves and removals, as Usage counts them from the entries.
func TestCountersFollowEntries(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	st := open(t, url, 2, pgindex.Options{})
	if err := st.CreateTenant(ctx, index.Tenant{Name: "t", ID: "t"}, "e"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		fn            func(tx index.Tx) error
		used, entries int64
	}{
		{func(tx index.Tx) error {
			for _, m := range []protocol.Metadata{{Path: "d", IsDirectory: true}, {Path: "d/a", Size: 5}, {Path: "d/b", Size: 7}, {Path: "c", Size: 1}} {
				if err := tx.PutEntry(m); err != nil {
					return err
				}
			}
			return nil
		}, 13, 4},
		{func(tx index.Tx) error { return tx.PutEntry(protocol.Metadata{Path: "d/A", Size: 50}) }, 58, 4}, // a replace, by fold key
		{func(tx index.Tx) error { return tx.PutEntry(protocol.Metadata{Path: "c", IsDirectory: true}) }, 57, 4},
		{func(tx index.Tx) error { return tx.MoveTree("d", "m", 1) }, 57, 4},
		{func(tx index.Tx) error { _, _, err := tx.RemoveTree("m"); return err }, 0, 1},
	}
	for i, s := range steps {
		if err := st.Write(ctx, "t", index.WriteOptions{KeepUndo: i%2 == 0}, s.fn); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		checkCounters(t, url, st, "t", s.used, s.entries)
	}
}

// TestPanicReleasesTheHead: a write whose function panics leaves no lock behind: the
// other node writes the tenant at once, and nothing of the panicking write remains.
func TestPanicReleasesTheHead(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	a, b := open(t, url, 1, pgindex.Options{}), open(t, url, 1, pgindex.Options{})
	if err := a.CreateTenant(ctx, index.Tenant{Name: "t", ID: "t"}, "e"); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller")
			}
		}()
		a.Write(ctx, "t", index.WriteOptions{}, func(tx index.Tx) error {
			if _, err := commitFilesTx(tx, "lost"); err != nil {
				return err
			}
			if _, _, err := tx.RemoveTree("none"); err != nil { // a flushed statement
				return err
			}
			panic("bug")
		})
	}()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if first, err := commitFiles(wctx, b, "t", 1, "x"); err != nil || first != 1 {
		t.Fatalf("write on the other node: first seq %d, %v", first, err)
	}
	// a's one connection went back to its pool usable (or was replaced).
	if first, err := commitFiles(wctx, a, "t", 1, "y"); err != nil || first != 2 {
		t.Fatalf("write on the same node: first seq %d, %v", first, err)
	}
	if e, err := b.Lookup(ctx, "t", "lost"); err != nil || e != nil {
		t.Fatalf("the panicking write left %+v (%v)", e, err)
	}
}

// commitFilesTx appends a Create of name and puts its entry in tx.
func commitFilesTx(tx index.Tx, name string) (int64, error) {
	_, seq := tx.Head()
	m := protocol.Metadata{Path: name, Size: 1, Seq: seq + 1}
	ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: seq + 1, Operation: protocol.NewOperation(protocol.OpCreate, "", m)}
	if err := tx.Append(ev, 0, time.Now()); err != nil {
		return 0, err
	}
	return seq + 1, tx.PutEntry(m)
}

// TestUsageRepairsCounters: head counters that disagree with the entries (rows written
// by hand) are repaired by Usage, the recovery read.
func TestUsageRepairsCounters(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	st := open(t, url, 2, pgindex.Options{})
	if err := st.CreateTenant(ctx, index.Tenant{Name: "t", ID: "t"}, "e"); err != nil {
		t.Fatal(err)
	}
	if _, err := commitFiles(ctx, st, "t", 3, "a", "b"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE tenant_heads SET used_bytes = 100, entries = 0`); err != nil {
		t.Fatal(err)
	}
	if used, n, err := st.Usage(ctx, "t"); err != nil || used != 6 || n != 2 {
		t.Fatalf("usage %d %d %v, want 6 2", used, n, err)
	}
	checkCounters(t, url, st, "t", 6, 2)
}
