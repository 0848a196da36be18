// Package bench is syncbench's program logic, the home of every benchmark of the
// project: it measures syncspace (an in-process syncd from cmd/syncd/daemon, the /ws
// hub alone over the real auth service, the real client from
// cmd/realtime-sync-client/clientapp, a syncd child process where memory must be
// isolated, and clusters of syncd child processes in the opt-in cluster-* scenarios)
// against real peers run on
// the same machine in the same run (nginx, a minimal net/http handler with the same
// durability, a minimal gorilla/websocket broadcast server, Centrifugo, Syncthing,
// rsync), and prints one table: scenario, syncspace, peer, ratio, target, verdict.
//
// Every scenario is bounded in time and talks to loopback addresses only. A peer that
// is missing is installed when possible (Debian packages through apt-get when running
// as root, Centrifugo through `go install` into a cache directory); otherwise its rows
// say "skipped: <reason>". Ratios are always syncspace / peer of the figure in the
// row; the target says which direction is good.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"time"
)

// Exit codes of Main.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// Options configure a run. The zero value runs every scenario at full size in a
// temporary work directory, with peers cached under the user's cache directory.
type Options struct {
	// Only lists the scenarios to run (names of Scenarios); nil or empty runs all.
	Only []string
	// Quick uses small sizes (a smoke test for CI); figures are then not meaningful.
	Quick bool
	// WorkDir holds data of the run ("" = a new temporary directory, removed after).
	WorkDir string
	// CacheDir holds installed peers such as the centrifugo binary ("" = the user's
	// cache directory + "/syncbench").
	CacheDir string
	// NoInstall forbids installing missing peers (their rows are then skipped).
	NoInstall bool
	// CPUProfileDir, when set, receives one CPU profile of this process per scenario
	// (NAME.pprof; the in-process syncd runs in this process).
	CPUProfileDir string
	// Logger receives progress lines (nil = discard).
	Logger *slog.Logger
}

// Result is one row of the table: one figure of syncspace against one peer.
type Result struct {
	Scenario string `json:"scenario"`
	// Metric names the figure and its unit, e.g. "MiB/s", "files/s", "ms p99".
	Metric string `json:"metric"`
	// Syncspace is syncspace's figure (0 when the scenario could not run).
	Syncspace float64 `json:"syncspace"`
	// Peer names the peer ("" when the row has no peer).
	Peer string `json:"peer,omitempty"`
	// PeerValue is the peer's figure in the same unit (0 when skipped or no peer).
	PeerValue float64 `json:"peer_value,omitempty"`
	// Ratio is Syncspace / PeerValue (0 when there is no peer figure).
	Ratio float64 `json:"ratio,omitempty"`
	// Target is the goal in words, e.g. "≥ 0.9×" or "≤ 8 KiB"; "" = informational.
	Target string `json:"target,omitempty"`
	// Verdict is "pass", "MISS", "info", "skipped: <reason>" or "error: <reason>".
	Verdict string `json:"verdict"`
	// Notes say what the figure includes (sizes, concurrency, caveats).
	Notes string `json:"notes,omitempty"`
}

// Report is the --json output.
type Report struct {
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	Quick    bool      `json:"quick"`
	Machine  Machine   `json:"machine"`
	// FsyncMillis is the median latency of a 4 KiB write + fsync in the work dir.
	FsyncMillis float64  `json:"fsync_ms"`
	Results     []Result `json:"results"`
}

// scenario is one benchmark of the suite.
type scenario struct {
	name    string
	about   string
	timeout time.Duration // full size; quick runs get a third (at least 1 min)
	run     func(ctx context.Context, r *runner) []Result
}

// Scenarios lists the scenario names in the order they run.
func Scenarios() []string {
	out := make([]string, 0, len(allScenarios))
	for _, s := range allScenarios {
		out = append(out, s.name)
	}
	return out
}

