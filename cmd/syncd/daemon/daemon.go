// Package daemon is syncd's program logic, importable so that tests can start a real
// server on 127.0.0.1:0 with a temporary data dir: Start loads the configuration,
// opens the store, the tenant registry and the token service, builds the HTTP handlers
// and serves them until Shutdown; Run wraps Start with flags, signals and exit codes
// for cmd/syncd's main.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/internal/node"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/guard"
	"github.com/syncspace/syncspace/transport/server"
)

// Server timeouts. There is no write timeout: it would cut long downloads.
const (
	ReadHeaderTimeout = 10 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
	// ShutdownGrace is how long in-flight requests may run after SIGINT/SIGTERM.
	ShutdownGrace = 10 * time.Second
)

// Bootstrap of the embedded default (SPEC §1).
const (
	DefaultTenant    = "default"
	DefaultTokenFile = "default.token"
	DefaultTokenTTL  = 30 * 24 * time.Hour
	DBFile           = node.DBFile
)

// ErrUsage marks a command-line error (exit code 2).
var ErrUsage = errors.New("bad usage")

// Daemon is a running syncd. Create it with Start; stop it with Shutdown.
type Daemon struct {
	cfg    *config.Config
	logger *slog.Logger
	// accessLog writes the request log in logger's format (server.AccessLog).
	accessLog *server.AccessLog
	node      *node.Node
	lock      *os.File // data_dir/syncd.lock, held while the data dir is open (single node)
	srv       *server.Server
	tls       *tlsSetup

	servers []*http.Server
	lnMain  net.Listener
	lnAdmin net.Listener
	limiter *guard.Limiter

	bgCancel context.CancelFunc
	bg       sync.WaitGroup

	errc         chan error // serve failures
	done         chan struct{}
	shutdownOnce sync.Once
	waitErr      error
}

// Start loads the configuration named by args (-config FILE, else the embedded
// default, with SYNCD_* environment overrides), opens everything and serves in the
// background. stdout receives the bootstrap hint of the embedded default; stderr the
// logs. On -h it prints usage to stdout and returns flag.ErrHelp; on bad flags an error
// wrapping ErrUsage.
func Start(ctx context.Context, args []string, stdout, stderr io.Writer) (*Daemon, error) {
	return start(ctx, args, stdout, stderr, os.Getenv)
}

func start(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) (_ *Daemon, retErr error) {
	path, err := parseArgs(args, stdout)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(path, getenv) // validated
	if err != nil {
		return nil, err
	}
	logger, accessLog, err := newLogger(cfg, stderr)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, logger: logger, accessLog: accessLog, errc: make(chan error, 4), done: make(chan struct{})}
	defer func() {
		if retErr != nil {
			d.closeAll()
		}
	}()
	if err := d.open(ctx); err != nil {
		return nil, err
	}
	var tokenFile string
	var bootstrapped bool
	if cfg.Embedded {
		if tokenFile, bootstrapped, err = d.bootstrap(ctx); err != nil {
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
	}
	// Recorded after the bootstrap, so that a first start that stopped half-way is
	// still a first start next time (Node.Started).
	if err := d.node.RecordSettings(ctx); err != nil {
		return nil, err
	}
	d.checkTokenFileMode()
	if err := d.build(ctx); err != nil {
		return nil, err
	}
	if err := d.startBackground(ctx); err != nil {
		return nil, err
	}
	if err := d.listen(); err != nil {
		return nil, err
	}
	if cfg.Embedded && tokenFile != "" {
		var stale string
		if !bootstrapped {
			stale = d.staleToken(ctx, tokenFile)
		}
		printHint(stdout, cfg.DataDir, d.Addr(), tokenFile, bootstrapped, d.tls.TLSConfig != nil, stale)
		if cfg.Web.Enabled {
			lookPath, cwd := lookPathAndCwd()
			ctl, _ := commandFor(CtlBinary, lookPath, cwd)
			printWebHint(stdout, cfg, d.Addr(), d.tls.TLSConfig != nil, ctl)
		}
	}
	go d.monitor()
	return d, nil
}

// open creates the data dir if needed, takes it for this process on a single node
// (lockDataDir) and opens it (cmd/internal/node): the store, the tenants and the token
// service.
func (d *Daemon) open(ctx context.Context) error {
	if err := makeDataDir(d.cfg.DataDir); err != nil {
		return err
	}
	if !d.cfg.Cluster.Enabled() {
		lock, err := lockDataDir(d.cfg.DataDir)
		if err != nil {
			return err
		}
		d.lock = lock
	}
	o := node.FromConfig(d.cfg)
	o.Logger = d.logger
	n, err := node.Open(ctx, d.cfg.DataDir, o)
	if err != nil {
		return err
	}
	d.node = n
	return nil
}

