// Package node opens a syncd data dir: the SQLite store (syncd.db), the tenant registry
// and the token service, with one set of settings. syncd and syncctl's local mode both
// open a data dir through Open, so that they cannot drift apart (the token leeway, the
// store file, the server-wide limits, the key directory, the recorded token settings).
//
// Every constructor of the store, of package tenants and of package auth is called in
// this file, one small function each.
package node

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/pgleader"
	"github.com/syncspace/syncspace/tenants/sqlindex"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// DBFile is the store's file name inside the data dir.
const DBFile = "syncd.db"

// TokenLeeway is the clock skew allowed on a token's iat, nbf and exp, the same for
// every process that opens a data dir.
const TokenLeeway = 30 * time.Second

// Options are how a data dir is opened. The zero value is usable: no server-wide
// limits, auth's defaults, keys in the data dir's keys/, logs discarded.
type Options struct {
	// Limits are the server-wide defaults of every tenant (config's limits and retention).
	Limits tenants.Limits
	// Auth are the token settings.
	Auth Auth
	// UseRecorded replaces Auth by the settings the last syncd on this data dir recorded
	// (RecordSettings), when there are any: for syncctl without --config, which knows
	// only the data dir. KeepKeyDir keeps Auth.KeyDir even then (syncctl --key-dir).
	UseRecorded, KeepKeyDir bool
	// Logger receives the logs; nil discards them.
	Logger *slog.Logger
	// Cluster, when enabled, opens the node in cluster mode (cluster.go): PostgreSQL,
	// the bus and the shared blob store instead of the data dir's store.
	Cluster Cluster
}

// Auth are the token settings: auth.Config without the leeway (always TokenLeeway).
// Zero fields take auth's defaults; KeyDir "" means the data dir's keys/.
type Auth struct {
	Issuer            string
	MaxTTL, MaxOpsTTL time.Duration
	KeyDir            string
	// DeviceTTL: a device credential's sliding lifetime; AccessTTL: the lifetime of
	// access tokens POST /api/token issues (0 = auth's defaults).
	DeviceTTL, AccessTTL time.Duration
}

// FromConfig maps syncd's config to the options of its data dir (data_dir aside,
// which Open takes apart).
func FromConfig(cfg *config.Config) Options {
	return Options{
		Limits: tenants.Limits{
			MaxFileSize:    int64(cfg.Limits.MaxFileSize),
			MaxEntries:     cfg.Limits.MaxEntries,
			MinFreeDisk:    int64(cfg.Limits.MinFreeDisk),
			RetainChanges:  cfg.Retention.Changes,
			RetainVersions: time.Duration(cfg.Retention.Versions),
			ReadOnly:       cfg.ReadOnly,
		},
		Auth: Auth{
			Issuer:    cfg.Auth.Issuer,
			MaxTTL:    time.Duration(cfg.Auth.MaxTTL),
			MaxOpsTTL: time.Duration(cfg.Auth.MaxOpsTTL),
			KeyDir:    cfg.Auth.KeyDir,
			DeviceTTL: time.Duration(cfg.Auth.DeviceTTL),
			AccessTTL: time.Duration(cfg.Auth.AccessTTL),
		},
		Cluster: Cluster{Cluster: cfg.Cluster, KEKFile: cfg.Auth.KEKFile},
	}
}

// Node is an open data dir. Close it when done.
type Node struct {
	DB      *sql.DB // the data dir's store; nil in cluster mode
	Tenants *tenants.Registry
	Auth    *auth.Service

	dataDir string
	authCfg auth.Config

	// Cluster mode's adapters (cluster.go); nil on a single node.
	pool   *pgxpool.Pool
	bus    tenants.Bus
	leader *pgleader.Leader
}

// Open opens the data dir at dataDir, which must exist: its store, its tenants and its
// token service.
func Open(ctx context.Context, dataDir string, o Options) (_ *Node, retErr error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{dataDir: dataDir}
	defer func() {
		if retErr != nil {
			_ = n.Close()
		}
	}()
	if o.Cluster.Enabled() {
		if err := openCluster(ctx, n, dataDir, o, logger); err != nil {
			return nil, fmt.Errorf("cluster mode: %w", err)
		}
		return n, nil
	}
	var err error
	if n.DB, err = openStore(ctx, dataDir); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if n.Tenants, err = openTenants(ctx, n.DB, dataDir, o.Limits, logger); err != nil {
		return nil, fmt.Errorf("open tenants: %w", err)
	}
	if o.UseRecorded {
		if o.Auth, err = adoptRecorded(ctx, n.DB, o.Auth, o.KeepKeyDir); err != nil {
			return nil, err
		}
	}
	n.authCfg = authConfig(dataDir, o.Auth)
	if n.Auth, err = openAuth(ctx, n.DB, n.authCfg, n.Tenants, logger); err != nil {
		return nil, fmt.Errorf("open auth: %w", err)
	}
	return n, nil
}

// authConfig is the one mapping from Auth to auth.Config.
func authConfig(dataDir string, a Auth) auth.Config {
	keyDir := a.KeyDir
	if keyDir == "" {
		keyDir = filepath.Join(dataDir, "keys")
	}
	if a.AccessTTL == 0 { // spelled out, so that every opener of a data dir shows the same
		a.AccessTTL = auth.DefaultAccessTTL
	}
	return auth.Config{Issuer: a.Issuer, MaxTTL: a.MaxTTL, MaxOpsTTL: a.MaxOpsTTL, KeyDir: keyDir, Leeway: TokenLeeway,
		DeviceTTL: a.DeviceTTL, AccessTTL: a.AccessTTL}
}

