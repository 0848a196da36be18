package pgindex

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// BlobBook is the book of content-addressed blobs (tenant_blobs) beside the index, for
// tenants/casblobs (casblobs.Book): its uploads record a blob before storing it
// (TouchBlob), its garbage collector finds and removes the blobs no entry or version
// refers to (AdoptBlobs, MarkBlobs, CollectBlobs). Times are the database's clock (dbNow), so that nodes whose clocks
// differ agree on the grace period.
//
// Why an upload's blob is never collected under it: TouchBlob commits a fresh
// created_at (and clears unreferenced_since) before the blob is stored and before the
// index row that refers to it commits; CollectBlobs takes only rows touched and found
// unreferenced more than the grace period ago, locks them (FOR UPDATE) and removes
// the blob before its transaction deletes the row. A TouchBlob that comes while the
// collector holds the row waits for it, then inserts a fresh row, and the upload
// stores the blob again (the store finds it missing). So an upload is safe unless
// more than the grace period passes between its TouchBlob and its commit.
type BlobBook struct {
	pool *pgxpool.Pool
}

// NewBlobBook returns the book of the database pool is connected to (the index's).
func NewBlobBook(pool *pgxpool.Pool) *BlobBook { return &BlobBook{pool: pool} }

// dbNow is the database's time in Unix nanoseconds, when the statement began (a
// stable value: computed once per statement, not per row).
const dbNow = `(extract(epoch FROM statement_timestamp()) * 1000000000)::bigint`

// unreferenced is the condition "nothing refers to the blob b": no file entry, no
// version (tenant_entries_hash and tenant_versions_hash answer it).
const unreferenced = `NOT EXISTS (SELECT 1 FROM tenant_entries e WHERE e.tenant_id = b.tenant_id AND e.hash = b.hash AND NOT e.is_dir)
	AND NOT EXISTS (SELECT 1 FROM tenant_versions v WHERE v.tenant_id = b.tenant_id AND v.hash = b.hash)`

