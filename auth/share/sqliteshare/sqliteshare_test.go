package sqliteshare_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/syncspace/syncspace/auth/share"
	"github.com/syncspace/syncspace/auth/share/sharetest"
	"github.com/syncspace/syncspace/auth/share/sqliteshare"
)

func TestStore(t *testing.T) {
	sharetest.Run(t, func(t *testing.T) share.Store {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "s.db")+"?_pragma=busy_timeout(10000)&_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		st, err := sqliteshare.New(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sqliteshare.New(t.Context(), db); err != nil { // idempotent
			t.Fatal(err)
		}
		return st
	})
}

// TestUpgradeAddsCreatorJTI: a syncd.db whose auth_shares predates creator_jti gets
// the column at open; its links keep "" (their creator is found by subject), new ones
// record it.
func TestUpgradeAddsCreatorJTI(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "s.db")+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	for _, q := range []string{
		`CREATE TABLE auth_shares (key TEXT PRIMARY KEY, tenant TEXT NOT NULL, tid TEXT NOT NULL, path TEXT NOT NULL,
			created_by TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
			password_hash TEXT NOT NULL DEFAULT '', revoked_at INTEGER)`,
		`INSERT INTO auth_shares VALUES ('` + share.KeyOf("old") + `', 'a', 't', 'p', 'bob', 1, 4102444800, '', NULL)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	st, err := sqliteshare.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := st.Share(ctx, share.KeyOf("old")); err != nil || r.CreatorJTI != "" || r.CreatedBy != "bob" {
		t.Fatalf("old link: %+v %v", r, err)
	}
	if err := st.AddShare(ctx, share.Record{Key: share.KeyOf("new"), Tenant: "a", TenantID: "t", Path: "p", CreatorJTI: "j1"}); err != nil {
		t.Fatal(err)
	}
	if r, err := st.Share(ctx, share.KeyOf("new")); err != nil || r.CreatorJTI != "j1" {
		t.Fatalf("new link: %+v %v", r, err)
	}
}
