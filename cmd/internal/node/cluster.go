// Cluster mode (config's cluster section): the adapters a node opens instead of the
// data dir's SQLite store. One small function per adapter.

package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/pgbus"
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

// missing lists the parts of cluster mode this build does not have yet.
var missing = []string{
	"the PostgreSQL index (tenants/pgindex)",
	"the PostgreSQL auth store (auth/pgstore)",
	"the shared blob store adapter",
}

// ErrClusterUnavailable is Open's error in cluster mode when this build lacks a part
// of it: syncd refuses to start rather than run as a single node.
var ErrClusterUnavailable = errors.New("not available in this build")

// openCluster opens the node's cluster adapters.
func openCluster(ctx context.Context, n *Node, o Options, logger *slog.Logger) error {
	if len(missing) > 0 {
		return fmt.Errorf("%w: it lacks %s", ErrClusterUnavailable, strings.Join(missing, ", "))
	}
	cl := o.Cluster
	if err := migrate(ctx, cl.Postgres); err != nil {
		return err
	}
	var err error
	if n.bus, err = openBus(ctx, cl.Cluster, logger); err != nil {
		return fmt.Errorf("open bus: %w", err)
	}
	n.leader = pgleader.Start(ctx, cl.Postgres, pgleader.Options{Logger: logger})
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
