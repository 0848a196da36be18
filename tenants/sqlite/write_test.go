package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/index/indextest"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

func TestWriterConformance(t *testing.T) {
	indextest.Run(t, func(t *testing.T, n int) (index.Writer, []string) {
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
		var ids []string
		for i := range n {
			id := fmt.Sprintf("id%d", i)
			if _, err := db.Exec(`INSERT INTO tenants (name, id, created_at, epoch) VALUES (?, ?, 0, ?)`,
				fmt.Sprintf("t%d", i), id, fmt.Sprintf("epoch%d", i)); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return st, ids
	})
}

func TestTenantsConformance(t *testing.T) {
	indextest.RunTenants(t, func(t *testing.T) indextest.Full {
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
		return st
	})
}

func TestReadsConformance(t *testing.T) {
	indextest.RunReads(t, func(t *testing.T) indextest.Readable {
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
		return st
	})
}
