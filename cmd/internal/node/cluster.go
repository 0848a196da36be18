// Cluster mode (config's cluster section): the adapters a node opens instead of the
// data dir's SQLite store. One small function per adapter.

package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/pgstore"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/pgbus"
	"github.com/syncspace/syncspace/tenants/pgindex"
	"github.com/syncspace/syncspace/tenants/pgleader"
	"github.com/syncspace/syncspace/tenants/pgschema"
	"github.com/syncspace/syncspace/tenants/redisbus"
)

// Cluster is how a node joins a cluster: config's cluster section and auth.kek_file.
// The zero value is a single node on its data dir.
type Cluster struct {
	config.Cluster
	// KEKFile is the key-encryption key of the signing keys stored in PostgreSQL.
	KEKFile string
}

// ErrClusterUnavailable is Open's error in cluster mode when this build lacks a part
// of it: syncd refuses to start rather than run as a single node.
var ErrClusterUnavailable = errors.New("not available in this build")

// sharedBlobs says whether this build stores content in cluster.blobs. Without it a
// node would keep content in its own data dir, which other nodes cannot read.
const sharedBlobs = false

// openCluster opens the node's cluster adapters.
func openCluster(ctx context.Context, n *Node, dataDir string, o Options, logger *slog.Logger) error {
	if !sharedBlobs {
		return fmt.Errorf("%w: it lacks the shared blob store (cluster.blobs)", ErrClusterUnavailable)
	}
	return openClusterParts(ctx, n, dataDir, o, logger)
}

// openClusterParts opens PostgreSQL (schema migrations first), the index, the bus,
// the leader lock, the registry and the token service on the PostgreSQL auth store
// with the key-encryption key.
func openClusterParts(ctx context.Context, n *Node, dataDir string, o Options, logger *slog.Logger) error {
	cl := o.Cluster
	kek, err := auth.ReadKEKFile(cl.KEKFile)
	if err != nil {
		return fmt.Errorf("auth.kek_file: %w", err)
	}
	if err := migrate(ctx, cl.Postgres); err != nil {
		return err
	}
	if n.pool, err = pgxpool.New(ctx, cl.Postgres); err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	idx, err := pgindex.New(ctx, n.pool, pgindex.Options{Logger: logger, MaxEntries: o.Limits.MaxEntries})
	if err != nil {
		return fmt.Errorf("open index: %w", err)
	}
	if n.bus, err = openBus(ctx, cl.Cluster, logger); err != nil {
		return fmt.Errorf("open bus: %w", err)
	}
	n.leader = pgleader.Start(ctx, cl.Postgres, pgleader.Options{Logger: logger})
	deps := tenants.Deps{Index: idx, Bus: n.bus, Leader: n.leader}
	if n.Tenants, err = tenants.Open(ctx, deps, dataDir, o.Limits, logger); err != nil {
		return fmt.Errorf("open tenants: %w", err)
	}
	store, err := pgstore.New(ctx, n.pool)
	if err != nil {
		return fmt.Errorf("open auth store: %w", err)
	}
	n.authCfg = authConfig(dataDir, o.Auth)
	n.authCfg.KEK = kek
	if n.Auth, err = auth.Open(ctx, store, n.authCfg, n.Tenants, logger); err != nil {
		return fmt.Errorf("open auth: %w", err)
	}
	return nil
}

// migrate applies the schema migrations under their advisory lock.
func migrate(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := pgschema.Apply(ctx, conn); err != nil {
		return fmt.Errorf("apply schema migrations: %w", err)
	}
	return nil
}

// openBus opens cluster.bus: LISTEN/NOTIFY on the database ("postgres", the default)
// or Redis pub/sub.
func openBus(ctx context.Context, cl config.Cluster, logger *slog.Logger) (tenants.Bus, error) {
	if cl.BusKind() == config.BusRedis {
		return redisbus.New(ctx, cl.Bus, redisbus.Options{Logger: logger})
	}
	return pgbus.New(ctx, cl.Postgres, pgbus.Options{Logger: logger})
}
