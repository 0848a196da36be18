// Package clientapp is realtime-sync-client's program logic (SPEC §1), importable so
// that tests run it in-process: Run parses the flags, reads the token, wires
// transport/syncclient to sync/engine and syncs until ctx ends (or once with --once).
package clientapp

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/transport/credential"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// Exit codes (SPEC §1).
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

const usageText = `Usage: realtime-sync-client --server URL --local-path DIR [options]
       realtime-sync-client status --local-path DIR [--json]

Keeps DIR in sync with a syncd server. "status" says what the client of DIR is doing.

Options:
  --server URL          server root: https://, wss://, or http:// / ws:// to loopback only
  --local-path DIR      the local folder to sync (created, mode 0700, if only its
                        parent exists)
  --realtime, -r        live updates over the WebSocket (reconnects; polls while down)
  --initial-sync        show progress for the first full reconcile
  --client-id ID        client id (default: a UUID kept in DIR/.syncspace)
  --token-file FILE     file holding the token (re-read when it changes), or a device
                        credential (syncctl token issue --device): refreshed and
                        rewritten by the client, one client per credential
  --token T             the token itself (visible in the process list: prefer --token-file)
                        (else the environment variable SYNC_TOKEN)
  --interval D          polling period without a live connection (default 30s;
                        100ms to 24h)
  --once                reconcile once and exit (0 when DIR and the server agree)
  --ca-file FILE        PEM certificates to trust in addition to the system roots
  --cert FILE --key FILE  client certificate and key for mutual TLS (reloaded when
                        they change); a device enrolled with --cert needs them
  --allow-mass-delete   let one pass delete more than half of the files
  --log-level LEVEL     debug, info, warn or error (default info)
`

// The bounds of --interval: polling faster than MinInterval would hammer the server
// (each poll is a request), slower than MaxInterval would leave a client without
// --realtime, or whose socket is down, days behind.
const (
	MinInterval = 100 * time.Millisecond
	MaxInterval = 24 * time.Hour
)

// config is the parsed command line.
type config struct {
	server, localPath, clientID, tokenFile, token, caFile, logLevel string
	realtime, initialSync, once, allowMassDelete                    bool
	interval                                                        time.Duration
	certFile, keyFile                                               string
}

// newFlagSet returns the client's flag set, writing into c. status accepts the same
// flags (and ignores them), so it builds its own from this one.
func newFlagSet(c *config) *flag.FlagSet {
	fs := flag.NewFlagSet("realtime-sync-client", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.server, "server", "", "")
	fs.StringVar(&c.localPath, "local-path", "", "")
	fs.BoolVar(&c.realtime, "realtime", false, "")
	fs.BoolVar(&c.realtime, "r", false, "")
	fs.BoolVar(&c.initialSync, "initial-sync", false, "")
	fs.StringVar(&c.clientID, "client-id", "", "")
	fs.StringVar(&c.tokenFile, "token-file", "", "")
	fs.StringVar(&c.token, "token", "", "")
	c.interval = 30 * time.Second
	fs.Var((*durationFlag)(&c.interval), "interval", "")
	fs.BoolVar(&c.once, "once", false, "")
	fs.StringVar(&c.caFile, "ca-file", "", "")
	fs.StringVar(&c.certFile, "cert", "", "")
	fs.StringVar(&c.keyFile, "key", "", "")
	fs.BoolVar(&c.allowMassDelete, "allow-mass-delete", false, "")
	fs.StringVar(&c.logLevel, "log-level", "info", "")
	return fs
}

func parse(args []string) (*config, error) {
	c := &config{}
	fs := newFlagSet(c)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.server == "":
		return nil, errors.New("--server is required")
	case c.localPath == "":
		return nil, errors.New("--local-path is required")
	case c.interval < MinInterval || c.interval > MaxInterval:
		return nil, fmt.Errorf("--interval must be between 100ms and 24h, not %v", c.interval)
	case c.clientID != "" && !engine.ValidClientID(c.clientID):
		return nil, errors.New("--client-id must match ^[A-Za-z0-9._-]{1,64}$")
	case c.tokenFile != "" && c.token != "":
		return nil, errors.New("give either --token-file or --token, not both")
	}
	if _, err := parseLevel(c.logLevel); err != nil {
		return nil, err
	}
	if _, _, err := syncclient.ParseServer(c.server); err != nil {
		return nil, err
	}
	return c, nil
}

// durationFlag is a time.Duration flag whose parse error says what a duration looks
// like (the flag package's own says only "parse error").
type durationFlag time.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }

func (d *durationFlag) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration: write a number with a unit, e.g. 30s, 5m or 500ms")
	}
	*d = durationFlag(v)
	return nil
}

