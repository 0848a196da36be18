package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/auth/storetest"
)

// openDB opens a SQLite file the way syncd does: WAL, a busy timeout, and write
// transactions that take the lock at BEGIN.
func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newStore(t *testing.T) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.New(context.Background(), openDB(t, filepath.Join(t.TempDir(), "syncd.db")))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) auth.Store { return newStore(t) })
}

// TestAuditAppendOnly: the table itself refuses updates and deletes, whoever writes.
func TestAuditAppendOnly(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "syncd.db"))
	st, err := sqlitestore.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAudit(ctx, auth.AuditEntry{Actor: "local:0", Action: "tenant.create"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE auth_audit SET actor = 'x'`); err == nil {
		t.Fatal("audit row updated")
	}
	if _, err := db.Exec(`DELETE FROM auth_audit`); err == nil {
		t.Fatal("audit row deleted")
	}
}

// TestSharedFile: two stores on one database file (two processes, or syncd and
// syncctl) see each other's keys and revocations; New on an existing file keeps it.
func TestSharedFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syncd.db")
	a, err := sqlitestore.New(ctx, openDB(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AddKey(ctx, auth.KeyRecord{KID: "k1", PublicKey: make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddToken(ctx, auth.TokenRecord{JTI: "j1", Kind: auth.KindOps, Subject: "s", Role: auth.RoleOps, KeyID: "k1"}); err != nil {
		t.Fatal(err)
	}
	b, err := sqlitestore.New(ctx, openDB(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if ks, err := b.Keys(ctx); err != nil || len(ks) != 1 {
		t.Fatalf("second store sees keys %v, %v", ks, err)
	}
	if _, err := a.Revoke(ctx, auth.TokenMatch{JTI: "j1"}, time.Unix(1_700_000_000, 0)); err != nil {
		t.Fatal(err)
	}
	if log, err := b.RevocationsSince(ctx, 0); err != nil || len(log) != 1 || log[0].JTI != "j1" {
		t.Fatalf("second store sees revocations %v, %v", log, err)
	}
}

// TestSettingsFuncs: the package functions work on a database without the other auth
// tables, as syncctl's local mode uses them before opening auth.
func TestSettingsFuncs(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, filepath.Join(t.TempDir(), "syncd.db"))
	if _, ok, err := sqlitestore.LoadSettings(ctx, db); err != nil || ok {
		t.Fatalf("fresh db: ok=%v err=%v", ok, err)
	}
	want := auth.Settings{Issuer: "i", MaxTTL: 5, MaxOpsTTL: 6, KeyDir: "/keys"}
	if err := sqlitestore.SaveSettings(ctx, db, want); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := sqlitestore.LoadSettings(ctx, db); err != nil || !ok || got != want {
		t.Fatalf("LoadSettings = %+v %v %v", got, ok, err)
	}
}

// TestNodes: two Services with a key-encryption key on two connections to one file
// share keys, tokens and revocations through the store alone.
func TestNodes(t *testing.T) {
	storetest.RunNodes(t, func(t *testing.T) (auth.Store, auth.Store) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "syncd.db")
		a, err := sqlitestore.New(ctx, openDB(t, path))
		if err != nil {
			t.Fatal(err)
		}
		b, err := sqlitestore.New(ctx, openDB(t, path))
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	})
}

// TestDuplicateDeviceNamesKept: a database holding two live devices of one name
// (enrolled before the name check was atomic) still opens, keeps both as they are,
// and refuses a third of that name.
func TestDuplicateDeviceNamesKept(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syncd.db")
	db := openDB(t, path)
	if _, err := sqlitestore.New(ctx, db); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		if _, err := db.Exec(`INSERT INTO auth_devices (id, name, tenant, tid, subject, role, created_at, expires_at) VALUES (?, 'laptop', 'acme', 'tid-acme', 'alice', 'write', ?, ?)`,
			id, now.UnixNano(), now.Add(time.Hour).UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	st, err := sqlitestore.New(ctx, openDB(t, path))
	if err != nil {
		t.Fatalf("opening a database with duplicate device names: %v", err)
	}
	if devs, err := st.Devices(ctx, "acme"); err != nil || len(devs) != 2 {
		t.Fatalf("devices: %d, %v; want both", len(devs), err)
	}
	d := auth.DeviceRecord{ID: "c", Name: "laptop", Tenant: "acme", TenantID: "tid-acme", Subject: "bob", Role: auth.RoleRead, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := st.AddDevice(ctx, d, auth.RefreshRecord{Hash: "hc", DeviceID: "c", IssuedAt: now}); !errors.Is(err, auth.ErrDeviceNameTaken) {
		t.Fatalf("a third device of the name: %v", err)
	}
}
