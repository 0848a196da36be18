// Package sqlindex builds a tenants.Registry on SQLite for a single node: the index in
// the SQLite database, each tenant's content under DATA/tenants/NAME, and the
// in-process bus (tenants/localbus).
package sqlindex

import (
	"context"
	"database/sql"
	"log/slog"

	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/localbus"
)

// OpenRegistry opens the registry of the database db (see tenants/sqlite) and the data
// dir, with an in-process bus. logger nil means slog.Default().
func OpenRegistry(ctx context.Context, db *sql.DB, dataDir string, limits tenants.Limits, logger *slog.Logger) (*tenants.Registry, error) {
	return tenants.Open(ctx, db, tenants.Deps{Bus: localbus.New()}, dataDir, limits, logger)
}
