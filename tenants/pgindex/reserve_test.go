package pgindex_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/casblobs"
	"github.com/syncspace/syncspace/tenants/dirblobs"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/localbus"
	"github.com/syncspace/syncspace/tenants/pgindex"
)

// usage reads the tenant's used and reserved bytes, and the sum of its reservation
// rows (which reserved must equal).
func usage(t *testing.T, url, id string) (used, reserved, rows int64) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT used_bytes, reserved_bytes,
		(SELECT coalesce(sum(bytes), 0) FROM tenant_reservations WHERE tenant_id = $1)::bigint
		FROM tenant_heads WHERE tenant_id = $1`, id).Scan(&used, &reserved, &rows); err != nil {
		t.Fatal(err)
	}
	return used, reserved, rows
}

func wantUsage(t *testing.T, url, id string, used, reserved int64) {
	t.Helper()
	u, r, rows := usage(t, url, id)
	if u != used || r != reserved || rows != reserved {
		t.Fatalf("used %d, reserved %d (rows %d); want used %d, reserved %d", u, r, rows, used, reserved)
	}
}

// pool returns a pool of its own on the database at url.
func pool(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// reservations returns a node's reservations on a pool of their own.
func reservations(t testing.TB, url string, o pgindex.ReservationOptions) *pgindex.Reservations {
	t.Helper()
	r, err := pgindex.NewReservations(context.Background(), pool(t, url), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// commitReleasing commits one file of size bytes and releases ids in the same
// transaction, as a group commit does.
func commitReleasing(ctx context.Context, st *pgindex.Store, id, name string, size int64, ids ...string) error {
	return st.Write(ctx, id, index.WriteOptions{}, func(tx index.Tx) error {
		_, seq := tx.Head()
		m := protocol.Metadata{Path: name, Size: size, Hash: "h", Modified: time.Unix(1, 0).UTC(), Seq: seq + 1}
		ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: seq + 1, Operation: protocol.NewOperation(protocol.OpCreate, "", m)}
		if err := tx.Append(ev, 0, time.Now()); err != nil {
			return err
		}
		if err := tx.PutEntry(m); err != nil {
			return err
		}
		return tx.(index.ReleaseTx).ReleaseReservations(ids)
	})
}

// TestReservationsAcrossNodes: reservations of two nodes share the quota; a commit
// turns its reservation into used bytes in one step; Release gives bytes back; a node
// that dies loses its reservations when its lease ends; a node that restarts under its
// id drops what it held.
func TestReservationsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	fast := pgindex.ReservationOptions{Lease: 2 * time.Second}
	st := open(t, url, 2, pgindex.Options{})
	a, b := reservations(t, url, fast), reservations(t, url, fast)
	if err := st.CreateTenant(ctx, index.Tenant{Name: "team", ID: "tid", Quota: 100}, "e1"); err != nil {
		t.Fatal(err)
	}
	ra, err := a.Reserve(ctx, "tid", 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, "tid", 50); !errors.Is(err, index.ErrOverQuota) {
		t.Fatalf("60 then 50 reserved within a quota of 100: %v", err)
	}
	rb, err := b.Reserve(ctx, "tid", 40)
	if err != nil {
		t.Fatal(err)
	}
	wantUsage(t, url, "tid", 0, 100)
	if err := commitReleasing(ctx, st, "tid", "big", 60, ra); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, url, "tid", 60, 40)
	if err := b.Release(ctx, "tid", rb); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, "tid", rb); err != nil { // twice: no error, no change
		t.Fatal(err)
	}
	wantUsage(t, url, "tid", 60, 0)

	// Node C reserves, then dies (no more renewals): its bytes come back once its
	// lease ended and another node's Maintain ran.
	c := reservations(t, url, pgindex.ReservationOptions{Lease: time.Second, NodeID: "node-c"})
	if _, err := c.Reserve(ctx, "tid", 30); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reserve(ctx, "tid", 20); !errors.Is(err, index.ErrOverQuota) {
		t.Fatalf("60 used + 30 reserved + 20: %v", err)
	}
	b.Maintain(ctx) // renews b's (none), ends none: c's lease runs
	wantUsage(t, url, "tid", 60, 30)
	time.Sleep(1500 * time.Millisecond)
	b.Maintain(ctx)
	wantUsage(t, url, "tid", 60, 0)

	// A live node renews: its reservation outlives several leases.
	rl, err := a.Reserve(ctx, "tid", 10)
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		time.Sleep(400 * time.Millisecond)
		a.Maintain(ctx)
		b.Maintain(ctx)
	}
	wantUsage(t, url, "tid", 60, 10)
	if err := a.Release(ctx, "tid", rl); err != nil {
		t.Fatal(err)
	}

	// Node D restarts under its id at once: the new process holds nothing.
	d := reservations(t, url, pgindex.ReservationOptions{NodeID: "node-d"})
	if _, err := d.Reserve(ctx, "tid", 25); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, url, "tid", 60, 25)
	reservations(t, url, pgindex.ReservationOptions{NodeID: "node-d"})
	wantUsage(t, url, "tid", 60, 0)
}

// chunks hands out a body in pieces as the test sends them.
type chunks struct {
	ch   chan []byte
	rest []byte
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.rest) == 0 {
		b, ok := <-c.ch
		if !ok {
			return 0, io.EOF
		}
		c.rest = b
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

// unread fails the test if the upload reads its body.
type unread struct{ t *testing.T }

func (u unread) Read([]byte) (int, error) {
	u.t.Error("the body of an upload refused for its size was read")
	return 0, io.ErrUnexpectedEOF
}

// TestUploadsReserveAcrossNodes: two nodes (registries on one database and one blob
// store) upload to one tenant. While node A streams a large body, node B's upload
// that would not fit beside it is refused at once, before its body is read; once A
// committed, what fits is accepted, and nothing stays reserved.
func TestUploadsReserveAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	obj, err := dirblobs.Open(filepath.Join(t.TempDir(), "blobs"), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obj.Close() })
	node := func() *tenants.Registry {
		p := pool(t, url)
		idx := open(t, url, 4, pgindex.Options{})
		store, err := casblobs.New(obj, pgindex.NewBlobBook(p), filepath.Join(t.TempDir(), "tmp"), casblobs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		deps := tenants.Deps{Index: idx, Bus: localbus.New(), Blobs: store, Reserver: reservations(t, url, pgindex.ReservationOptions{})}
		reg, err := tenants.Open(ctx, deps, tenants.Limits{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { reg.Close() })
		return reg
	}
	regA, regB := node(), node()
	const mib = 1 << 20
	tn, err := regA.Create(ctx, "team", tenants.Options{Quota: 10 * mib})
	if err != nil {
		t.Fatal(err)
	}
	spA, err := regA.Space(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	spB, err := regB.Space(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}

	body := &chunks{ch: make(chan []byte)}
	done := make(chan error, 1)
	go func() {
		_, _, err := spA.Put(ctx, "a.bin", body, tenants.PutOptions{Size: 6 * mib})
		done <- err
	}()
	piece := []byte(strings.Repeat("a", mib))
	body.ch <- piece // A reads its body: its reservation is in place
	wantUsage(t, url, tn.ID, 0, 6*mib)

	_, _, err = spB.Put(ctx, "b.bin", unread{t}, tenants.PutOptions{Size: 6 * mib})
	if protocol.CodeOf(err) != protocol.CodeQuotaExceeded {
		t.Fatalf("node B's 6 MiB beside node A's 6 MiB in flight, quota 10 MiB: %v", err)
	}
	for range 5 {
		body.ch <- piece
	}
	close(body.ch)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantUsage(t, url, tn.ID, 6*mib, 0)
	four := strings.Repeat("b", 4*mib)
	if _, _, err := spB.Put(ctx, "b.bin", strings.NewReader(four), tenants.PutOptions{Size: 4 * mib}); err != nil {
		t.Fatalf("4 MiB more within the quota: %v", err)
	}
	wantUsage(t, url, tn.ID, 10*mib, 0)
	// Refused at once now too, and nothing stays reserved.
	if _, _, err := spA.Put(ctx, "c.bin", unread{t}, tenants.PutOptions{Size: 2 * mib}); protocol.CodeOf(err) != protocol.CodeQuotaExceeded {
		t.Fatalf("2 MiB over a full quota: %v", err)
	}
	wantUsage(t, url, tn.ID, 10*mib, 0)
}