var allScenarios = []scenario{
	{"download", "GET of a 256 MiB file: syncd vs nginx (sendfile) and http.ServeFile", 3 * time.Minute, runDownload},
	{"upload", "PUT of 256 MiB with SHA-256 and fsync: syncd vs a minimal durable handler", 3 * time.Minute, runUpload},
	{"small-uploads", "10,000 × 4 KiB PUTs, 8 concurrent: syncd vs a minimal durable handler (fresh dir, existing dir, slow disk)", 4 * time.Minute, runSmallUploads},
	{"commits", "4 KiB PUTs by 32 writers over 100 tenants vs over 1 tenant, PUT/s and fsyncs/PUT (this disk, slow disk)", 3 * time.Minute, runCommits},
	{"auth", "small authenticated GET vs the same handler work with auth off", 2 * time.Minute, runAuth},
	{"small-get", "authenticated GET and HEAD of a 1 KiB file: syncd's whole stack vs a minimal http.ServeFile server", 2 * time.Minute, runSmallGet},
	{"fanout", "1 tenant × 2,000 subscribers, ~200-byte events: syncd vs minimal gorilla hub and Centrifugo", 3 * time.Minute, runFanout},
	{"hub", "the /ws hub alone (events injected after commit, no store), 1 tenant × 2,000 subscribers: syncspace hub vs minimal gorilla hub", 2 * time.Minute, runHubAlone},
	{"tenants", "100 tenants × 50 subscribers vs 1 tenant × 50 subscribers, delivered events/s", 2 * time.Minute, runTenants},
	{"rss", "server RSS per idle subscribed connection at 10,000 connections", 3 * time.Minute, runRSS},
	{"propagation", "1 KiB change A→B, p50/p99 over 200 changes: syncspace clients vs Syncthing", 7 * time.Minute, runPropagation},
	{"initial-sync", "10,000 × 4 KiB into an empty folder: realtime-sync-client --once vs rsync daemon", 3 * time.Minute, runInitialSync},
	{"delta", "256 MiB file, 1-byte change and 100-byte insertion, carried up and down: bytes on the wire and time vs rsync daemon", 4 * time.Minute, runDelta},
	{"restart", "syncd child process: start to /readyz 200 with 10⁴ and 10⁵ small files in a tenant, placed directly, then indexed", 8 * time.Minute, runRestart},
	{"growth", "opt-in: one tenant of 10⁴, 10⁵, 10⁶ small files: start, listing, changes, catch-up, the client's scan and catch-up per file, RSS per 10⁶ files", 120 * time.Minute, runGrowth},
	// opt-in (see optIn): run only when named; `--only cluster` names them all
	{"cluster-events", "events/s: single-node SQLite vs 1, 2, 3 cluster nodes (1 hot tenant, 64 tenants), beside PostgreSQL's commit rate alone", 12 * time.Minute, runClusterEvents},
	{"cluster-propagation", "cross-node propagation p50/p99 at ~1,000 events/s: Redis vs LISTEN/NOTIFY", 6 * time.Minute, runClusterPropagation},
	{"cluster-blobs", "cluster uploads (64 MiB, and 4 KiB files) on S3 vs local disk", 6 * time.Minute, runClusterBlobs},
	{"cluster-kill", "kill -9 of one of 3 nodes under load: time until its clients resumed and have every seq", 4 * time.Minute, runClusterKill},
}

// optInNames names the scenarios besides the cluster ones that run only when --only
// names them (heavy: they need far more than the few minutes of the others).
var optInNames = map[string]bool{"growth": true}

// runner is the state shared by the scenarios of one run.
type runner struct {
	opts    Options
	log     *slog.Logger
	work    string
	cache   string
	inst    *installer
	scratch int
}

// sizes returns full when not quick, else quick.
func (r *runner) size(full, quick int) int {
	if r.opts.Quick {
		return quick
	}
	return full
}

// dur returns full when not quick, else quick.
func (r *runner) dur(full, quick time.Duration) time.Duration {
	if r.opts.Quick {
		return quick
	}
	return full
}

// dir returns a new empty directory under the work dir.
func (r *runner) dir(name string) (string, error) {
	r.scratch++
	d := filepath.Join(r.work, fmt.Sprintf("%02d-%s", r.scratch, name))
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", err
	}
	return d, nil
}

