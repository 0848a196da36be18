package clientapp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/fsys"
)

// Files of the status state, in DIR/.syncspace (the engine's state dir, never synced).
const (
	stateDirName   = ".syncspace"
	statusFileName = "status.json"
	statusVersion  = 1
)

// Status timing: at most one write a second (a change of mode is written at once);
// a token expiring within tokenWarnWithin is a WARN at start and once a day.
const (
	statusEvery     = time.Second
	tokenWarnWithin = 72 * time.Hour
	tokenWarnEvery  = 24 * time.Hour
)

// statusFile is DIR/.syncspace/status.json, written by the running client and read by
// `realtime-sync-client status`. Times are RFC 3339 UTC; null means never or unknown.
type statusFile struct {
	Version   int       `json:"version"`
	Running   bool      `json:"running"`
	PID       int       `json:"pid"`
	UpdatedAt time.Time `json:"updated_at"`
	Dir       string    `json:"dir"`
	Server    string    `json:"server"`
	Tenant    string    `json:"tenant"`
	Subject   string    `json:"subject"`
	ClientID  string    `json:"client_id"`
	Realtime  bool      `json:"realtime"`
	Interval  string    `json:"interval"`
	// Mode is live, polling or offline; Reason says why for the last two.
	Mode             string     `json:"mode"`
	Reason           string     `json:"reason,omitempty"`
	ModeSince        time.Time  `json:"mode_since"`
	LastSync         *time.Time `json:"last_sync"`
	Epoch            string     `json:"epoch"`
	Seq              int64      `json:"seq"`
	PendingUploads   int        `json:"pending_uploads"`
	PendingDownloads int        `json:"pending_downloads"`
	ConflictCopies   int64      `json:"conflict_copies"`
	Refused          int        `json:"refused"`
	LastError        string     `json:"last_error,omitempty"`
	TokenExpires     *time.Time `json:"token_expires"`
}

// sameState reports whether two snapshots differ only in their write time.
func sameState(a, b statusFile) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// tokenInfo reads the tenant, subject and expiry of a JWT without verifying it (the
// client only shows them; the server verifies). Unknown parts stay zero.
func tokenInfo(tok string) (tenant, subject string, exp time.Time) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 8<<10 {
		return "", "", time.Time{}
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", "", time.Time{}
	}
	var c struct {
		Tenant  string   `json:"tenant"`
		Subject string   `json:"sub"`
		Exp     *float64 `json:"exp"`
	}
	if json.Unmarshal(b, &c) != nil {
		return "", "", time.Time{}
	}
	if c.Exp != nil && *c.Exp > 0 && *c.Exp < 1e11 {
		exp = time.Unix(int64(*c.Exp), 0).UTC()
	}
	return c.Tenant, c.Subject, exp
}

// writeStatusFile writes the status atomically: temp file in the state dir, fsync,
// rename, fsync of the dir. A missing state dir is an error (never re-created here: a
// vanished folder is the engine's to report).
func writeStatusFile(stateDir string, s statusFile) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return fsys.WriteFileAtomic(filepath.Join(stateDir, statusFileName), append(b, '\n'), 0o600)
}

// readStatusFile reads DIR/.syncspace/status.json.
func readStatusFile(dir string) (statusFile, error) {
	var s statusFile
	b, err := os.ReadFile(filepath.Join(dir, stateDirName, statusFileName))
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s is damaged: %w", filepath.Join(dir, stateDirName, statusFileName), err)
	}
	return s, nil
}

// statusWriter keeps DIR/.syncspace/status.json up to date while the client runs and
// warns about a token that expires soon.
type statusWriter struct {
	eng      *engine.Engine
	stateDir string
	log      *slog.Logger
	now      func() time.Time

	mu        sync.Mutex
	base      statusFile // the fields that do not come from the engine
	conflicts int64      // conflict copies counted by earlier runs
	lastSync  *time.Time // the last sync of earlier runs
	last      statusFile // what was written last
	lastAt    time.Time
	warnedAt  time.Time // last token-expiry warning
}

func newStatusWriter(eng *engine.Engine, dir string, base statusFile, log *slog.Logger) *statusWriter {
	w := &statusWriter{eng: eng, stateDir: filepath.Join(dir, stateDirName), base: base, log: log, now: time.Now}
	if old, err := readStatusFile(dir); err == nil {
		w.conflicts = max(old.ConflictCopies, 0)
		w.lastSync = old.LastSync
	}
	return w
}