// secretsOutside refuses a token file, client key, client certificate or CA file
// inside DIR: it would be synced to the server like any file, for every member of the
// tenant to download (a read-only member would get a write token) or replace (a CA
// of their own, trusted by this client from its next start).
func secretsOutside(c *config) error {
	for _, f := range []struct{ flag, path string }{
		{"--token-file", c.tokenFile}, {"--key", c.keyFile}, {"--cert", c.certFile}, {"--ca-file", c.caFile},
	} {
		if f.path != "" && inside(f.path, c.localPath) {
			return fmt.Errorf("%s %s is inside --local-path %s: files there are synced with the server, where every member of the tenant can read and replace them; keep it outside the folder", f.flag, f.path, c.localPath)
		}
	}
	return nil
}

// inside reports whether file lies somewhere under the directory dir: one of the
// directories above it (symlinks resolved) is dir itself, by identity, so another
// spelling (case, a symlink, a relative path) is still caught.
func inside(file, dir string) bool {
	di, err := os.Stat(dir)
	if err != nil || !di.IsDir() {
		return false // no folder yet: nothing can be inside it
	}
	p, err := filepath.Abs(file)
	if err != nil {
		return false
	}
	if p, err = filepath.EvalSymlinks(p); err != nil {
		return false // missing: reading it says so
	}
	for q := filepath.Dir(p); ; q = filepath.Dir(q) {
		if qi, err := os.Stat(q); err == nil && os.SameFile(qi, di) {
			return true
		}
		if filepath.Dir(q) == q {
			return false
		}
	}
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", s)
}

// readToken reads a token file: the first non-empty line, trimmed (in UTF-8, or as
// Windows tools write text: credential.Text).
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	for _, line := range bytes.Split(credential.Text(b), []byte("\n")) {
		if t := strings.TrimSpace(string(line)); t != "" {
			return t, nil
		}
	}
	return "", fmt.Errorf("token file %s is empty", path)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// valueFlags are the flags that take a value (for finding the subcommand).
var valueFlags = map[string]bool{
	"server": true, "local-path": true, "client-id": true, "token-file": true, "token": true,
	"interval": true, "ca-file": true, "log-level": true, "cert": true, "key": true,
}

// subcommand finds a subcommand ("status") among args, which flags may stand before
// or after, and returns it with the other arguments.
func subcommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && valueFlags[name] {
				i++
			}
			continue
		}
		if a == "status" {
			rest := append(append([]string{}, args[:i]...), args[i+1:]...)
			return a, rest
		}
		break
	}
	return "", args
}

// ensureFolder creates DIR (0700) when it is missing and its parent exists (SPEC §1).
// A missing parent, or a DIR that is not a directory, is an error that says so.
func ensureFolder(dir string, log *slog.Logger) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	fi, err := os.Stat(abs)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return fmt.Errorf("--local-path %s exists and is not a directory", abs)
	case !errors.Is(err, fs.ErrNotExist):
		if pfi, perr := os.Stat(filepath.Dir(abs)); perr == nil && !pfi.IsDir() {
			return fmt.Errorf("--local-path %s: its parent %s is not a directory", abs, filepath.Dir(abs))
		}
		return fmt.Errorf("--local-path %s: %w", abs, err)
	}
	if _, lerr := os.Lstat(abs); lerr == nil {
		return fmt.Errorf("--local-path %s is a symbolic link to nothing", abs)
	}
	parent := filepath.Dir(abs)
	pfi, err := os.Stat(parent)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--local-path %s does not exist, nor does its parent %s: create the parent first (only the last folder is created)", abs, parent)
	case err != nil:
		return fmt.Errorf("--local-path %s: parent: %w", abs, err)
	case !pfi.IsDir():
		return fmt.Errorf("--local-path %s: its parent %s is not a directory", abs, parent)
	}
	if err := os.Mkdir(abs, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create --local-path %s: %w", abs, err)
	}
	log.Info("created the local folder", "dir", abs)
	return nil
}

