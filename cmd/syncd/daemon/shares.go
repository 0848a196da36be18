package daemon

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/auth/share"
	"github.com/syncspace/syncspace/auth/share/pgshare"
	"github.com/syncspace/syncspace/auth/share/sqliteshare"
)

// openShares keeps share links in the node's database (the auth_shares table of
// syncd.db, or of PostgreSQL in cluster mode); without a database there are no share
// links. revoked tells whether a link's creating token is revoked (the links of a
// revoked credential die with it).
func openShares(ctx context.Context, db *sql.DB, pool *pgxpool.Pool, revoked share.RevokedFunc) (*share.Service, error) {
	if db == nil {
		if pool == nil {
			return nil, nil
		}
		st, err := pgshare.New(pool) // cluster mode
		if err != nil {
			return nil, err
		}
		return share.New(st, revoked), nil
	}
	st, err := sqliteshare.New(ctx, db)
	if err != nil {
		return nil, err
	}
	return share.New(st, revoked), nil
}
