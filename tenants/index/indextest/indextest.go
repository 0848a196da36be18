// Package indextest is the conformance suite of index.Writer: every index adapter
// (tenants/sqlite today, a PostgreSQL one later) runs it from its own tests.
package indextest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// New returns an empty index holding n tenants (head 0, a non-empty epoch each) and
// their ids.
type New func(t *testing.T, n int) (index.Writer, []string)

// Run runs the suite against indexes made by newIndex.
func Run(t *testing.T, newIndex New) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, w index.Writer, ids []string)
	}{
		{"HeadFollowsAppends", headFollowsAppends},
		{"SeqGapless", seqGapless},
		{"Rollback", rollback},
		{"NoTenant", noTenant},
		{"EntriesByFoldKey", entriesByFoldKey},
		{"MoveTree", moveTree},
		{"ConcurrentTenants", concurrentTenants},
		{"Alongside", alongside},
		{"AlongsideOddFirstStep", alongsideOddFirstStep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, ids := newIndex(t, 2)
			tc.run(t, w, ids)
		})
	}
}

var ctx = context.Background()

// event is a Create of path with the given seq.
func event(seq int64, path string) protocol.Event {
	m := protocol.Metadata{Path: path, Size: 1, Hash: "h", Modified: time.Unix(1, 0).UTC(), Seq: seq}
	return protocol.Event{Type: protocol.TypeFileOperation, Seq: seq, Operation: protocol.NewOperation(protocol.OpCreate, "", m)}
}