// Run is the whole program: it returns the exit code. ctx ending (SIGINT in main)
// stops syncing cleanly with the state saved.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, args := subcommand(args)
	if helpAsked(sub, args, stdout) {
		return ExitOK
	}
	if sub == "status" {
		return runStatus(args, stdout, stderr)
	}
	c, err := parse(args)
	if err == nil {
		err = secretsOutside(c)
	}
	if err != nil {
		fmt.Fprintf(stderr, "realtime-sync-client: %v (run 'realtime-sync-client -h' for usage)\n", err)
		return ExitUsage
	}
	level, _ := parseLevel(c.logLevel)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	token, devFile, ok := chooseToken(c, log, stderr)
	if !ok {
		return ExitUsage
	}
	cl, err := syncclient.New(syncclient.Options{Server: c.server, Token: token, CAFile: c.caFile, CertFile: c.certFile, KeyFile: c.keyFile, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "realtime-sync-client: %v\n", err)
		return ExitUsage
	}
	var dev *device
	if devFile {
		if dev, err = openDevice(ctx, c.tokenFile, cl, log); err != nil {
			return deviceFailure(stderr, err)
		}
		defer dev.src.Close()
		token = cl.Token()
	}
	eng, err := openEngine(c, cl, stderr, log)
	if err != nil {
		fmt.Fprintf(stderr, "realtime-sync-client: %v\n", err)
		return ExitFailure
	}
	defer eng.Close()
	log.Info("syncing", "dir", c.localPath, "client_id", eng.ClientID(), "realtime", c.realtime)
	abs, _ := filepath.Abs(c.localPath)
	httpURL, _, _ := syncclient.ParseServer(c.server)
	sw := newStatusWriter(eng, abs, statusFile{
		Dir: abs, Server: httpURL.String(), Realtime: c.realtime && !c.once, Interval: c.interval.String(),
	}, log)
	sw.setToken(token)
	if c.once {
		return syncOnce(ctx, eng, sw, stderr)
	}
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	if dev != nil {
		go dev.keep(ctx, func(tok string) { cl.SetToken(tok); sw.setToken(tok) }, stopRun, log)
	} else if c.tokenFile != "" {
		go watchToken(ctx, c.tokenFile, token, func(tok string) {
			cl.SetToken(tok)
			sw.setToken(tok)
		}, log)
	}
	return runLive(ctx, eng, sw, stderr)
}

// helpAsked prints the usage of sub to stdout when args ask for it.
func helpAsked(sub string, args []string, stdout io.Writer) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			if sub == "status" {
				fmt.Fprint(stdout, statusUsage)
			} else {
				fmt.Fprint(stdout, usageText)
			}
			return true
		}
	}
	return false
}

// openEngine creates the local folder if needed and opens the sync engine on it, with
// progress bars when stderr is a terminal.
func openEngine(c *config, cl *syncclient.Client, stderr io.Writer, log *slog.Logger) (*engine.Engine, error) {
	if err := ensureFolder(c.localPath, log); err != nil {
		return nil, err
	}
	var progress func(int, int64) engine.Progress
	if isTerminal(stderr) {
		progress = terminalBars(stderr)
	}
	return engine.Open(engine.Options{
		Root: c.localPath, Remote: cl, ClientID: c.clientID, Realtime: c.realtime,
		Interval: c.interval, InitialSync: c.initialSync, AllowMassDelete: c.allowMassDelete,
		Progress: progress, Logger: log, RescanInterval: rescanInterval,
	})
}

// rescanInterval is the period of the engine's full local rescan (0: its default,
// 2 min); only TestConvergence's -rescan flag sets it.
var rescanInterval time.Duration

// syncOnce is --once: one sync, then exit 0 only when the folder and the server agree.
func syncOnce(ctx context.Context, eng *engine.Engine, sw *statusWriter, stderr io.Writer) int {
	agreed, err := eng.SyncOnce(ctx)
	if err != nil {
		sw.stopped("--once: " + err.Error())
		fmt.Fprintf(stderr, "realtime-sync-client: %v\n", err)
		return ExitFailure
	}
	if !agreed {
		sw.stopped("--once: the folder and the server do not agree yet")
		fmt.Fprintln(stderr, "realtime-sync-client: the folder and the server do not agree yet (see the log)")
		return ExitFailure
	}
	sw.stopped("--once done")
	return ExitOK
}

// runLive runs the engine until ctx ends, with the status file kept up to date.
func runLive(ctx context.Context, eng *engine.Engine, sw *statusWriter, stderr io.Writer) int {
	wctx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); sw.run(wctx) }()
	err := eng.Run(ctx)
	stopWriter()
	<-writerDone
	if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // the device credential was refused
	}
	if err != nil {
		sw.stopped(err.Error())
		fmt.Fprintf(stderr, "realtime-sync-client: %v\n", err)
		return ExitFailure
	}
	sw.stopped("")
	return ExitOK
}

// watchToken re-reads the token file when it changes and hands the new token to use
// (the client sends it as Refresh on a live socket).
func watchToken(ctx context.Context, path, current string, use func(string), log *slog.Logger) {
	var last os.FileInfo
	if fi, err := os.Stat(path); err == nil {
		last = fi
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		if last != nil && fi.ModTime().Equal(last.ModTime()) && fi.Size() == last.Size() && os.SameFile(fi, last) {
			continue
		}
		last = fi
		tok, err := readToken(path)
		if err != nil || tok == current {
			continue
		}
		current = tok
		use(tok)
		log.Info("token file changed, new token in use")
	}
}