// setToken records a new token's tenant, subject and expiry (the token itself is
// never kept) and warns at once if it expires soon.
func (w *statusWriter) setToken(tok string) {
	tenant, subject, exp := tokenInfo(tok)
	w.mu.Lock()
	w.base.Tenant, w.base.Subject = tenant, subject
	w.base.TokenExpires = nil
	if !exp.IsZero() {
		w.base.TokenExpires = &exp
	}
	w.warnedAt = time.Time{}
	w.mu.Unlock()
	w.warnToken()
}

// warnToken logs a WARN when the token expires within 3 days, at most once a day.
func (w *statusWriter) warnToken() {
	now := w.now()
	w.mu.Lock()
	exp := w.base.TokenExpires
	due := exp != nil && exp.Sub(now) < tokenWarnWithin && (w.warnedAt.IsZero() || now.Sub(w.warnedAt) >= tokenWarnEvery)
	if due {
		w.warnedAt = now
	}
	w.mu.Unlock()
	if !due {
		return
	}
	if left := exp.Sub(now); left <= 0 {
		w.log.Warn("the token has expired: ask for a new one (the token file is re-read when it changes)", "expired_at", exp.Format(time.RFC3339))
	} else {
		w.log.Warn("the token expires soon: ask for a new one (the token file is re-read when it changes)", "expires_at", exp.Format(time.RFC3339), "in", left.Round(time.Minute).String())
	}
}

// snapshot is the status to write now.
func (w *statusWriter) snapshot() statusFile {
	st := w.eng.Status()
	w.mu.Lock()
	s := w.base
	conflicts := w.conflicts
	s.LastSync = w.lastSync
	w.mu.Unlock()
	s.Version, s.Running, s.PID = statusVersion, true, os.Getpid()
	s.ClientID = w.eng.ClientID()
	s.Mode, s.Reason, s.ModeSince = string(st.Mode), st.Reason, st.Since.UTC()
	if !st.LastSync.IsZero() {
		t := st.LastSync.UTC()
		s.LastSync = &t
	}
	s.Epoch, s.Seq = st.Epoch, st.Seq
	s.PendingUploads, s.PendingDownloads = st.PendingUploads, st.PendingDownloads
	s.ConflictCopies = conflicts + st.ConflictCopies
	s.Refused = st.Refused
	s.LastError = st.LastError
	return s
}

// write stores s if it differs from what was written last (or force).
func (w *statusWriter) write(s statusFile, force bool) {
	w.mu.Lock()
	if !force && sameState(s, w.last) {
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	s.UpdatedAt = w.now().UTC()
	if err := writeStatusFile(w.stateDir, s); err != nil {
		w.log.Debug("cannot write the status file", "err", err)
		return
	}
	w.mu.Lock()
	w.last, w.lastAt = s, s.UpdatedAt
	w.mu.Unlock()
}

// run writes the status until ctx ends: a change of mode at once, anything else at
// most once a second; the token expiry is checked every minute.
func (w *statusWriter) run(ctx context.Context) {
	w.write(w.snapshot(), true)
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	tokenCheck := w.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.eng.StatusChanged():
			w.write(w.snapshot(), false)
		case <-t.C:
			w.write(w.snapshot(), false)
			if now := w.now(); now.Sub(tokenCheck) >= time.Minute {
				tokenCheck = now
				w.warnToken()
			}
		}
	}
}

// stopped records that the client has stopped (why: "" for a normal stop).
func (w *statusWriter) stopped(why string) {
	s := w.snapshot()
	s.Running = false
	s.Mode, s.ModeSince = string(engine.ModeOffline), w.now().UTC()
	s.Reason = "the client is not running (stopped)"
	if why != "" {
		s.Reason = "the client is not running (stopped: " + why + ")"
	}
	w.write(s, true)
}

const statusUsage = `Usage: realtime-sync-client status --local-path DIR [--json]

Says what the client syncing DIR is doing, from the state it keeps in DIR/.syncspace/
(it need not be reachable): server, tenant, mode (live, polling and why, offline since
when), last successful sync, change-log position, pending transfers, conflict copies,
refused names and token expiry. Exit 0 when a state was found, 1 when DIR has none,
2 on bad usage.
`

