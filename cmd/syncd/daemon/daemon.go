// Package daemon is syncd's program logic, importable so that tests can start a real
// server on 127.0.0.1:0 with a temporary data dir: Start loads the configuration,
// opens the store, the tenant registry and the token service, builds the HTTP handlers
// and serves them until Shutdown; Run wraps Start with flags, signals and exit codes
// for cmd/syncd's main.
package daemon

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/sqlite"
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
	DBFile           = "syncd.db"
)

// ErrUsage marks a command-line error (exit code 2).
var ErrUsage = errors.New("bad usage")

// Daemon is a running syncd. Create it with Start; stop it with Shutdown.
type Daemon struct {
	cfg    *config.Config
	logger *slog.Logger
	db     *sql.DB
	reg    *tenants.Registry
	auth   *auth.Service
	srv    *server.Server
	tls    *tlsSetup

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

// Usage is syncd's -h text.
const Usage = `usage: syncd [-config FILE]
       syncd -healthcheck [-config FILE]   exit 0 when that server answers /readyz

syncd serves syncspace's file-sync API. Without -config it runs on the embedded
default: listen 127.0.0.1:8080, plain HTTP, data dir ./syncd-data; its first start
creates tenant "default" and the token file syncd-data/default.token.

Environment overrides: SYNCD_LISTEN, SYNCD_DATA_DIR, SYNCD_LOG_LEVEL.

flags:
`

// parseArgs parses syncd's flags. It returns flag.ErrHelp for -h.
func parseArgs(args []string, stdout io.Writer) (string, error) {
	fs := flag.NewFlagSet("syncd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "JSON config `FILE` (default: the embedded default)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprint(stdout, Usage)
			fs.PrintDefaults()
			return "", err
		}
		return "", fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	return *configPath, nil
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
	logger, err := newLogger(cfg, stderr)
	if err != nil {
		return nil, err
	}

	d := &Daemon{cfg: cfg, logger: logger, errc: make(chan error, 4), done: make(chan struct{})}
	defer func() {
		if retErr != nil {
			d.closeAll()
		}
	}()

	if err := makeDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	d.db, err = sqlite.Open(ctx, filepath.Join(cfg.DataDir, DBFile))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	d.reg, err = tenants.OpenRegistry(ctx, d.db, cfg.DataDir, tenants.Limits{
		MaxFileSize:    int64(cfg.Limits.MaxFileSize),
		MaxEntries:     cfg.Limits.MaxEntries,
		MinFreeDisk:    int64(cfg.Limits.MinFreeDisk),
		RetainChanges:  cfg.Retention.Changes,
		RetainVersions: time.Duration(cfg.Retention.Versions),
		ReadOnly:       cfg.ReadOnly,
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("open tenants: %w", err)
	}
	keyDir := cfg.KeyDir()
	d.auth, err = sqlitestore.OpenService(ctx, d.db, auth.Config{
		Issuer:    cfg.Auth.Issuer,
		MaxTTL:    time.Duration(cfg.Auth.MaxTTL),
		MaxOpsTTL: time.Duration(cfg.Auth.MaxOpsTTL),
		KeyDir:    keyDir,
		Leeway:    30 * time.Second,
		DeviceTTL: time.Duration(cfg.Auth.DeviceTTL),
		AccessTTL: time.Duration(cfg.Auth.AccessTTL),
	}, d.reg, logger)
	if err != nil {
		return nil, fmt.Errorf("open auth: %w", err)
	}
	// For syncctl in local mode, which knows only the data dir. The default key dir
	// (inside the data dir) is recorded as "", so that a data dir moved elsewhere
	// still finds its keys.
	absKeyDir, err := filepath.Abs(keyDir)
	if absData, derr := filepath.Abs(cfg.DataDir); err == nil && derr == nil && absKeyDir == filepath.Join(absData, "keys") {
		absKeyDir = ""
	}
	if err == nil {
		err = sqlitestore.SaveSettings(ctx, d.db, auth.Settings{Issuer: d.auth.Issuer(), MaxTTL: d.auth.MaxTTL(),
			MaxOpsTTL: d.auth.MaxOpsTTL(), KeyDir: absKeyDir, DeviceTTL: time.Duration(cfg.Auth.DeviceTTL)})
	}
	if err != nil {
		return nil, fmt.Errorf("record auth settings: %w", err)
	}

	var tokenFile string
	var bootstrapped bool
	if cfg.Embedded {
		tokenFile, bootstrapped, err = d.bootstrap(ctx)
		if err != nil {
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
	}

	d.checkTokenFileMode()

	d.tls, err = newTLS(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	d.srv, err = server.New(ctx, server.Deps{Config: cfg, Tenants: d.reg, Auth: d.auth, Logger: logger, DB: d.db})
	if err != nil {
		return nil, err
	}

	// Background loops live until Shutdown, whatever happens to ctx.
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.bgCancel = cancel
	if err := d.reg.StartWatchers(bgCtx); err != nil {
		return nil, fmt.Errorf("start watchers: %w", err)
	}
	d.bg.Add(2)
	go func() { defer d.bg.Done(); d.reg.Run(bgCtx) }()
	go func() { defer d.bg.Done(); d.auth.Run(bgCtx) }()

	if err := d.listen(); err != nil {
		return nil, err
	}
	if cfg.Embedded && tokenFile != "" {
		printHint(stdout, d.Addr(), tokenFile, bootstrapped, d.tls.TLSConfig != nil)
		if cfg.Web.Enabled {
			printWebHint(stdout, cfg, d.Addr(), d.tls.TLSConfig != nil)
		}
	}
	go d.monitor()
	return d, nil
}

// listen binds the listeners and starts serving.
func (d *Daemon) listen() error {
	cfg := d.cfg
	errLog := slog.NewLogLogger(d.logger.Handler(), slog.LevelInfo)
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: ReadHeaderTimeout,
			IdleTimeout:       IdleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			ErrorLog:          errLog,
			ConnContext:       guard.ConnContext,
		}
	}
	// One limiter over every listener: limits.max_connections counts them all.
	limiter, err := server.NewLimiter(cfg)
	if err != nil {
		return err
	}
	d.limiter = limiter
	d.lnMain, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	d.lnMain = limiter.Wrap(d.lnMain, d.tls.TLSConfig)
	mainSrv := newServer(d.tls.wrap(d.srv.Main()))
	mainSrv.TLSConfig = d.tls.TLSConfig
	d.servers = append(d.servers, mainSrv)
	if d.tls.TLSConfig == nil && !loopbackAddr(d.lnMain.Addr()) {
		d.logger.Warn("PLAIN HTTP ON A NON-LOOPBACK ADDRESS: tokens and files cross the network unencrypted; use only behind a TLS proxy", slog.String("listen", d.lnMain.Addr().String()))
	}
	d.serve(mainSrv, d.lnMain)

	if cfg.AdminListen != "" {
		d.lnAdmin, err = net.Listen("tcp", cfg.AdminListen)
		if err != nil {
			return fmt.Errorf("listen admin %s: %w", cfg.AdminListen, err)
		}
		d.lnAdmin = limiter.Wrap(d.lnAdmin, d.tls.TLSConfig)
		adminSrv := newServer(d.tls.wrap(d.srv.Admin()))
		adminSrv.TLSConfig = d.tls.TLSConfig
		d.servers = append(d.servers, adminSrv)
		d.serve(adminSrv, d.lnAdmin)
	}
	if h := d.tls.HTTPHandler; h != nil && cfg.TLS.HTTPListen != "" {
		ln, err := net.Listen("tcp", cfg.TLS.HTTPListen)
		if err != nil {
			return fmt.Errorf("listen http %s: %w", cfg.TLS.HTTPListen, err)
		}
		ln = limiter.Wrap(ln, nil)
		plain := newServer(h)
		d.servers = append(d.servers, plain)
		d.serveOn(plain, ln, false)
	}
	d.logger.Info("syncd listening", slog.String("addr", d.Addr()), slog.Bool("tls", d.tls.TLSConfig != nil), slog.String("data_dir", cfg.DataDir))
	if d.lnAdmin != nil {
		d.logger.Info("admin API listening", slog.String("addr", d.AdminAddr()))
	}
	return nil
}

func (d *Daemon) serve(s *http.Server, ln net.Listener) {
	d.serveOn(s, ln, s.TLSConfig != nil)
}

func (d *Daemon) serveOn(s *http.Server, ln net.Listener, useTLS bool) {
	go func() {
		var err error
		if useTLS {
			err = s.ServeTLS(ln, "", "")
		} else {
			err = s.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.errc <- err
		}
	}()
}

// monitor shuts the daemon down when a listener fails.
func (d *Daemon) monitor() {
	select {
	case err := <-d.errc:
		d.logger.Error("serving failed", slog.Any("err", err))
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		d.shutdown(ctx, err)
	case <-d.done:
	}
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
func (d *Daemon) Registry() *tenants.Registry { return d.reg }

// Auth returns the token service (for tests and embedding).
func (d *Daemon) Auth() *auth.Service { return d.auth }

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
	if d.tls != nil {
		d.tls.close()
	}
	if d.reg != nil {
		if err := d.reg.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close tenants: %w", err))
		}
	}
	if d.db != nil {
		if err := d.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Wait blocks until the daemon has stopped (after Shutdown, or after a listener
// failed) and returns the failure, if any.
func (d *Daemon) Wait() error {
	<-d.done
	return d.waitErr
}

// bootstrap creates tenant "default" and its token file on the first start of the
// embedded default. It returns the token file's path ("" if there is none) and whether
// it was created now. The token itself is never printed or logged.
func (d *Daemon) bootstrap(ctx context.Context) (string, bool, error) {
	tokenFile := filepath.Join(d.cfg.DataDir, DefaultTokenFile)
	_, err := d.reg.Get(ctx, DefaultTenant)
	switch {
	case err == nil:
		if _, statErr := os.Stat(tokenFile); statErr != nil {
			return "", false, nil
		}
		return tokenFile, false, nil
	case protocol.CodeOf(err) != protocol.CodeNotFound:
		return "", false, err
	}
	if _, err := d.reg.Create(ctx, DefaultTenant, tenants.Options{}); err != nil {
		return "", false, err
	}
	token, _, err := d.auth.IssueTenantToken(ctx, DefaultTenant, DefaultTenant, auth.RoleWrite, DefaultTokenTTL)
	if err != nil {
		return "", false, err
	}
	if err := writeSecretFile(tokenFile, []byte(token+"\n")); err != nil {
		return "", false, err
	}
	d.logger.Info("bootstrapped tenant and token file", slog.String("tenant", DefaultTenant), slog.String("token_file", tokenFile))
	return tokenFile, true, nil
}

// checkTokenFileMode warns when the token file syncd wrote (data_dir/default.token)
// is there but no longer mode 0600: someone else on the machine may read a token that
// writes to tenant default. syncd does not change the mode back itself (the owner may
// have meant it); it says so at every start. Windows has no such modes.
func (d *Daemon) checkTokenFileMode() {
	if runtime.GOOS == "windows" {
		return
	}
	path := filepath.Join(d.cfg.DataDir, DefaultTokenFile)
	fi, err := os.Lstat(path)
	if err != nil {
		return
	}
	switch {
	case !fi.Mode().IsRegular():
		d.logger.Warn("token file is no longer the regular file syncd wrote; check it", slog.String("token_file", path), slog.String("mode", fi.Mode().String()))
	case fi.Mode().Perm()&0o077 != 0:
		d.logger.Warn("token file has lost mode 0600: group or others may read the token; run chmod 600 on it",
			slog.String("token_file", path), slog.String("mode", fmt.Sprintf("%04o", fi.Mode().Perm())))
	}
}

// writeSecretFile writes data to a file of mode 0600 atomically and durably (a reader
// never sees half a token; see fsys.WriteFileAtomic).
func writeSecretFile(path string, data []byte) error {
	return fsys.WriteFileAtomic(path, data, 0o600)
}

// printHint tells the user where the token is and how to start a client: a command
// line that works pasted into a shell in syncd's working directory (see clientLine).
func printHint(w io.Writer, addr, tokenFile string, created, useTLS bool) {
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	if created {
		fmt.Fprintf(w, "syncd: created tenant %q and a write token valid for 30 days in %s (mode 0600)\n", DefaultTenant, tokenFile)
	} else {
		fmt.Fprintf(w, "syncd: token for tenant %q is in %s\n", DefaultTenant, tokenFile)
	}
	lookPath, cwd := lookPathAndCwd()
	line, note := clientLine(lookPath, cwd, scheme+"://"+addr, tokenFile)
	fmt.Fprintf(w, "start a client in this directory with:\n  %s\n", line)
	if note != "" {
		fmt.Fprintf(w, "(%s)\n", note)
	}
}

// printWebHint tells the user where the web app is and how to make a sign-in link for
// it (SPEC §7.2); the link itself holds a token, so it is never printed here.
func printWebHint(w io.Writer, cfg *config.Config, addr string, useTLS bool) {
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	webURL := scheme + "://" + addr
	if cfg.Web.PublicURL != "" {
		webURL = strings.TrimRight(cfg.Web.PublicURL, "/")
	}
	cmd := "syncctl --data " + cfg.DataDir + " token issue --tenant " + DefaultTenant + " --subject you --role write --link"
	// syncctl without --config derives PUBLIC_URL from the embedded default's listen
	// address; name the real one when it differs (SYNCD_LISTEN, a port of 0).
	if derived, _ := config.Default().PublicURL(); derived != webURL {
		cmd += " --public-url " + webURL
	}
	fmt.Fprintf(w, "open the web app at %s/ and sign in with a link made by:\n  %s\n", webURL, cmd)
}

// makeDataDir creates the data dir 0700 whatever the umask.
func makeDataDir(dir string) error {
	if dir == "" {
		return errors.New("data_dir is empty")
	}
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("data_dir %s is not a directory", dir)
		}
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	return os.Chmod(dir, 0o700)
}

// newLogger builds the slog logger of the log config.
func newLogger(cfg *config.Config, w io.Writer) (*slog.Logger, error) {
	level, err := cfg.SlogLevel()
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.Log.Format, "json") {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

func loopbackAddr(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// Run is syncd's main: it starts the daemon, waits for SIGINT/SIGTERM (or ctx), shuts
// down gracefully within ShutdownGrace, and returns the exit code: 0 on success, 1 on a
// runtime failure, 2 on bad usage. A second signal during shutdown returns 1 at once.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if hc, rest := takeHealthcheck(args); hc {
		return runHealthcheck(ctx, rest, stdout, stderr, os.Getenv)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	d, err := Start(ctx, args, stdout, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "syncd: %s (run 'syncd -h' for usage)\n", oneLine(err))
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "syncd: %s\n", oneLine(err))
		return 1
	}
	select {
	case <-sigs:
	case <-ctx.Done():
	case <-d.done:
		if err := d.Wait(); err != nil {
			fmt.Fprintf(stderr, "syncd: %s\n", oneLine(err))
			return 1
		}
		return 0
	}
	stopped := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		stopped <- d.Shutdown(sctx)
	}()
	select {
	case err := <-stopped:
		if err != nil {
			fmt.Fprintf(stderr, "syncd: %s\n", oneLine(err))
			return 1
		}
		return 0
	case <-sigs:
		fmt.Fprintln(stderr, "syncd: second signal, exiting at once")
		return 1
	}
}

// oneLine renders err for stderr: one line, and without the error-code prefix of a
// *protocol.Error (a config error reads "config: tls.mode: ...").
func oneLine(err error) string {
	msg := err.Error()
	if pe, ok := err.(*protocol.Error); ok && pe.Code != protocol.CodeInternal && pe.Message != "" {
		msg = pe.Message
		if pe.Err != nil {
			msg += ": " + pe.Err.Error()
		}
	}
	return strings.ReplaceAll(msg, "\n", "; ")
}

// tlsSetup adapts the TLS setup of package tlsconf.
type tlsSetup struct {
	TLSConfig   *tls.Config
	HTTPHandler http.Handler
	middleware  func(http.Handler) http.Handler
	closeFn     func()
}

func (t *tlsSetup) wrap(h http.Handler) http.Handler {
	if t == nil || t.middleware == nil {
		return h
	}
	return t.middleware(h)
}

func (t *tlsSetup) close() {
	if t != nil && t.closeFn != nil {
		t.closeFn()
	}
}
