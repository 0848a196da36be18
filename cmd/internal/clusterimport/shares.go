package clusterimport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/auth/share"
	"github.com/syncspace/syncspace/auth/share/pgshare"
	"github.com/syncspace/syncspace/auth/share/sqliteshare"
	"github.com/syncspace/syncspace/tenants/pgindex"
)

// importShares copies the share links of the tenants ts (revoked ones stay revoked);
// links already in the target are skipped.
func importShares(ctx context.Context, db *sql.DB, pool *pgxpool.Pool, ts []pgindex.ImportRows, rep *Report) error {
	src, err := sqliteshare.New(ctx, db)
	if err != nil {
		return err
	}
	dst, err := pgshare.New(pool)
	if err != nil {
		return err
	}
	for _, t := range ts {
		recs, err := src.Shares(ctx, t.Tenant.ID)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if _, err := dst.Share(ctx, r.Key); err == nil {
				continue
			} else if !errors.Is(err, share.ErrNoRecord) {
				return err
			}
			if err := dst.AddShare(ctx, r); err != nil {
				return fmt.Errorf("share link %s: %w", r.Key, err)
			}
			if r.RevokedAt != nil {
				if err := dst.RevokeShare(ctx, r.Key, *r.RevokedAt); err != nil {
					return fmt.Errorf("revoke share link %s: %w", r.Key, err)
				}
			}
			rep.Shares++
		}
	}
	return nil
}
