package pgindex_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
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
	// A second tenant, so that the pages of a pass cross tenants.
	if err := st.CreateTenant(ctx, index.Tenant{Name: "small", ID: "small"}, "e"); err != nil {
		t.Fatal(err)
	}
	fillBlobs(t, url, "small", 10, 0, 7)
	orphans += 7
	start := time.Now()
	var marked int64
	heap := peakHeap(t, func() error {
		var err error
		marked, err = book.MarkBlobs(ctx, time.Millisecond)
		return err
	})
	markTime := time.Since(start)
	if marked != int64(orphans) {
		t.Fatalf("marked %d, want the %d orphans", marked, orphans)
	}
	start = time.Now()
	heapAgain := peakHeap(t, func() error { // nothing new: the steady state
		_, err := book.MarkBlobs(ctx, time.Millisecond)
		return err
	})
	again := time.Since(start)
	// The pass as one statement, as it was before the pages (a reference: the same
	// rows, found referenced).
	start = time.Now()
	if _, err := pool(t, url).Exec(ctx, `UPDATE tenant_blobs b SET unreferenced_since = 0
		WHERE b.unreferenced_since IS NULL AND b.created_at < (extract(epoch FROM statement_timestamp()) * 1000000000)::bigint - 1000000 AND NOT EXISTS (SELECT 1 FROM tenant_entries e WHERE e.tenant_id = b.tenant_id AND e.hash = b.hash AND NOT e.is_dir)
		AND NOT EXISTS (SELECT 1 FROM tenant_versions v WHERE v.tenant_id = b.tenant_id AND v.hash = b.hash)`); err != nil {
		t.Fatal(err)
	}
	oneStatement := time.Since(start)
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
	t.Logf("%d files, %d versions, %d orphans: first mark %v (peak Go heap +%d KiB), steady mark %v (+%d KiB; as one statement: %v), collect (no store) %v",
		files, versions, orphans, markTime.Round(time.Millisecond), heap>>10, again.Round(time.Millisecond), heapAgain>>10, oneStatement.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// peakHeap runs fn and returns the peak of the Go heap in use while it ran, above
// what was in use before (sampled every millisecond, after a collection).
func peakHeap(t *testing.T, fn func() error) uint64 {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	err := fn()
	close(done)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	return peak - base
}