// build sets up TLS and the HTTP handlers.
func (d *Daemon) build(ctx context.Context) error {
	var err error
	if d.tls, err = newTLS(ctx, d.cfg, d.logger); err != nil {
		return err
	}
	opts, err := ServerOptions(d.cfg)
	if err != nil {
		return err
	}
	// Bound now, so that PUBLIC_URL names the port of a listen address ending in ":0".
	if d.lnMain, err = net.Listen("tcp", d.cfg.Listen); err != nil {
		return fmt.Errorf("listen %s: %w", d.cfg.Listen, err)
	}
	if err := checkBoundLoopback("listen", d.cfg.Listen, d.lnMain); err != nil {
		return err
	}
	opts.PublicURL = d.publicURL()
	if err := d.node.RecordPublicURL(ctx, opts.PublicURL, d.cfg.Web.PublicURL != ""); err != nil {
		return err
	}
	shares, err := openShares(ctx, d.node.DB, d.node.Pool(), d.node.Auth.ShareCreatorRevokedAt)
	if err != nil {
		return err
	}
	d.srv, err = server.New(ctx, server.Deps{Options: opts, Tenants: d.node.Tenants, Auth: d.node.Auth, Logger: d.logger, DB: d.node.DB, Shares: shares, AccessLog: d.accessLog})
	return err
}

// startBackground starts the loops that live until Shutdown, whatever happens to ctx:
// the tenants' watchers and housekeeping, auth's store polling and, in cluster mode,
// the readiness watch that sends clients to another node while this one cannot reach
// PostgreSQL (SPEC §7.1). A single node has no other node: closing its WebSockets
// with 1012 because its SQLite answered a ping slowly under load only brought every
// client straight back.
func (d *Daemon) startBackground(ctx context.Context) error {
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.bgCancel = cancel
	if err := d.node.Tenants.StartWatchers(bgCtx); err != nil {
		return fmt.Errorf("start watchers: %w", err)
	}
	if d.cfg.Cluster.Enabled() {
		d.bg.Add(1)
		go func() { defer d.bg.Done(); d.srv.WatchReady(bgCtx, 0) }()
	}
	d.bg.Add(2)
	go func() { defer d.bg.Done(); d.node.Tenants.Run(bgCtx) }()
	go func() { defer d.bg.Done(); d.node.Auth.Run(bgCtx) }()
	return nil
}

// Addr returns the main listener's address (host:port).
func (d *Daemon) Addr() string {
	if d.lnMain == nil {
		return ""
	}
	return d.lnMain.Addr().String()
}

// AdminAddr returns the admin listener's address, "" when admin_listen is unset.
func (d *Daemon) AdminAddr() string {
	if d.lnAdmin == nil {
		return ""
	}
	return d.lnAdmin.Addr().String()
}

// OpenConnections returns the number of TCP connections the listeners hold now (as
// counted for limits.max_connections).
func (d *Daemon) OpenConnections() int {
	if d.limiter == nil {
		return 0
	}
	return d.limiter.Open()
}

// Config returns the effective configuration.
func (d *Daemon) Config() *config.Config { return d.cfg }

// Registry returns the tenant registry (for tests and embedding).
func (d *Daemon) Registry() *tenants.Registry { return d.node.Tenants }

// Auth returns the token service (for tests and embedding).
func (d *Daemon) Auth() *auth.Service { return d.node.Auth }

// AuthConfig returns the configuration of the token service (for tests: syncctl's
// local mode must open the data dir alike).
func (d *Daemon) AuthConfig() auth.Config { return d.node.AuthConfig() }

// Shutdown stops accepting connections, has the hub close WebSockets with 1001, lets
// in-flight requests finish until ctx is done (then cuts them), stops the background
// loops and closes the store. It is safe to call more than once.
func (d *Daemon) Shutdown(ctx context.Context) error {
	d.shutdown(ctx, nil)
	<-d.done
	return d.waitErr
}

func (d *Daemon) shutdown(ctx context.Context, cause error) {
	d.shutdownOnce.Do(func() {
		d.logger.Info("syncd shutting down")
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.srv.Shutdown(ctx); err != nil {
				d.logger.Warn("closing connections", slog.Any("err", err))
			}
		}()
		for _, s := range d.servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Shutdown(ctx); err != nil {
					d.logger.Warn("grace period over, cutting remaining requests", slog.Any("err", err))
					_ = s.Close()
				}
			}()
		}
		wg.Wait()
		d.waitErr = errors.Join(cause, d.closeAll())
		d.logger.Info("syncd stopped")
		close(d.done)
	})
}

// closeAll stops the background loops and closes what Start opened.
func (d *Daemon) closeAll() error {
	var errs []error
	if d.bgCancel != nil {
		d.bgCancel()
		d.bg.Wait()
	}
	for _, s := range d.servers {
		_ = s.Close()
	}
	if d.lnMain != nil {
		_ = d.lnMain.Close() // bound but perhaps never served
	}
	if d.tls != nil {
		d.tls.close()
	}
	if d.node != nil {
		if err := d.node.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if d.lock != nil {
		_ = d.lock.Close() // releases the data dir for the next syncd
	}
	return errors.Join(errs...)
}

// Wait blocks until the daemon has stopped (after Shutdown, or after a listener
// failed) and returns the failure, if any.
func (d *Daemon) Wait() error {
	<-d.done
	return d.waitErr
}