// Run runs the selected scenarios one after the other and returns their rows. It
// fails only when the options are wrong (an unknown scenario name) or the work dir
// cannot be made; a scenario that fails reports "error: …" rows instead.
func Run(ctx context.Context, o Options) ([]Result, error) {
	sel, err := selectScenarios(o.Only)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	work := o.WorkDir
	if work == "" {
		work, err = os.MkdirTemp("", "syncbench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	cache := o.CacheDir
	if cache == "" {
		if c, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(c, "syncbench")
		} else {
			cache = filepath.Join(work, "cache")
		}
	}
	raiseFileLimit(log)
	r := &runner{opts: o, log: log, work: work, cache: cache}
	r.inst = newInstaller(cache, !o.NoInstall, log)

	var out []Result
	for _, s := range sel {
		if ctx.Err() != nil {
			out = append(out, Result{Scenario: s.name, Verdict: "skipped: interrupted"})
			continue
		}
		timeout := s.timeout
		if o.Quick {
			timeout = max(timeout/3, time.Minute)
		}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		log.Info("scenario start", "name", s.name, "about", s.about, "timeout", timeout)
		t0 := time.Now()
		stop := r.startProfile(s.name)
		rows := safeRun(sctx, r, s)
		stop()
		if sctx.Err() == context.DeadlineExceeded {
			for i := range rows {
				if rows[i].Verdict == "" || strings.HasPrefix(rows[i].Verdict, "error") {
					rows[i].Verdict = fmt.Sprintf("error: timed out after %s", timeout)
				}
			}
		}
		cancel()
		log.Info("scenario done", "name", s.name, "took", time.Since(t0).Round(time.Millisecond))
		out = append(out, rows...)
	}
	return out, nil
}

// safeRun runs one scenario, turning a panic into an error row.
func safeRun(ctx context.Context, r *runner, s scenario) (rows []Result) {
	defer func() {
		if p := recover(); p != nil {
			rows = append(rows, Result{Scenario: s.name, Verdict: fmt.Sprintf("error: panic: %v", p)})
		}
	}()
	if why := platformSkip(s.name); why != "" {
		return []Result{{Scenario: s.name, Verdict: "skipped: " + why}}
	}
	rows = s.run(ctx, r)
	if len(rows) == 0 {
		rows = []Result{{Scenario: s.name, Verdict: "error: no result"}}
	}
	return rows
}

func (r *runner) startProfile(name string) func() {
	if r.opts.CPUProfileDir == "" {
		return func() {}
	}
	if err := os.MkdirAll(r.opts.CPUProfileDir, 0o755); err != nil {
		r.log.Warn("cpu profile", "err", err)
		return func() {}
	}
	f, err := os.Create(filepath.Join(r.opts.CPUProfileDir, name+".pprof"))
	if err != nil {
		r.log.Warn("cpu profile", "err", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		r.log.Warn("cpu profile", "err", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// selectScenarios returns the scenarios named in only (all but the opt-in ones when
// empty), in suite order. "cluster" names every cluster-* scenario.
func selectScenarios(only []string) ([]scenario, error) {
	if len(only) == 0 {
		var out []scenario
		for _, s := range allScenarios {
			if !optIn(s.name) {
				out = append(out, s)
			}
		}
		return out, nil
	}
	want := map[string]bool{}
	for _, n := range only {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		found := false
		for _, s := range allScenarios {
			if s.name == n || n+"-" == clusterPrefix && strings.HasPrefix(s.name, clusterPrefix) {
				found = true
				want[s.name] = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", n, strings.Join(Scenarios(), ", "))
		}
	}
	if len(want) == 0 {
		return nil, errors.New("--only names no scenario")
	}
	var out []scenario
	for _, s := range allScenarios {
		if want[s.name] {
			out = append(out, s)
		}
	}
	return out, nil
}

// usage is syncbench's -h text.
const usage = `usage: syncbench [--only NAME[,NAME...]] [--quick] [--json] [--work DIR]
                 [--cache DIR] [--no-install] [--cpuprofile DIR] [--log-level LEVEL]

Measures syncspace against real peers on this machine (loopback only) and prints one
table: scenario, syncspace, peer, ratio (syncspace / peer), target, verdict.
Missing peers are installed when possible (apt-get as root; go install for Centrifugo),
else their rows say "skipped: <reason>".

Scenarios: %s
(cluster-* run only when named: --only cluster runs them all; they need PostgreSQL,
and Redis, S3 and nginx for some rows, from the SYNCSPACE_TEST_* variables)

flags:
`

// Main is syncbench's main: it parses args, runs the suite and prints the table (or
// JSON with --json) on stdout; progress goes to stderr. It returns the exit code: 0
// when the run completed (whatever the verdicts), 1 on a failure to run, 2 on bad usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("syncbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	only := fs.String("only", "", "run only these scenarios (comma-separated `NAMES`)")
	quick := fs.Bool("quick", false, "small sizes: a smoke test, figures not meaningful")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	work := fs.String("work", "", "work `DIR` (default: a temporary directory, removed after)")
	cache := fs.String("cache", "", "cache `DIR` for installed peers (default: user cache dir/syncbench)")
	noInstall := fs.Bool("no-install", false, "never install missing peers")
	cpuprof := fs.String("cpuprofile", "", "write one CPU profile per scenario into `DIR`")
	level := fs.String("log-level", "info", "progress log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, usage, strings.Join(Scenarios(), ", "))
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return ExitOK
		}
		fmt.Fprintf(stderr, "syncbench: %v\nrun 'syncbench -h' for usage\n", err)
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "syncbench: unexpected argument %q\nrun 'syncbench -h' for usage\n", fs.Arg(0))
		return ExitUsage
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "syncbench: --log-level: %v\n", err)
		return ExitUsage
	}
	var names []string
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	if _, err := selectScenarios(names); err != nil {
		fmt.Fprintf(stderr, "syncbench: --only: %v\n", err)
		return ExitUsage
	}
	o := Options{
		Only: names, Quick: *quick, WorkDir: *work, CacheDir: *cache, NoInstall: *noInstall,
		CPUProfileDir: *cpuprof,
		Logger:        slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})),
	}
	fsyncDir := o.WorkDir
	if fsyncDir == "" {
		fsyncDir = os.TempDir()
	} else if err := os.MkdirAll(fsyncDir, 0o755); err != nil {
		fmt.Fprintf(stderr, "syncbench: %v\n", err)
		return ExitFailure
	}
	fsyncLat, err := FsyncLatency(fsyncDir)
	if err != nil {
		o.Logger.Warn("fsync probe failed", "err", err)
	}
	started := time.Now()
	res, err := Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "syncbench: %v\n", err)
		return ExitFailure
	}
	if *asJSON {
		rep := Report{Started: started.UTC(), Duration: time.Since(started).Round(time.Second).String(),
			Quick: *quick, Machine: DescribeMachine(), FsyncMillis: ms(fsyncLat), Results: res}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "syncbench: %v\n", err)
			return ExitFailure
		}
		return ExitOK
	}
	WriteTable(stdout, res)
	fmt.Fprintf(stdout, "\n%s; 4 KiB write+fsync median %.2f ms; took %s%s\n", DescribeMachine(), ms(fsyncLat), time.Since(started).Round(time.Second),
		map[bool]string{true: " (--quick: sizes reduced, figures not meaningful)", false: ""}[*quick])
	return ExitOK
}