// Pool returns cluster mode's PostgreSQL pool (nil on a single node).
func (n *Node) Pool() *pgxpool.Pool { return n.pool }

// AuthConfig returns the configuration the token service was opened with.
func (n *Node) AuthConfig() auth.Config { return n.authCfg }

// Close closes the registry and the store.
func (n *Node) Close() error {
	var errs []error
	if n.Tenants != nil {
		if err := n.Tenants.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close tenants: %w", err))
		}
	}
	if n.DB != nil {
		if err := n.DB.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	if n.leader != nil {
		errs = append(errs, n.leader.Close())
	}
	if n.bus != nil {
		if err := n.bus.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close bus: %w", err))
		}
	}
	if n.pool != nil {
		n.pool.Close()
	}
	return errors.Join(errs...)
}

// Started reports whether a syncd has started on this data dir before: whether
// RecordSettings has run on it (syncctl never runs it). Cluster mode, which has no
// first-start bootstrap, reports true.
func (n *Node) Started(ctx context.Context) (bool, error) {
	if n.DB == nil {
		return true, nil
	}
	_, ok, err := loadSettings(ctx, n.DB)
	return ok, err
}

// RecordSettings records the token service's settings in the store, for syncctl in
// local mode (Options.UseRecorded). The default key dir (inside the data dir) is
// recorded as "", so that a data dir moved elsewhere still finds its keys.
func (n *Node) RecordSettings(ctx context.Context) error {
	if n.DB == nil {
		return nil // cluster mode: every node and syncctl read the settings from the config
	}
	absKeyDir, err := filepath.Abs(n.authCfg.KeyDir)
	if absData, derr := filepath.Abs(n.dataDir); err == nil && derr == nil && absKeyDir == filepath.Join(absData, "keys") {
		absKeyDir = ""
	}
	if err == nil {
		err = saveSettings(ctx, n.DB, auth.Settings{Issuer: n.Auth.Issuer(), MaxTTL: n.Auth.MaxTTL(),
			MaxOpsTTL: n.Auth.MaxOpsTTL(), KeyDir: absKeyDir, DeviceTTL: n.authCfg.DeviceTTL})
	}
	if err != nil {
		return fmt.Errorf("record auth settings: %w", err)
	}
	return nil
}

// RecordPublicURL records the PUBLIC_URL this syncd serves under (SPEC §7.2: share
// links, device credentials), with explicit true for web.public_url, for syncctl in
// local mode without --config (RecordedPublicURL). Cluster mode records nothing:
// syncctl reads the node's config there.
func (n *Node) RecordPublicURL(ctx context.Context, url string, explicit bool) error {
	if n.DB == nil {
		return nil
	}
	return sqlitestore.SavePublicURL(ctx, n.DB, url, explicit)
}

// RecordedPublicURL returns what RecordPublicURL recorded on this data dir last; ok is
// false when no syncd did (or in cluster mode).
func (n *Node) RecordedPublicURL(ctx context.Context) (url string, explicit, ok bool, err error) {
	if n.DB == nil {
		return "", false, false, nil
	}
	return sqlitestore.LoadPublicURL(ctx, n.DB)
}

// adoptRecorded returns a with the recorded settings in place, if there are any. The
// recorded key dir must be reachable unless keepKeyDir.
func adoptRecorded(ctx context.Context, db *sql.DB, a Auth, keepKeyDir bool) (Auth, error) {
	set, ok, err := loadSettings(ctx, db)
	if err != nil || !ok {
		return a, err
	}
	out := Auth{Issuer: set.Issuer, MaxTTL: set.MaxTTL, MaxOpsTTL: set.MaxOpsTTL, KeyDir: set.KeyDir,
		DeviceTTL: a.DeviceTTL, AccessTTL: a.AccessTTL}
	if set.DeviceTTL > 0 { // recorded by a syncd that knows auth.device_ttl
		out.DeviceTTL = set.DeviceTTL
	}
	if keepKeyDir {
		out.KeyDir = a.KeyDir
	} else if set.KeyDir != "" {
		if _, err := os.Stat(set.KeyDir); err != nil {
			return a, fmt.Errorf("key dir %s, which syncd uses, is not reachable (%v): pass --key-dir or --config", set.KeyDir, err)
		}
	}
	return out, nil
}

// The constructors and the settings' persistence, one small function each.

func openStore(ctx context.Context, dataDir string) (*sql.DB, error) {
	return sqlite.Open(ctx, filepath.Join(dataDir, DBFile))
}

func openTenants(ctx context.Context, db *sql.DB, dataDir string, l tenants.Limits, logger *slog.Logger) (*tenants.Registry, error) {
	return sqlindex.OpenRegistry(ctx, db, dataDir, l, logger)
}

func openAuth(ctx context.Context, db *sql.DB, cfg auth.Config, reg *tenants.Registry, logger *slog.Logger) (*auth.Service, error) {
	return sqlitestore.OpenService(ctx, db, cfg, reg, logger)
}

func saveSettings(ctx context.Context, db *sql.DB, s auth.Settings) error {
	return sqlitestore.SaveSettings(ctx, db, s)
}

func loadSettings(ctx context.Context, db *sql.DB) (auth.Settings, bool, error) {
	return sqlitestore.LoadSettings(ctx, db)
}
