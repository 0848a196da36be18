package pgindex_test

import (
	"context"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/pgindex"
)

// TestExpectations: a Write whose expectation (index.ExpectTx) no longer holds when
// it runs fails with conflict and commits nothing; expectations that hold, including
// on what the transaction itself changed before them, let it commit. Node B read the
// tree, node A changed it, then B writes.
func TestExpectations(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	a, b := open(t, url, 2, pgindex.Options{}), open(t, url, 2, pgindex.Options{})
	if err := a.CreateTenant(ctx, index.Tenant{Name: "team", ID: "tid"}, "e1"); err != nil {
		t.Fatal(err)
	}
	if _, err := commitFiles(ctx, a, "tid", 1, "d", "f"); err != nil { // seq 1 and 2 (d a file here)
		t.Fatal(err)
	}
	f, err := b.Lookup(ctx, "tid", "f")
	if err != nil || f == nil {
		t.Fatal(f, err)
	}
	expectWrite := func(what string, want protocol.Code, fn func(ex index.ExpectTx, tx index.Tx) error) {
		t.Helper()
		_, before, _ := b.ChangeBounds(ctx, "tid")
		err := b.Write(ctx, "tid", index.WriteOptions{}, func(tx index.Tx) error {
			if err := fn(tx.(index.ExpectTx), tx); err != nil {
				return err
			}
			_, err := commitFilesTx(tx, "g-"+what)
			return err
		})
		if got := protocol.CodeOf(err); (want == "" && err != nil) || (want != "" && got != want) {
			t.Errorf("%s: %v, want %q", what, err, want)
		}
		_, after, _ := b.ChangeBounds(ctx, "tid")
		if committed := after > before; committed != (want == "") {
			t.Errorf("%s: head %d → %d", what, before, after)
		}
	}
	ok := protocol.Code("")
	expectWrite("entries as read", ok, func(ex index.ExpectTx, _ index.Tx) error {
		if err := ex.ExpectEntry("f", f); err != nil {
			return err
		}
		return ex.ExpectEntry("new", nil)
	})
	// A rewrites f and creates x/ with a child.
	if _, err := commitFiles(ctx, a, "tid", 2, "f"); err != nil {
		t.Fatal(err)
	}
	mkdirAndChild(t, a)
	c, err := b.Lookup(ctx, "tid", "x/c")
	if err != nil || c == nil {
		t.Fatal(c, err)
	}
	expectWrite("f rewritten meanwhile", protocol.CodeUnavailable, func(ex index.ExpectTx, _ index.Tx) error { return ex.ExpectEntry("f", f) })
	expectWrite("x made meanwhile", protocol.CodeUnavailable, func(ex index.ExpectTx, _ index.Tx) error { return ex.ExpectEntry("x", nil) })
	expectWrite("x is no file", ok, func(ex index.ExpectTx, _ index.Tx) error { return ex.ExpectNoFile("x") })
	expectWrite("d is a file", protocol.CodeUnavailable, func(ex index.ExpectTx, _ index.Tx) error { return ex.ExpectNoFile("d") })
	expectWrite("parent d is no directory", protocol.CodeUnavailable, func(ex index.ExpectTx, _ index.Tx) error { return ex.ExpectEntry("d/new", nil) })
	expectWrite("x holds one entry", ok, func(ex index.ExpectTx, _ index.Tx) error { return ex.ExpectTree("x", 1, c.Seq) })
	expectWrite("x holds two", protocol.CodeUnavailable, func(ex index.ExpectTx, _ index.Tx) error { return ex.ExpectTree("x", 2, c.Seq) })
	expectWrite("before a RemoveTree", protocol.CodeUnavailable, func(ex index.ExpectTx, tx index.Tx) error {
		if err := ex.ExpectTree("x", 0, 0); err != nil {
			return err
		}
		_, _, err := tx.RemoveTree("x") // sends the pipeline at once
		return err
	})
	expectWrite("sees the transaction's own rows", ok, func(ex index.ExpectTx, tx index.Tx) error {
		if _, err := commitFilesTx(tx, "mine"); err != nil {
			return err
		}
		return ex.ExpectEntry("mine", &index.Entry{})
	})
}

// mkdirAndChild commits the directory x and x/c in one change on st.
func mkdirAndChild(t *testing.T, st *pgindex.Store) {
	t.Helper()
	err := st.Write(context.Background(), "tid", index.WriteOptions{}, func(tx index.Tx) error {
		_, seq := tx.Head()
		dir := protocol.Metadata{Path: "x", IsDirectory: true, Modified: time.Unix(1, 0).UTC(), Seq: seq + 1}
		child := protocol.Metadata{Path: "x/c", Size: 1, Hash: "h", Modified: time.Unix(1, 0).UTC(), Seq: seq + 1}
		ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: seq + 1, Operation: protocol.NewOperation(protocol.OpCreate, "", child)}
		if err := tx.Append(ev, 0, time.Now()); err != nil {
			return err
		}
		if err := tx.PutEntry(dir); err != nil {
			return err
		}
		return tx.PutEntry(child)
	})
	if err != nil {
		t.Fatal(err)
	}
}