// appendN appends n events after the head and returns the head seen at the start.
func appendN(t *testing.T, w index.Writer, id string, n int, o index.WriteOptions) (epoch string, start int64) {
	t.Helper()
	err := w.Write(ctx, id, o, func(tx index.Tx) error {
		epoch, start = tx.Head()
		for i := 1; i <= n; i++ {
			if err := tx.Append(event(start+int64(i), fmt.Sprintf("f%d", start+int64(i))), 0, time.Now()); err != nil {
				return err
			}
			if _, seq := tx.Head(); seq != start+int64(i) {
				return fmt.Errorf("head %d after appending %d", seq, start+int64(i))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return epoch, start
}

func head(t *testing.T, w index.Writer, id string) (epoch string, seq int64) {
	t.Helper()
	if err := w.Write(ctx, id, index.WriteOptions{}, func(tx index.Tx) error {
		epoch, seq = tx.Head()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return epoch, seq
}

// count is how many entries p and its subtree hold, and their file bytes, read back
// by removing them in a transaction that is then rolled back.
func count(t *testing.T, w index.Writer, id, p string) (n, bytes int64) {
	t.Helper()
	undo := errors.New("undo")
	err := w.Write(ctx, id, index.WriteOptions{}, func(tx index.Tx) error {
		var err error
		if n, bytes, err = tx.RemoveTree(p); err != nil {
			return err
		}
		return undo
	})
	if !errors.Is(err, undo) {
		t.Fatalf("count %s: %v", p, err)
	}
	return n, bytes
}

func headFollowsAppends(t *testing.T, w index.Writer, ids []string) {
	epoch, start := appendN(t, w, ids[0], 3, index.WriteOptions{})
	if epoch == "" || start != 0 {
		t.Fatalf("fresh tenant: epoch %q head %d", epoch, start)
	}
	if _, start = appendN(t, w, ids[0], 2, index.WriteOptions{KeepUndo: true}); start != 3 {
		t.Fatalf("second transaction began at %d, want 3", start)
	}
	if e, seq := head(t, w, ids[0]); e != epoch || seq != 5 {
		t.Fatalf("head %q %d, want %q 5", e, seq, epoch)
	}
	if _, seq := head(t, w, ids[1]); seq != 0 {
		t.Fatalf("the other tenant's head moved to %d", seq)
	}
}

func seqGapless(t *testing.T, w index.Writer, ids []string) {
	appendN(t, w, ids[0], 1, index.WriteOptions{})
	for _, seq := range []int64{1, 3, 0} {
		err := w.Write(ctx, ids[0], index.WriteOptions{}, func(tx index.Tx) error {
			return tx.Append(event(seq, "x"), 0, time.Now())
		})
		if !errors.Is(err, index.ErrSeqGap) {
			t.Errorf("append seq %d after 1: %v, want ErrSeqGap", seq, err)
		}
	}
	if _, seq := head(t, w, ids[0]); seq != 1 {
		t.Fatalf("head %d after refused appends, want 1", seq)
	}
}

func rollback(t *testing.T, w index.Writer, ids []string) {
	fail := errors.New("fail")
	err := w.Write(ctx, ids[0], index.WriteOptions{KeepUndo: true}, func(tx index.Tx) error {
		if err := tx.Append(event(1, "x"), 0, time.Now()); err != nil {
			return err
		}
		if err := tx.PutEntry(protocol.Metadata{Path: "x", Size: 5, Seq: 1}); err != nil {
			return err
		}
		if err := tx.AddVersion("v1", protocol.Metadata{Path: "x", Size: 2}, time.Now(), false); err != nil {
			return err
		}
		return fail
	})
	if !errors.Is(err, fail) {
		t.Fatalf("write: %v, want fn's error", err)
	}
	if _, seq := head(t, w, ids[0]); seq != 0 {
		t.Fatalf("head %d after a rolled back write", seq)
	}
	if n, _ := count(t, w, ids[0], "x"); n != 0 {
		t.Fatalf("%d entries after a rolled back write", n)
	}
}

func noTenant(t *testing.T, w index.Writer, _ []string) {
	called := false
	err := w.Write(ctx, "no-such-tenant", index.WriteOptions{}, func(index.Tx) error { called = true; return nil })
	if !errors.Is(err, index.ErrNoTenant) || called {
		t.Fatalf("write to an unknown tenant: %v (fn called %v)", err, called)
	}
}

// alongside: a write's Alongside work (both steps) runs exactly once, by the time
// Write returns or soon after, whether the write commits, fails in fn or names no
// tenant.
func alongside(t *testing.T, w index.Writer, ids []string) {
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name, tenant string
		fn           func(index.Tx) error
		want         error
	}{
		{"commits", ids[0], func(tx index.Tx) error {
			_, seq := tx.Head()
			return tx.Append(event(seq+1, "along"), 0, time.Now())
		}, nil},
		{"fn fails", ids[1], func(index.Tx) error { return errBoom }, errBoom},
		{"no tenant", "no-such-tenant", func(index.Tx) error { return nil }, index.ErrNoTenant},
	} {
		queued, ran := make(chan struct{}, 2), make(chan struct{}, 2)
		along := func() func() {
			queued <- struct{}{}
			return func() { ran <- struct{}{} }
		}
		err := w.Write(ctx, tc.tenant, index.WriteOptions{Alongside: along}, tc.fn)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		for step, c := range map[string]chan struct{}{"first step": queued, "rest": ran} {
			select {
			case <-c:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: Alongside's %s never ran", tc.name, step)
			}
		}
		time.Sleep(10 * time.Millisecond) // a second run would show here
		if len(queued) != 0 || len(ran) != 0 {
			t.Errorf("%s: Alongside ran more than once", tc.name)
		}
	}
}

// alongsideOddFirstStep: a write whose Alongside first step returns a nil rest, or
// panics (neither may happen), still commits, and the next write runs.
func alongsideOddFirstStep(t *testing.T, w index.Writer, ids []string) {
	for _, tc := range []struct {
		name  string
		along func() func()
	}{
		{"nil rest", func() func() { return nil }},
		{"panics", func() func() { panic("first step") }},
	} {
		_, before := head(t, w, ids[0])
		err := w.Write(ctx, ids[0], index.WriteOptions{Alongside: tc.along}, func(tx index.Tx) error {
			_, seq := tx.Head()
			return tx.Append(event(seq+1, "odd-"+tc.name), 0, time.Now())
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if _, after := head(t, w, ids[0]); after != before+1 {
			t.Errorf("%s: head %d after the write, want %d", tc.name, after, before+1)
		}
	}
	appendN(t, w, ids[1], 1, index.WriteOptions{})
}

func entriesByFoldKey(t *testing.T, w index.Writer, ids []string) {
	put := func(ms ...protocol.Metadata) {
		t.Helper()
		if err := w.Write(ctx, ids[0], index.WriteOptions{}, func(tx index.Tx) error {
			for _, m := range ms {
				if err := tx.PutEntry(m); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(protocol.Metadata{Path: "d", IsDirectory: true}, protocol.Metadata{Path: "d/a", Size: 3},
		protocol.Metadata{Path: "d/b", Size: 4}, protocol.Metadata{Path: "e", Size: 10}, protocol.Metadata{Path: "d0", Size: 1})
	// "E" replaces "e" (the same name under folding); trees are by exact path.
	put(protocol.Metadata{Path: "E", Size: 20})
	for _, c := range []struct {
		p        string
		n, bytes int64
	}{{"d", 3, 7}, {"e", 0, 0}, {"E", 1, 20}, {"d0", 1, 1}, {"", 5, 28}, {"missing", 0, 0}} {
		if n, bytes := count(t, w, ids[0], c.p); n != c.n || bytes != c.bytes {
			t.Errorf("tree %q: %d entries, %d bytes; want %d, %d", c.p, n, bytes, c.n, c.bytes)
		}
	}
	if n, _ := count(t, w, ids[1], ""); n != 0 {
		t.Errorf("the other tenant holds %d entries", n)
	}
}

func moveTree(t *testing.T, w index.Writer, ids []string) {
	if err := w.Write(ctx, ids[0], index.WriteOptions{KeepUndo: true}, func(tx index.Tx) error {
		for _, m := range []protocol.Metadata{{Path: "d", IsDirectory: true}, {Path: "d/s", IsDirectory: true},
			{Path: "d/s/a", Size: 3}, {Path: "dx", Size: 1}} {
			if err := tx.PutEntry(m); err != nil {
				return err
			}
		}
		return tx.MoveTree("d", "m", 1)
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p        string
		n, bytes int64
	}{{"d", 0, 0}, {"m", 3, 3}, {"m/s", 2, 3}, {"dx", 1, 1}} {
		if n, bytes := count(t, w, ids[0], c.p); n != c.n || bytes != c.bytes {
			t.Errorf("tree %q after the move: %d entries, %d bytes; want %d, %d", c.p, n, bytes, c.n, c.bytes)
		}
	}
}

func concurrentTenants(t *testing.T, w index.Writer, ids []string) {
	var wg sync.WaitGroup
	for _, id := range ids {
		for g := 0; g < 4; g++ {
			wg.Go(func() {
				for i := 0; i < 10; i++ {
					err := w.Write(ctx, id, index.WriteOptions{}, func(tx index.Tx) error {
						_, seq := tx.Head()
						return tx.Append(event(seq+1, "f"), 0, time.Now())
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for _, id := range ids {
		if _, seq := head(t, w, id); seq != 40 {
			t.Errorf("tenant %s: head %d after 40 appends", id, seq)
		}
	}
}