// runStatus is `realtime-sync-client status`.
func runStatus(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("realtime-sync-client status", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	var dir string
	var asJSON bool
	flags.StringVar(&dir, "local-path", "", "")
	flags.BoolVar(&asJSON, "json", false, "")
	// The other flags of the client, every one of them, are accepted and ignored, so
	// that "status" can be put in front of the usual command line.
	newFlagSet(&config{}).VisitAll(func(f *flag.Flag) {
		if f.Name != "local-path" {
			flags.Var(f.Value, f.Name, "")
		}
	})
	if err := flags.Parse(args); err != nil {
		fmt.Fprintf(stderr, "realtime-sync-client status: %v (run 'realtime-sync-client status -h' for usage)\n", err)
		return ExitUsage
	}
	switch {
	case flags.NArg() > 0:
		fmt.Fprintf(stderr, "realtime-sync-client status: unexpected argument %q\n", flags.Arg(0))
		return ExitUsage
	case dir == "":
		fmt.Fprintln(stderr, "realtime-sync-client status: --local-path is required")
		return ExitUsage
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		fmt.Fprintf(stderr, "realtime-sync-client status: %v\n", err)
		return ExitUsage
	}
	s, err := readStatusFile(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(stderr, "realtime-sync-client status: no client state in %s (no client has synced this folder yet)\n", filepath.Join(abs, stateDirName))
		} else {
			fmt.Fprintf(stderr, "realtime-sync-client status: %v\n", err)
		}
		return ExitFailure
	}
	if running, known := clientRunning(filepath.Join(abs, stateDirName)); known && !running && s.Running {
		// The client ended without saying so (killed, crashed).
		last := s.Mode
		s.Running = false
		s.Mode, s.ModeSince = string(engine.ModeOffline), s.UpdatedAt
		s.Reason = "the client is not running (it ended without recording it; its last mode was " + last + ")"
	}
	if asJSON {
		b, _ := json.MarshalIndent(s, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return ExitOK
	}
	printStatus(stdout, s, time.Now())
	return ExitOK
}

// ago says how long ago t was, roughly.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in " + roundDur(-d)
	case d < time.Second:
		return "just now"
	}
	return roundDur(d) + " ago"
}

func roundDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	case d < 72*time.Hour:
		return d.Round(time.Hour).String()
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func stamp(t time.Time, now time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC") + " (" + ago(t, now) + ")"
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// printStatus writes the status for people.
func printStatus(w io.Writer, s statusFile, now time.Time) {
	row := func(k, v string) { fmt.Fprintf(w, "%-11s %s\n", k+":", v) }
	row("folder", s.Dir)
	row("server", s.Server)
	who := s.Tenant
	if s.Subject != "" {
		who += " (subject " + s.Subject + ")"
	}
	row("tenant", who)
	if s.Running {
		row("client", fmt.Sprintf("running (pid %d), client id %s", s.PID, s.ClientID))
	} else {
		row("client", "not running, client id "+s.ClientID)
	}
	switch s.Mode {
	case string(engine.ModeLive):
		row("mode", "live over WebSocket since "+stamp(s.ModeSince, now))
	case string(engine.ModePolling):
		row("mode", fmt.Sprintf("polling every %s since %s: %s", s.Interval, stamp(s.ModeSince, now), s.Reason))
	default:
		row("mode", fmt.Sprintf("offline since %s: %s", stamp(s.ModeSince, now), s.Reason))
	}
	if s.LastSync != nil {
		row("last sync", stamp(*s.LastSync, now))
	} else {
		row("last sync", "never")
	}
	if s.LastError != "" {
		row("last error", s.LastError)
	}
	epoch := s.Epoch
	if epoch == "" {
		epoch = "(none yet)"
	}
	row("position", fmt.Sprintf("seq %d, epoch %s", s.Seq, epoch))
	row("pending", plural(int64(s.PendingUploads), "upload", "uploads")+", "+plural(int64(s.PendingDownloads), "download", "downloads"))
	row("conflicts", plural(s.ConflictCopies, "conflict copy made", "conflict copies made"))
	row("refused", plural(int64(s.Refused), "local name kept but not synced (path rules)", "local names kept but not synced (path rules)"))
	switch {
	case s.TokenExpires == nil:
		row("token", "expiry unknown")
	case s.TokenExpires.Before(now):
		row("token", "EXPIRED at "+stamp(*s.TokenExpires, now))
	case s.TokenExpires.Sub(now) < tokenWarnWithin:
		row("token", "expires soon: "+stamp(*s.TokenExpires, now))
	default:
		row("token", "expires "+stamp(*s.TokenExpires, now))
	}
	row("updated", stamp(s.UpdatedAt, now))
}
