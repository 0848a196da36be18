package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// TestWriteQueuedRows: one Write of 40 puts (more than one multi-row INSERT's rows),
// one path put twice under two spellings, then a RemoveTree that must see every
// queued entry, then more puts after it. The index and the change log must be as
// row-by-row statements leave them; a Write whose queued insert fails (a seq already
// in the log) must leave nothing, the rows queued before the failing one included.
func TestWriteQueuedRows(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := sqlite.NewStore(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	const id = "id0"
	if err := st.CreateTenant(ctx, index.Tenant{Name: "t", ID: id}, "epoch"); err != nil {
		t.Fatal(err)
	}
	put := func(tx index.Tx, p string) error {
		_, seq := tx.Head()
		m := protocol.Metadata{Path: p, Size: 1, Hash: "h", Modified: time.Unix(1, 0), Seq: seq + 1}
		if err := tx.Append(protocol.Event{Type: protocol.TypeFileOperation, Seq: m.Seq,
			Operation: protocol.NewOperation(protocol.OpCreate, "", m)}, 0, time.Unix(2, 0)); err != nil {
			return err
		}
		return tx.PutEntry(m)
	}
	err = st.Write(ctx, id, index.WriteOptions{}, func(tx index.Tx) error {
		for i := range 40 {
			if err := put(tx, fmt.Sprintf("d/f%02d", i)); err != nil {
				return err
			}
		}
		if err := put(tx, "Keep"); err != nil {
			return err
		}
		if err := put(tx, "keep"); err != nil { // the same entry, spelled anew
			return err
		}
		if n, _, err := tx.RemoveTree("d/f1"); err != nil || n != 0 {
			return fmt.Errorf("RemoveTree of a path with no entry: %d, %v", n, err)
		}
		n, bytes, err := tx.RemoveTree("d")
		if err != nil {
			return err
		}
		if n != 40 || bytes != 40 {
			return fmt.Errorf("RemoveTree(d) saw %d entries, %d bytes, want 40 (the queued ones)", n, bytes)
		}
		return put(tx, "after")
	})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := st.Subtree(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(sub) != 2 || sub[0].Path != "after" || sub[1].Path != "keep" || sub[1].Seq != 42 {
		t.Fatalf("entries after the write: %v", sub)
	}
	page, err := st.Changes(ctx, id, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if page.Head != 43 || len(page.Events) != 43 || page.Events[40].Operation.Meta().Path != "Keep" {
		t.Fatalf("change log: head %d, %d events", page.Head, len(page.Events))
	}

	// A failing queued insert: a stray change-log row already holds seq 45, so the
	// Write's second row fails when the queue is inserted, after its first row's. (A
	// Write that removes runs its own statements, so its rows go to tenant_changes;
	// a plain one's go to the journal, checked by the head row instead.)
	if _, err := db.Exec(`INSERT INTO tenant_changes (tenant_id, seq, op, from_path, path, is_dir, size, hash, modified, source_client, source_subject, at)
		VALUES (?, 45, 'Create', '', 'stray', 0, 0, '', 0, '', '', 0)`, id); err != nil {
		t.Fatal(err)
	}
	err = st.Write(ctx, id, index.WriteOptions{}, func(tx index.Tx) error {
		if _, _, err := tx.RemoveTree("none"); err != nil {
			return err
		}
		if err := put(tx, "lost1"); err != nil {
			return err
		}
		return put(tx, "lost2")
	})
	if err == nil {
		t.Fatal("a Write whose queued change-log row collides succeeded")
	}
	for _, p := range []string{"lost1", "lost2"} {
		if e, err := st.Lookup(ctx, id, p); err != nil || e != nil {
			t.Errorf("%s after the failed Write: %v, %v", p, e, err)
		}
	}
	if _, head, err := st.ChangeBounds(ctx, id); err != nil || head != 43 {
		t.Errorf("head after the failed Write: %d, %v", head, err)
	}
}
