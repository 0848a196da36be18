package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/pgstore"
	"github.com/syncspace/syncspace/auth/storetest"
	"github.com/syncspace/syncspace/tenants/pgschema"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

// database returns the URL of a fresh database with the cluster schema applied.
func database(t *testing.T) string {
	t.Helper()
	url := pgtest.Postgres(t)
	pool := connect(t, url)
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if err := pgschema.Apply(context.Background(), conn.Conn()); err != nil {
		t.Fatal(err)
	}
	return url
}

// connect opens a pool on url, closed when t ends.
func connect(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func newStore(t *testing.T, url string) *pgstore.Store {
	t.Helper()
	st, err := pgstore.New(context.Background(), connect(t, url))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) auth.Store { return newStore(t, database(t)) })
}

// TestNodes: two Services on two pools of one database, as two nodes: tokens, keys
// (sealed under the shared key-encryption key) and revocations cross within a second.
func TestNodes(t *testing.T) {
	storetest.RunNodes(t, func(t *testing.T) (auth.Store, auth.Store) {
		url := database(t)
		return newStore(t, url), newStore(t, url)
	})
}

// TestNewNeedsSchema: a database without the migrations is refused with a clear error.
func TestNewNeedsSchema(t *testing.T) {
	if _, err := pgstore.New(context.Background(), connect(t, pgtest.Postgres(t))); err == nil {
		t.Fatal("a store on a database without the auth schema")
	}
	if _, err := pgstore.New(context.Background(), nil); err == nil {
		t.Fatal("a store on a nil pool")
	}
}

// TestAuditAppendOnly: the table itself refuses updates, deletes and truncation.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	st := newStore(t, url)
	if err := st.AppendAudit(ctx, auth.AuditEntry{Time: time.Now(), Actor: "local:0", Action: "tenant.create"}); err != nil {
		t.Fatal(err)
	}
	pool := connect(t, url)
	for _, q := range []string{`UPDATE auth_audit SET actor = 'x'`, `DELETE FROM auth_audit`, `TRUNCATE auth_audit`} {
		if _, err := pool.Exec(ctx, q); err == nil {
			t.Errorf("%s: allowed", q)
		}
	}
	if all, err := st.AuditTail(ctx, 0); err != nil || len(all) != 1 || all[0].Actor != "local:0" {
		t.Fatalf("audit after the attempts: %+v, %v", all, err)
	}
}

// TestRevocationsVisibleInOrder: revokers on several pools at once while a poller
// reads the log as a node does (Seq > last seen): every batch it reads continues the
// log exactly where it left off, so it ends with every entry, once.
func TestRevocationsVisibleInOrder(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	stores := []*pgstore.Store{newStore(t, url), newStore(t, url), newStore(t, url)}
	const writers, each = 6, 25
	for w := range writers {
		for i := range each {
			r := auth.TokenRecord{JTI: fmt.Sprintf("w%d-%d", w, i), Kind: auth.KindOps, Subject: fmt.Sprint("s", w), Role: auth.RoleOps,
				KeyID: "k", IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
			if err := stores[0].AddToken(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := stores[w%len(stores)].Revoke(ctx, auth.TokenMatch{JTI: fmt.Sprintf("w%d-%d", w, i)}, time.Now()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	seen := map[string]bool{}
	var cursor int64
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		log, err := stores[2].RevocationsSince(ctx, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range log {
			if r.Seq != cursor+1 || seen[r.JTI] {
				t.Fatalf("after seq %d the poller read seq %d (%s, seen before: %v)", cursor, r.Seq, r.JTI, seen[r.JTI])
			}
			cursor, seen[r.JTI] = r.Seq, true
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("poller saw %d revocations, want %d", len(seen), writers*each)
	}
}