// TouchBlob records that an upload is about to store the tenant's blob hash (size
// bytes): the collector keeps it for at least its grace period from now, whatever it
// found before. It waits while the collector is removing that blob.
func (s *BlobBook) TouchBlob(ctx context.Context, tenantID, hash string, size int64) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO tenant_blobs AS b (tenant_id, hash, size, created_at) VALUES ($1, $2, $3, `+dbNow+`)
		ON CONFLICT (tenant_id, hash) DO UPDATE SET created_at = excluded.created_at, unreferenced_since = NULL`, tenantID, hash, size)
	if err != nil {
		return fmt.Errorf("pgindex: record blob: %w", err)
	}
	return nil
}

// AdoptBlobs records blobs found in the store that have no row (written before the
// book existed, or by a tool), as if touched now; rows that exist are left alone.
func (s *BlobBook) AdoptBlobs(ctx context.Context, tenantID string, hashes []string, sizes []int64) (int64, error) {
	if len(hashes) == 0 {
		return 0, nil
	}
	ct, err := s.pool.Exec(ctx, `INSERT INTO tenant_blobs (tenant_id, hash, size, created_at)
		SELECT $1, h, sz, `+dbNow+` FROM unnest($2::text[], $3::bigint[]) AS r(h, sz)
		ON CONFLICT (tenant_id, hash) DO NOTHING`, tenantID, hashes, sizes)
	if err != nil {
		return 0, fmt.Errorf("pgindex: adopt blobs: %w", err)
	}
	return ct.RowsAffected(), nil
}

// markPage is how many records of one tenant one statement of MarkBlobs reads.
const markPage = 10000

// markRange marks the records of tenant $1 with a hash in ($2, $3], touched more than
// $4 ns ago, that no entry or version refers to: the three ranges read side by side
// from the primary key and the hash indexes (tenant_entries_hash,
// tenant_versions_hash), with a set difference, instead of two index probes a record.
// The outer conditions are checked again on a row that changed meanwhile.
const markRange = `UPDATE tenant_blobs b SET unreferenced_since = ` + dbNow + ` FROM (
		SELECT hash FROM tenant_blobs WHERE tenant_id = $1 AND hash > $2 AND hash <= $3
			AND unreferenced_since IS NULL AND created_at < ` + dbNow + ` - $4
		EXCEPT SELECT hash FROM tenant_entries WHERE tenant_id = $1 AND hash > $2 AND hash <= $3 AND NOT is_dir
		EXCEPT SELECT hash FROM tenant_versions WHERE tenant_id = $1 AND hash > $2 AND hash <= $3) x
	WHERE b.tenant_id = $1 AND b.hash > $2 AND b.hash <= $3 AND b.hash = x.hash
		AND b.unreferenced_since IS NULL AND b.created_at < ` + dbNow + ` - $4`

// MarkBlobs notes, on every row touched more than grace ago, whether something
// refers to its blob now: unreferenced_since is set (to now) on the rows that just
// lost their last reference and cleared on those referred to again. It reads the
// rows tenant by tenant (a loose scan of the primary key), markPage at a time in
// hash order, each page its own statement and transaction (markRange), so that
// neither the database nor this process holds a whole pass at once; then the marked
// rows, through tenant_blobs_unreferenced.
func (s *BlobBook) MarkBlobs(ctx context.Context, grace time.Duration) (marked int64, err error) {
	tid := ""
	for {
		var next *string
		if err := s.pool.QueryRow(ctx, `SELECT min(tenant_id) FROM tenant_blobs WHERE tenant_id > $1`, tid).Scan(&next); err != nil {
			return marked, fmt.Errorf("pgindex: mark blobs: %w", err)
		}
		if next == nil {
			break
		}
		tid = *next
		n, err := s.markTenant(ctx, tid, grace)
		marked += n
		if err != nil {
			return marked, err
		}
	}
	_, err = s.pool.Exec(ctx, `UPDATE tenant_blobs b SET unreferenced_since = NULL WHERE b.unreferenced_since IS NOT NULL AND NOT (`+unreferenced+`)`)
	if err != nil {
		return marked, fmt.Errorf("pgindex: unmark blobs: %w", err)
	}
	return marked, nil
}

// markTenant is MarkBlobs' pass over the records of tenant tid, page by page.
func (s *BlobBook) markTenant(ctx context.Context, tid string, grace time.Duration) (marked int64, err error) {
	lo := ""
	for {
		// The page's last hash: the markPage-th after lo, or the tenant's greatest
		// (the last page; none: the tenant's records are done).
		var hi, top *string
		err := s.pool.QueryRow(ctx, `SELECT
			(SELECT hash FROM tenant_blobs WHERE tenant_id = $1 AND hash > $2 ORDER BY hash OFFSET $3 LIMIT 1),
			(SELECT max(hash) FROM tenant_blobs WHERE tenant_id = $1 AND hash > $2)`, tid, lo, markPage-1).Scan(&hi, &top)
		if err != nil {
			return marked, fmt.Errorf("pgindex: mark blobs: %w", err)
		}
		last := hi == nil
		if last {
			if top == nil {
				return marked, nil
			}
			hi = top
		}
		ct, err := s.pool.Exec(ctx, markRange, tid, lo, *hi, grace.Nanoseconds())
		if err != nil {
			return marked, fmt.Errorf("pgindex: mark blobs: %w", err)
		}
		marked += ct.RowsAffected()
		if last {
			return marked, nil
		}
		lo = *hi
	}
}

// CollectBlobs removes up to limit blobs: those of deleted tenants (untouched for
// more than grace), then those found unreferenced (MarkBlobs) and untouched for more
// than grace that still nothing refers to. remove deletes one blob from the store; each row is deleted in the
// transaction that locked it, after remove succeeded, and a failed remove rolls the
// batch back (the rows stay for the next pass). It returns how many blobs and bytes
// it removed; fewer than limit means it found no more.
func (s *BlobBook) CollectBlobs(ctx context.Context, grace time.Duration, limit int, remove func(tenantID, hash string) error) (n, bytes int64, err error) {
	// The tenant ids of the book, one index probe each (a loose scan of its primary
	// key), without a tenant.
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE ids AS (
			SELECT min(tenant_id) AS id FROM tenant_blobs
			UNION ALL SELECT (SELECT min(tenant_id) FROM tenant_blobs WHERE tenant_id > ids.id) FROM ids WHERE ids.id IS NOT NULL)
		SELECT id FROM ids WHERE id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = ids.id)`)
	if err != nil {
		return 0, 0, fmt.Errorf("pgindex: collect blobs: %w", err)
	}
	gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, 0, fmt.Errorf("pgindex: collect blobs: %w", err)
	}
	if len(gone) > 0 {
		// Untouched for grace too: a tenant being imported (syncctl cluster import)
		// has its blobs stored before its row exists.
		q := `SELECT b.tenant_id, b.hash, b.size FROM tenant_blobs b
			WHERE b.tenant_id = ANY($2) AND b.created_at < ` + dbNow + ` - $3 AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = b.tenant_id)
			LIMIT $1 FOR UPDATE OF b SKIP LOCKED`
		n, bytes, err = s.collect(ctx, q, remove, limit, gone, grace.Nanoseconds())
		if err != nil || n == int64(limit) {
			return n, bytes, err
		}
	}
	dead := `SELECT b.tenant_id, b.hash, b.size FROM tenant_blobs b
		WHERE b.unreferenced_since < ` + dbNow + ` - $2 AND b.created_at < ` + dbNow + ` - $2 AND ` + unreferenced + `
		LIMIT $1 FOR UPDATE OF b SKIP LOCKED`
	m, mb, err := s.collect(ctx, dead, remove, limit-int(n), grace.Nanoseconds())
	return n + m, bytes + mb, err
}

// collect runs one collection transaction: the rows query selects and locks, remove
// deletes their blobs, then the rows go.
func (s *BlobBook) collect(ctx context.Context, query string, remove func(tenantID, hash string) error, limit int, a ...any) (n, bytes int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, query, append([]any{limit}, a...)...)
		if err != nil {
			return err
		}
		type row struct {
			tid, hash string
			size      int64
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.tid, &x.hash, &x.size)
			return x, err
		})
		if err != nil || len(found) == 0 {
			return err
		}
		tids, hashes := make([]string, len(found)), make([]string, len(found))
		for i, x := range found {
			if err := remove(x.tid, x.hash); err != nil {
				return err
			}
			tids[i], hashes[i] = x.tid, x.hash
			n++
			bytes += x.size
		}
		_, err = tx.Exec(ctx, `DELETE FROM tenant_blobs b USING unnest($1::text[], $2::text[]) AS r(tid, h)
			WHERE b.tenant_id = r.tid AND b.hash = r.h`, tids, hashes)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("pgindex: collect blobs: %w", err)
	}
	return n, bytes, nil
}