// WriteTable prints rows as an aligned text table (Markdown-compatible).
func WriteTable(w io.Writer, rows []Result) {
	header := []string{"scenario", "syncspace", "peer", "ratio", "target", "verdict"}
	cells := [][]string{header}
	for _, r := range rows {
		cells = append(cells, r.cells())
	}
	widths := make([]int, len(header))
	for _, row := range cells {
		for i, c := range row {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	line := func(row []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range row {
			b.WriteString(" ")
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-len([]rune(c))))
			b.WriteString(" |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(cells[0])
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", widths[i])
	}
	line(sep)
	for _, row := range cells[1:] {
		line(row)
	}
	var notes []string
	for _, r := range rows {
		if r.Notes != "" {
			notes = append(notes, fmt.Sprintf("- %s (%s): %s", r.Scenario, r.Metric, r.Notes))
		}
	}
	sort.Stable(sort.StringSlice(notes))
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		seen := map[string]bool{}
		for _, n := range notes {
			if !seen[n] {
				seen[n] = true
				fmt.Fprintln(w, n)
			}
		}
	}
}

// cells formats a row for the table.
func (r Result) cells() []string {
	scen := r.Scenario
	if r.Metric != "" {
		scen += " (" + r.Metric + ")"
	}
	ss := "-"
	if r.Syncspace != 0 {
		ss = formatValue(r.Syncspace)
	}
	peer := "-"
	if r.Peer != "" {
		peer = r.Peer
		if r.PeerValue != 0 {
			peer += ": " + formatValue(r.PeerValue)
		}
	}
	ratio := "-"
	if r.Ratio != 0 {
		ratio = fmt.Sprintf("%.2f×", r.Ratio)
		if r.Ratio < 0.01 {
			ratio = fmt.Sprintf("%.4f×", r.Ratio)
		}
	}
	target := r.Target
	if target == "" {
		target = "-"
	}
	return []string{scen, ss, peer, ratio, target, r.Verdict}
}

// formatValue prints a figure with 3 significant digits (no exponent).
func formatValue(v float64) string {
	switch a := abs(v); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
