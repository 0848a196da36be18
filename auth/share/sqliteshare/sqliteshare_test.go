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
