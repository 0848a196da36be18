// Cluster mode (config's cluster section): the adapters a node opens instead of the
// data dir's SQLite store. One small function per adapter.

package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/pgstore"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/casblobs"
	"github.com/syncspace/syncspace/tenants/dirblobs"
	"github.com/syncspace/syncspace/tenants/pgbus"
	"github.com/syncspace/syncspace/tenants/pgdeadline"
	"github.com/syncspace/syncspace/tenants/pgindex"
	"github.com/syncspace/syncspace/tenants/pgleader"
	"github.com/syncspace/syncspace/tenants/pgschema"
	"github.com/syncspace/syncspace/tenants/redisbus"
	"github.com/syncspace/syncspace/tenants/s3blobs"
)

// Cluster is how a node joins a cluster: config's cluster section and auth.kek_file.
// The zero value is a single node on its data dir.
type Cluster struct {
	config.Cluster
	// KEKFile is the key-encryption key of the signing keys stored in PostgreSQL.
	KEKFile string
	// StatementTimeout bounds each PostgreSQL round trip of the node's pool (a
	// statement, a pipeline, a connection); 0 means pgdeadline.DefaultTimeout.
	StatementTimeout time.Duration
}

// openCluster opens PostgreSQL (schema migrations first), the index, the shared blob
// store, the bus, the leader lock, the registry and the token service on the
// PostgreSQL auth store with the key-encryption key. Nothing of it falls back to the
// data dir's store.
func openCluster(ctx context.Context, n *Node, dataDir string, o Options, logger *slog.Logger) error {
	cl := o.Cluster
	kek, err := auth.ReadKEKFile(cl.KEKFile)
	if err != nil {
		return fmt.Errorf("auth.kek_file: %w", err)
	}
	if err := migrate(ctx, cl.Postgres); err != nil {
		return err
	}
	if n.pool, err = openPool(ctx, cl.Postgres, cl.StatementTimeout); err != nil {
		return fmt.Errorf("connect to postgres: %w", err)
	}
	idx, err := pgindex.New(ctx, n.pool, pgindex.Options{Logger: logger, MaxEntries: o.Limits.MaxEntries})
	if err != nil {
		return fmt.Errorf("open index: %w", err)
	}
	res, err := pgindex.NewReservations(ctx, n.pool, pgindex.ReservationOptions{NodeID: cl.Node(), Logger: logger})
	if err != nil {
		return fmt.Errorf("open reservations: %w", err)
	}
	blobs, err := openBlobs(ctx, cl.Blobs, dataDir, pgindex.NewBlobBook(n.pool))
	if err != nil {
		return fmt.Errorf("open blobs: %w", err)
	}
	if n.bus, err = openBus(ctx, cl.Cluster, logger); err != nil {
		return fmt.Errorf("open bus: %w", err)
	}
	n.leader = pgleader.Start(ctx, cl.Postgres, pgleader.Options{Logger: logger})
	gc := blobs.Collector(casblobs.CollectorOptions{Grace: time.Duration(cl.BlobGCGrace), Logger: logger})
	deps := tenants.Deps{Index: idx, Bus: n.bus, Leader: n.leader, Blobs: blobs,
		Collector: gc, CollectEvery: collectEvery(gc.Grace()), Reserver: res}
	if n.Tenants, err = tenants.Open(ctx, deps, o.Limits, logger); err != nil {
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

// openPool connects the node's pool, every round trip of it bounded by timeout (0:
// pgdeadline.DefaultTimeout), so that a request waiting on a PostgreSQL that stopped
// answering fails with unavailable instead of waiting for TCP.
func openPool(ctx context.Context, url string, timeout time.Duration) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	pgdeadline.Bound(cfg.ConnConfig, timeout)
	return pgxpool.NewWithConfig(ctx, cfg)
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

// collectEvery is how often the blob collector runs: a quarter of its grace period,
// between one second and five minutes.
func collectEvery(grace time.Duration) time.Duration {
	return min(max(grace/4, time.Second), 5*time.Minute)
}

// openBlobs opens cluster.blobs (dir:/PATH or s3://BUCKET?…, created when missing)
// as a content-addressed store, uploads in progress under the data dir's tmp/blobs,
// each blob recorded in book before it is stored (the collector's). Without a blobs
// value (syncctl --postgres, which stores no content) a store under the data dir
// stands in.
func openBlobs(ctx context.Context, spec, dataDir string, book casblobs.Book) (*casblobs.Store, error) {
	var obj casblobs.Objects
	if spec == "" {
		spec = "dir:" + filepath.Join(dataDir, "blobs")
	}
	bs, err := config.ParseBlobStore(spec)
	if err != nil {
		return nil, err
	}
	if bs.Kind == config.BlobsDir {
		if obj, err = dirblobs.Open(bs.Dir, true); err != nil {
			return nil, err
		}
	} else {
		access, secret, err := s3Credentials(bs.CredentialsFile)
		if err != nil {
			return nil, err
		}
		if obj, err = s3blobs.New(ctx, s3blobs.Settings{Endpoint: bs.Endpoint, Region: bs.Region,
			AccessKey: access, SecretKey: secret, Bucket: bs.Bucket, CreateBucket: true}); err != nil {
			return nil, err
		}
	}
	return casblobs.New(obj, book, filepath.Join(dataDir, "tmp", "blobs"), casblobs.Options{})
}

// s3Credentials reads the access and secret key from file (lines
// AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=…, as an env file), or from the
// environment when file is "".
func s3Credentials(file string) (access, secret string, err error) {
	get := os.Getenv
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", "", fmt.Errorf("credentials_file: %w", err)
		}
		vals := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
				vals[strings.ToUpper(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		get = func(k string) string { return vals[k] }
	}
	access, secret = get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")
	if access == "" || secret == "" {
		return "", "", errors.New("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or credentials_file")
	}
	return access, secret, nil
}
