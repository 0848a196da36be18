package daemon

import (
	"context"
	"database/sql"

	"github.com/syncspace/syncspace/auth/share"
	"github.com/syncspace/syncspace/auth/share/sqliteshare"
)

// openShares keeps share links in the node's database (the auth_shares table of
// syncd.db); without a database there are no share links.
func openShares(ctx context.Context, db *sql.DB) (*share.Service, error) {
	if db == nil {
		return nil, nil
	}
	st, err := sqliteshare.New(ctx, db)
	if err != nil {
		return nil, err
	}
	return share.New(st), nil
}
