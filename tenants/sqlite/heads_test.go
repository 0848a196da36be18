package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// appendOne is a write that appends the next event (and its entry) and returns the
// epoch and seq it saw as the head, failing after the append when fail is set.
func appendOne(st *sqlite.Store, id, path string, fail error) (epoch string, seq int64, err error) {
	err = st.Write(context.Background(), id, index.WriteOptions{}, func(tx index.Tx) error {
		epoch, seq = tx.Head()
		m := protocol.Metadata{Path: path, Size: 1, Hash: "h", Modified: time.Unix(1, 0), Seq: seq + 1}
		ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: seq + 1, Operation: protocol.NewOperation(protocol.OpCreate, "", m)}
		if err := tx.Append(ev, 0, time.Now()); err != nil {
			return err
		}
		if err := tx.PutEntry(m); err != nil {
			return err
		}
		return fail
	})
	return epoch, seq, err
}

func newHeadStore(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syncd.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := sqlite.NewStore(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.CreateTenant(ctx, index.Tenant{Name: "a", ID: "id-a"}, "e1"); err != nil {
		t.Fatal(err)
	}
	return st, path
}

// TestWriteHeadMovedElsewhere: a write reads the head row as it is even when the
// head was last written by another connection of the process (SetHead) or by
// another process, after writes that the Store's batches committed themselves.
func TestWriteHeadMovedElsewhere(t *testing.T) {
	ctx := context.Background()
	st, path := newHeadStore(t)
	want := func(i int, epoch string, seq int64) {
		t.Helper()
		e, s, err := appendOne(st, "id-a", fmt.Sprintf("f%d", i), nil)
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if e != epoch || s != seq {
			t.Fatalf("write %d saw head %s/%d, want %s/%d", i, e, s, epoch, seq)
		}
	}
	want(1, "e1", 0)
	want(2, "e1", 1)
	if err := st.SetHead(ctx, "id-a", "e2", 40); err != nil {
		t.Fatal(err)
	}
	want(3, "e2", 40)
	want(4, "e2", 41)

	other, err := sqlite.Open(ctx, path) // another process's pool
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, `UPDATE tenants SET epoch = 'e3', head_seq = 60 WHERE id = 'id-a'`); err != nil {
		t.Fatal(err)
	}
	want(5, "e3", 60)
	want(6, "e3", 61)
	if e, head, maxSeq, err := st.LoadHead(ctx, "id-a"); err != nil || e != "e3" || head != 62 || maxSeq != 62 {
		t.Fatalf("head %s/%d, max seq %d, %v; want e3/62, 62", e, head, maxSeq, err)
	}
	if err := st.DeleteTenant(ctx, "id-a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := appendOne(st, "id-a", "f7", nil); !errors.Is(err, index.ErrNoTenant) {
		t.Fatalf("write to a deleted tenant: %v, want ErrNoTenant", err)
	}
}

// TestWriteHeadsRolledBack: concurrent writes of one tenant share batches, and some
// fail after their append; each write sees the head the committed ones left, so
// the log stays gap-free and the head is the number of writes that succeeded.
func TestWriteHeadsRolledBack(t *testing.T) {
	st, _ := newHeadStore(t)
	errFail := errors.New("fail")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for g := range 8 {
		wg.Go(func() {
			for i := range 25 {
				var fail error
				if (g+i)%4 == 0 {
					fail = errFail
				}
				_, _, err := appendOne(st, "id-a", fmt.Sprintf("g%d/%d", g, i), fail)
				if err != nil && !errors.Is(err, errFail) {
					t.Errorf("write: %v", err)
				}
				if err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if ok != 150 {
		t.Fatalf("%d writes succeeded, want 150", ok)
	}
	var n, maxSeq int64
	// The log's rows, merged or still in the journal.
	if err := st.DB().QueryRow(`SELECT count(*), max(seq) FROM (SELECT seq FROM tenant_changes WHERE tenant_id = 'id-a'
		UNION ALL SELECT seq FROM tenant_journal_changes WHERE tenant_id = 'id-a')`).Scan(&n, &maxSeq); err != nil {
		t.Fatal(err)
	}
	_, head, _, err := st.LoadHead(context.Background(), "id-a")
	if err != nil || n != 150 || maxSeq != 150 || head != 150 {
		t.Fatalf("%d changes up to seq %d, head %d (%v); want 150, 150, 150", n, maxSeq, head, err)
	}
}
