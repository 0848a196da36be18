package pgindex_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/pgindex"
)

// fillBlobs gives tenant tid files files and versions versions, each with a blob of
// its own, and unreferenced orphan blobs, all recorded long ago; straight in SQL.
func fillBlobs(t testing.TB, url, tid string, files, versions, orphans int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	h := `encode(sha256(('%s' || g)::bytea), 'hex')`
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO tenant_entries (tenant_id, fold, path, parent, is_dir, size, hash, modified, seq)
			SELECT $1, 'f' || g, 'f' || g, '', false, 10, ` + fmt.Sprintf(h, "file") + `, 0, 1 FROM generate_series(1, $2) g`, []any{tid, files}},
		{`INSERT INTO tenant_versions (tenant_id, id, path, fold, size, hash, modified, replaced_at, deleted)
			SELECT $1, 'v' || g, 'f' || g, 'f' || g, 10, ` + fmt.Sprintf(h, "version") + `, 0, 0, false FROM generate_series(1, $2) g`, []any{tid, versions}},
		{`INSERT INTO tenant_blobs (tenant_id, hash, size, created_at)
			SELECT $1, hash, 10, 0 FROM tenant_entries WHERE tenant_id = $1
			UNION ALL SELECT $1, hash, 10, 0 FROM tenant_versions WHERE tenant_id = $1
			UNION ALL SELECT $1, ` + fmt.Sprintf(h, "orphan") + `, 10, 0 FROM generate_series(1, $2) g`, []any{tid, orphans}},
		{`ANALYZE`, nil},
	} {
		if _, err := conn.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBlobBookCost measures the collector's queries on a tenant with many files
// (logged; the figures are in docs/CLUSTER.md) and checks their answers: a pass
// marks exactly the orphans and, a grace period later, removes exactly them.
func TestBlobBookCost(t *testing.T) {
	ctx := context.Background()
	url := database(t)
	st := open(t, url, 2, pgindex.Options{})
	book := pgindex.NewBlobBook(pool(t, url))
	if err := st.CreateTenant(ctx, index.Tenant{Name: "big", ID: "big"}, "e"); err != nil {
		t.Fatal(err)
	}
	// 10,000 files by default; SYNCSPACE_GC_COST_FILES=100000 for the figures of
	// docs/CLUSTER.md (filling takes about a minute here).
	files, orphans := 10_000, 1_000
	if n, err := strconv.Atoi(os.Getenv("SYNCSPACE_GC_COST_FILES")); err == nil && n > 0 {
		files = n
	}
	versions := files / 5
	fillBlobs(t, url, "big", files, versions, orphans)
	start := time.Now()
	marked, err := book.MarkBlobs(ctx, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	markTime := time.Since(start)
	if marked != int64(orphans) {
		t.Fatalf("marked %d, want the %d orphans", marked, orphans)
	}
	start = time.Now()
	if _, err := book.MarkBlobs(ctx, time.Millisecond); err != nil { // nothing new: the steady state
		t.Fatal(err)
	}
	again := time.Since(start)
	time.Sleep(5 * time.Millisecond)
	var removed int64
	start = time.Now()
	for {
		n, _, err := book.CollectBlobs(ctx, time.Millisecond, 100, func(string, string) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		removed += n
		if n < 100 {
			break
		}
	}
	if removed != int64(orphans) {
		t.Fatalf("removed %d, want %d", removed, orphans)
	}
	t.Logf("%d files, %d versions, %d orphans: first mark %v, steady mark %v, collect (no store) %v",
		files, versions, orphans, markTime.Round(time.Millisecond), again.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
