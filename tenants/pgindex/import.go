package pgindex

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/tenants/index"
)

// ImportRows is one tenant's index as another index holds it, for Import. Each row is
// the table's columns after tenant_id, in the order of the *Cols variables.
type ImportRows struct {
	Tenant   index.Tenant
	Epoch    string
	Head     int64
	Entries  [][]any
	Changes  [][]any
	Versions [][]any
}

// The columns of ImportRows' rows.
var (
	EntryCols   = []string{"fold", "path", "parent", "is_dir", "size", "hash", "modified", "seq"}
	ChangeCols  = []string{"seq", "op", "from_path", "path", "is_dir", "size", "hash", "modified", "source_client", "source_subject", "at", "meta_seq"}
	VersionCols = []string{"id", "path", "fold", "size", "hash", "modified", "replaced_at", "deleted"}
)

// Import adds to the database of pool (tenants/pgschema's tables) the tenant
// r.Tenant (its id kept) with its head, entries, change log and versions as they are,
// in one transaction (all or nothing), and sets the head's counters from the entries. index.ErrTenantExists if its name is taken.
func Import(ctx context.Context, pool *pgxpool.Pool, r ImportRows) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		t := r.Tenant
		ct, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, quota, max_file_size, max_entries, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			t.ID, t.Name, t.Quota, t.MaxFileSize, t.MaxEntries, t.CreatedAt.UnixNano())
		if err != nil {
			return err
		}
		if ct.RowsAffected() == 0 {
			return index.ErrTenantExists
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tenant_heads (tenant_id, epoch, head_seq) VALUES ($1, $2, $3)`, t.ID, r.Epoch, r.Head); err != nil {
			return err
		}
		for _, c := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{{"tenant_entries", EntryCols, r.Entries}, {"tenant_changes", ChangeCols, r.Changes}, {"tenant_versions", VersionCols, r.Versions}} {
			if err := copyRows(ctx, tx, t.ID, c.table, c.cols, c.rows); err != nil {
				return fmt.Errorf("pgindex: import %s: %w", c.table, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE tenant_heads SET used_bytes = e.used, entries = e.n
			FROM (SELECT `+fileBytes+` AS used, count(*) AS n FROM tenant_entries WHERE tenant_id = $1) e
			WHERE tenant_id = $1`, t.ID)
		return err
	})
}

// copyRows copies rows, each prefixed with the tenant id, into table.
func copyRows(ctx context.Context, tx pgx.Tx, tid, table string, cols []string, rows [][]any) error {
	all := append([]string{"tenant_id"}, cols...)
	_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, all, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		return append([]any{tid}, rows[i]...), nil
	}))
	return err
}
