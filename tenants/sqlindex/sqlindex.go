// Package sqlindex builds a tenants.Registry for a single node: the index on SQLite
// (tenants/sqlite.Store), each tenant's content under DATA/tenants/NAME
// (tenants/rootblobs.Store), and the in-process bus (tenants/localbus).
package sqlindex

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/localbus"
	"github.com/syncspace/syncspace/tenants/rootblobs"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// OpenRegistry opens the registry of the database db (see tenants/sqlite) and the data
// dir, with an in-process bus. logger nil means slog.Default().
func OpenRegistry(ctx context.Context, db *sql.DB, dataDir string, limits tenants.Limits, logger *slog.Logger) (*tenants.Registry, error) {
	if logger == nil {
		logger = slog.Default()
	}
	store, err := sqlite.NewStore(ctx, db, logger.With("component", "tenants"))
	if err != nil {
		return nil, fmt.Errorf("tenants: open index: %w", err)
	}
	blobs, err := rootblobs.New(dataDir)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("tenants: open data dir: %w", err)
	}
	reg, err := tenants.Open(ctx, tenants.Deps{Index: store, Bus: localbus.New(), Blobs: blobs}, limits, logger)
	if err != nil {
		store.Close()
		return nil, err
	}
	return reg, nil
}
