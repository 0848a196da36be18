package node

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/pgstore"
	"github.com/syncspace/syncspace/tenants/casblobs"
	"github.com/syncspace/syncspace/tenants/pgindex"
)

// ClusterTarget is a cluster's storage opened for a tool that copies data into it
// (syncctl cluster import): the index without limits, the blob store, the auth store
// and the key-encryption key. No node runs on it.
type ClusterTarget struct {
	Pool  *pgxpool.Pool
	Index *pgindex.Store
	Blobs *casblobs.Store
	Auth  *pgstore.Store
	KEK   []byte
}

// OpenClusterTarget opens cl's database (schema migrations first), blob store and KEK;
// uploads in progress go under tmpDir. The caller closes Pool.
func OpenClusterTarget(ctx context.Context, cl Cluster, tmpDir string) (_ *ClusterTarget, err error) {
	t := &ClusterTarget{}
	if t.KEK, err = auth.ReadKEKFile(cl.KEKFile); err != nil {
		return nil, fmt.Errorf("auth.kek_file: %w", err)
	}
	if err := migrate(ctx, cl.Postgres); err != nil {
		return nil, err
	}
	if t.Pool, err = pgxpool.New(ctx, cl.Postgres); err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	defer func() {
		if err != nil {
			t.Pool.Close()
		}
	}()
	if t.Index, err = pgindex.New(ctx, t.Pool, pgindex.Options{NoLimits: true}); err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	if t.Blobs, err = openBlobs(ctx, cl.Blobs, tmpDir, pgindex.NewBlobBook(t.Pool)); err != nil {
		return nil, fmt.Errorf("open blobs: %w", err)
	}
	if t.Auth, err = pgstore.New(ctx, t.Pool); err != nil {
		return nil, fmt.Errorf("open auth store: %w", err)
	}
	return t, nil
}

// NewEpochs starts a new epoch for every tenant of the cluster database at url
// (pgindex.NewEpochs; schema migrations first) and returns how many tenants it
// changed.
func NewEpochs(ctx context.Context, url string) (int64, error) {
	if err := migrate(ctx, url); err != nil {
		return 0, err
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return 0, fmt.Errorf("connect to postgres: %w", err)
	}
	defer pool.Close()
	return pgindex.NewEpochs(ctx, pool)
}
