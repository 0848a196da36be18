package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/server"
)

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

// newLogger builds the slog logger of the log config, and the request log writing
// the same format to the same output (server.AccessLog). Both write through one
// mutex, so that their lines never interleave whatever w is.
func newLogger(cfg *config.Config, w io.Writer) (*slog.Logger, *server.AccessLog, error) {
	level, err := cfg.SlogLevel()
	if err != nil {
		return nil, nil, err
	}
	lw := &server.LockedWriter{W: w}
	opts := &slog.HandlerOptions{Level: level}
	al := &server.AccessLog{W: lw, Level: level, JSON: strings.EqualFold(cfg.Log.Format, "json")}
	var h slog.Handler = slog.NewTextHandler(lw, opts)
	if al.JSON {
		h = slog.NewJSONHandler(lw, opts)
	}
	if cfg.Cluster.Enabled() { // every line names the node (cluster.node_id)
		al.Node = cfg.Cluster.Node()
		h = nodeHandler{Handler: h, node: slog.String("node", al.Node)}
	}
	return slog.New(h), al, nil
}

// nodeHandler adds the attribute node to every record, last, so that each line names
// the cluster node and keeps the shape log readers know (msg="syncd listening"
// addr=… first).
type nodeHandler struct {
	slog.Handler
	node slog.Attr
}

func (h nodeHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(h.node) // r is this call's copy: the logger does not use it again
	return h.Handler.Handle(ctx, r)
}

func (h nodeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return nodeHandler{Handler: h.Handler.WithAttrs(as), node: h.node}
}

func (h nodeHandler) WithGroup(name string) slog.Handler {
	return nodeHandler{Handler: h.Handler.WithGroup(name), node: h.node}
}

// Run is syncd's main: it starts the daemon, waits for SIGINT/SIGTERM (or ctx), shuts
// down gracefully within ShutdownGrace, and returns the exit code: 0 on success, 1 on a
// runtime failure, 2 on bad usage. A second signal during shutdown returns 1 at once
// (one within DuplicateSignalWindow of the first is a copy of it). Signals count
// during the start-up too (startInterruptible): the first ends it (exit 0), a second
// returns 1 at once, whatever the start-up waits for.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if hc, rest := takeHealthcheck(args); hc {
		return runHealthcheck(ctx, rest, stdout, stderr, os.Getenv)
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	// The start-up's context, cancelled by a signal during it; what Start opens with it
	// (the TLS file watchers) lives until Run returns.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d, stopped, err := startInterruptible(sctx, cancel, args, stdout, stderr, sigs)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "syncd: %s (run 'syncd -h' for usage)\n", oneLine(err))
		return 2
	case errors.Is(err, errSecondSignal):
		fmt.Fprintln(stderr, "syncd: second signal during start-up, exiting at once")
		return 1
	case err != nil && stopped:
		fmt.Fprintf(stderr, "syncd: start-up interrupted, stopped (%s)\n", oneLine(err))
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "syncd: %s\n", oneLine(err))
		return 1
	case stopped:
		return shutdown(d, sigs, stderr)
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
	return shutdown(d, sigs, stderr)
}

// errSecondSignal is startInterruptible's answer to a second signal.
var errSecondSignal = errors.New("second signal during start-up")

// startInterruptible runs Start with ctx and watches sigs meanwhile: the first signal
// cancels ctx (cancel), so that a start-up waiting on the network or the disk gives
// up, and stopped reports it; a second one (not a copy within DuplicateSignalWindow)
// returns errSecondSignal at once, leaving Start behind (the process then exits). A
// Start that ends well despite the first signal returns its daemon with stopped set:
// the caller shuts it down.
func startInterruptible(ctx context.Context, cancel context.CancelFunc, args []string, stdout, stderr io.Writer, sigs <-chan os.Signal) (_ *Daemon, stopped bool, _ error) {
	type result struct {
		d   *Daemon
		err error
	}
	res := make(chan result, 1)
	go func() {
		d, err := Start(ctx, args, stdout, stderr)
		res <- result{d, err}
	}()
	var first time.Time
	for {
		select {
		case r := <-res:
			return r.d, !first.IsZero(), r.err
		case <-sigs:
			switch {
			case first.IsZero():
				first = time.Now()
				cancel()
			case time.Since(first) >= DuplicateSignalWindow:
				return nil, true, errSecondSignal
			}
		}
	}
}

// DuplicateSignalWindow is how soon after the first signal another one is taken for a
// copy of it rather than a second signal: timeout(1), and supervisors that stop a
// process group, deliver one stop request to the process and to its group.
const DuplicateSignalWindow = 100 * time.Millisecond

// shutdown stops d within ShutdownGrace and returns the exit code: 0, or 1 when the
// shutdown failed or a second signal came.
func shutdown(d *Daemon, sigs <-chan os.Signal, stderr io.Writer) int {
	first := time.Now()
	stopped := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		stopped <- d.Shutdown(sctx)
	}()
	for {
		select {
		case err := <-stopped:
			if err != nil {
				fmt.Fprintf(stderr, "syncd: %s\n", oneLine(err))
				return 1
			}
			return 0
		case <-sigs:
			if time.Since(first) < DuplicateSignalWindow {
				continue
			}
			fmt.Fprintln(stderr, "syncd: second signal, exiting at once")
			return 1
		}
	}
}

// oneLine renders err for stderr: one line, and without the error-code prefix of a
// *protocol.Error whose code is not internal (config's and tlsconf's errors are plain
// and read "config: tls.mode: ..." already).
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
