package clientapp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// status runs `realtime-sync-client status` on dir and returns its exit code and
// output.
func status(t *testing.T, dir string, extra ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuf
	code := Run(context.Background(), append([]string{"status", "--local-path", dir}, extra...), &out, &errb)
	return code, out.String(), errb.String()
}

func statusJSON(t *testing.T, dir string) statusFile {
	t.Helper()
	code, out, errs := status(t, dir, "--json")
	if code != 0 {
		t.Fatalf("status --json: exit %d: %s", code, errs)
	}
	var s statusFile
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	// SPEC §1: at least mode, server, tenant and last_sync.
	var raw map[string]any
	json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"mode", "server", "tenant", "last_sync"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("status --json lacks %q:\n%s", k, out)
		}
	}
	return s
}

func jsonModeIs(t *testing.T, dir, mode string) func() bool {
	return func() bool {
		code, out, _ := status(t, dir, "--json")
		var s statusFile
		return code == 0 && json.Unmarshal([]byte(out), &s) == nil && s.Mode == mode
	}
}

// Issue 13 item 4: status says live, polling (and why) and offline (since when), in
// text and JSON, from the state the running client keeps; and "not running" after it
// stopped.
func TestStatusLivePollingOffline(t *testing.T) {
	srv := startServer(t)
	px := startProxy(t, srv.URL)
	px.refuseWS.Store(true)
	tok := writeToken(t, srv.Token)
	live, polled := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(live, "a:b.txt"), "a name the server refuses")
	cl := startClient(t, "L", srv.URL, tok, live, "--realtime")
	cp := startClient(t, "P", px.URL, tok, polled, "--realtime", "--interval", "500ms")

	// Live.
	eventually(t, waitLong, "L live", jsonModeIs(t, live, "live"))
	s := statusJSON(t, live)
	if !s.Running || s.Server != srv.URL || s.Tenant != "t1" || s.Subject != "alice" || s.LastSync == nil ||
		s.Epoch == "" || s.TokenExpires == nil || s.Refused != 1 || s.Reason != "" {
		t.Fatalf("live status: %+v", s)
	}
	if until := time.Until(*s.TokenExpires); until < 50*time.Minute || until > 61*time.Minute {
		t.Fatalf("token expiry %v", s.TokenExpires)
	}
	code, text, _ := status(t, live)
	for _, want := range []string{
		"server:     " + srv.URL, "tenant:     t1 (subject alice)", "mode:       live over WebSocket since",
		"last sync:", "position:   seq ", "pending:    0 uploads, 0 downloads", "conflicts:  0 conflict copies made",
		"refused:    1 local name kept but not synced", "token:      expires", "client:     running",
	} {
		if code != 0 || !strings.Contains(text, want) {
			t.Fatalf("status text lacks %q (exit %d):\n%s", want, code, text)
		}
	}

	// Polling: the proxy refuses the WebSocket; the client says so once at WARN.
	eventually(t, waitLong, "P polling with the cause", func() bool {
		s := statusJSON(t, polled)
		return s.Mode == "polling" && strings.Contains(s.Reason, "502") && s.LastSync != nil
	})
	writeFile(t, filepath.Join(live, "seq.txt"), "moves the log")
	eventually(t, waitLong, "P polls the change", fileIs(filepath.Join(polled, "seq.txt"), "moves the log"))
	eventually(t, waitLong, "P's position follows", func() bool { return statusJSON(t, polled).Seq >= 1 })
	code, text, _ = status(t, polled)
	if code != 0 || !strings.Contains(text, "mode:       polling every 500ms since") || !strings.Contains(text, "502") {
		t.Fatalf("polling status text (exit %d):\n%s", code, text)
	}
	eventually(t, waitLong, "a second failed attempt", func() bool { return strings.Contains(cp.logs.String(), "live connection attempt failed") })
	if n := strings.Count(cp.logs.String(), "level=WARN msg=\"live connection down"); n != 1 {
		t.Fatalf("fallback to polling logged %d times at WARN, want once:\n%s", n, cp.logs.String())
	}

	// Offline: the server stops.
	stoppedAt := time.Now()
	srv.Stop()
	for _, d := range []string{live, polled} {
		eventually(t, waitLong, "offline", jsonModeIs(t, d, "offline"))
		s := statusJSON(t, d)
		if !s.Running || s.ModeSince.Before(stoppedAt.Add(-time.Second)) || !(strings.Contains(s.Reason, "refused") || strings.Contains(s.Reason, "502")) {
			t.Fatalf("offline status of %s: %+v", d, s)
		}
		code, text, _ := status(t, d)
		if code != 0 || !strings.Contains(text, "mode:       offline since") {
			t.Fatalf("offline status text (exit %d):\n%s", code, text)
		}
	}
	if n := strings.Count(cl.logs.String(), "level=WARN msg=\"server unreachable"); n != 1 {
		t.Fatalf("offline logged %d times at WARN, want once:\n%s", n, cl.logs.String())
	}

	// Stopped: not running, still exit 0 (a state was found).
	cl.stop()
	s = statusJSON(t, live)
	if s.Running || s.Mode != "offline" || !strings.Contains(s.Reason, "not running") {
		t.Fatalf("stopped client: %+v", s)
	}
	code, text, _ = status(t, live)
	if code != 0 || !strings.Contains(text, "client:     not running") {
		t.Fatalf("stopped client text (exit %d):\n%s", code, text)
	}
}

// A client that ended without recording it (killed) is seen through its lock.
func TestStatusSeesAKilledClient(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	dir := t.TempDir()
	c := startClient(t, "A", srv.URL, tok, dir, "--realtime")
	eventually(t, waitLong, "live", jsonModeIs(t, dir, "live"))
	saved, err := readStatusFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.stop()
	// Put back the file a killed client would have left: running, live.
	if err := writeStatusFile(filepath.Join(dir, stateDirName), saved); err != nil {
		t.Fatal(err)
	}
	s := statusJSON(t, dir)
	if s.Running || s.Mode != "offline" || !strings.Contains(s.Reason, "last mode was live") {
		t.Fatalf("killed client: %+v", s)
	}
}

func TestTokenInfo(t *testing.T) {
	enc := func(payload string) string {
		return "eyJhbGciOiJFZERTQSJ9." + strings.TrimRight(b64(payload), "=") + ".sig"
	}
	cases := []struct {
		name, tok, tenant, sub string
		exp                    int64
	}{
		{"good", enc(`{"tenant":"team","sub":"alice","exp":1800000000}`), "team", "alice", 1800000000},
		// attacks: the client only shows these; garbage must not panic or invent values
		{"no exp", enc(`{"tenant":"team","sub":"a"}`), "team", "a", 0},
		{"huge exp", enc(`{"exp":1e300}`), "", "", 0},
		{"negative exp", enc(`{"exp":-5}`), "", "", 0},
		{"not JSON", enc(`not json`), "", "", 0},
		{"two parts", "a.b", "", "", 0},
		{"bad base64", "a.!!!.c", "", "", 0},
		{"empty", "", "", "", 0},
		{"oversized", "a." + strings.Repeat("A", 9<<10) + ".c", "", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tenant, sub, exp := tokenInfo(c.tok)
			if tenant != c.tenant || sub != c.sub || (c.exp == 0) != exp.IsZero() || (c.exp != 0 && exp.Unix() != c.exp) {
				t.Fatalf("tokenInfo = %q %q %v", tenant, sub, exp)
			}
		})
	}
}

// A token expiring within 3 days is a WARN at start and once a day after.
func TestTokenExpiryWarning(t *testing.T) {
	var logs syncBuf
	w := &statusWriter{log: newTestLogger(&logs), now: time.Now}
	now := time.Now()
	w.now = func() time.Time { return now }
	exp := now.Add(48 * time.Hour).Unix()
	w.setToken("x." + strings.TrimRight(b64(`{"exp":`+itoa(exp)+`}`), "=") + ".y")
	if n := strings.Count(logs.String(), "token expires soon"); n != 1 {
		t.Fatalf("warnings at start: %d\n%s", n, logs.String())
	}
	now = now.Add(time.Hour)
	w.warnToken()
	if n := strings.Count(logs.String(), "token expires soon"); n != 1 {
		t.Fatalf("warned again within a day: %d", n)
	}
	now = now.Add(24 * time.Hour)
	w.warnToken()
	if n := strings.Count(logs.String(), "token expires soon"); n != 2 {
		t.Fatalf("no warning a day later: %d", n)
	}
	// A far expiry is quiet.
	var quiet syncBuf
	w2 := &statusWriter{log: newTestLogger(&quiet), now: time.Now}
	w2.setToken("x." + strings.TrimRight(b64(`{"exp":`+itoa(time.Now().Add(30*24*time.Hour).Unix())+`}`), "=") + ".y")
	if strings.Contains(quiet.String(), "token") {
		t.Fatalf("warned about a far expiry: %s", quiet.String())
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// --once leaves a status too: not running, the last sync, the position.
func TestStatusAfterOnce(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	dir := filepath.Join(t.TempDir(), "fresh")
	mustOnce(t, srv.URL, tok, dir)
	s := statusJSON(t, dir)
	if s.Running || s.Mode != "offline" || s.LastSync == nil || !strings.Contains(s.Reason, "--once done") || s.Server != srv.URL || s.Tenant != "t1" {
		t.Fatalf("status after --once: %+v", s)
	}
	// A token the server refuses: the server answers, the error is recorded.
	other := t.TempDir()
	if code, _ := runOnce(t, srv.URL, writeToken(t, "a.b.c"), other); code != 1 {
		t.Fatalf("--once with a bad token: exit %d", code)
	}
	if s := statusJSON(t, other); !strings.Contains(s.LastError, "unauthenticated") {
		t.Fatalf("status after a refused token: %+v", s)
	}
	if code, text, _ := status(t, other); code != 0 || !strings.Contains(text, "last error: list: unauthenticated") {
		t.Fatalf("status text after a refused token (exit %d):\n%s", code, text)
	}
	// The server gone: --once fails and says why.
	srv.Stop()
	if code, _ := runOnce(t, srv.URL, tok, dir); code != 1 {
		t.Fatalf("--once with the server down: exit %d", code)
	}
	s = statusJSON(t, dir)
	if !strings.Contains(s.Reason, "refused") || s.LastSync == nil {
		t.Fatalf("status after a failed --once: %+v", s)
	}
}

// status put in front of the usual command line takes every flag of the client and
// ignores it (docs/client.md): --cert and --key, added with mutual TLS, were refused
// as undefined (exit 2) until session 26.
func TestStatusTakesEveryClientFlag(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	dir := filepath.Join(t.TempDir(), "fresh")
	mustOnce(t, srv.URL, tok, dir)
	usual := []string{"--server", srv.URL, "--token-file", tok, "--cert", "c.pem", "--key", "k.pem",
		"--ca-file", "ca.pem", "--realtime", "--interval", "1m", "--log-level", "debug"}
	if code, out, errs := status(t, dir, usual...); code != 0 || !strings.Contains(out, "folder:") {
		t.Fatalf("status with the usual command line: exit %d\n%s%s", code, out, errs)
	}
	// Every flag the client parses, with a value where it takes one.
	var all []string
	newFlagSet(&config{}).VisitAll(func(f *flag.Flag) {
		if f.Name == "local-path" {
			return
		}
		all = append(all, "--"+f.Name)
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
			all = append(all, map[bool]string{true: "30s", false: "x"}[f.Name == "interval"])
		}
	})
	if len(all) < 15 {
		t.Fatalf("only %d flags found: %q", len(all), all)
	}
	if code, _, errs := status(t, dir, all...); code != 0 {
		t.Fatalf("status %q: exit %d: %s", all, code, errs)
	}
}

// FuzzTokenInfo: whatever the token file holds, tokenInfo neither panics nor invents
// an expiry outside the JSON number it read.
func FuzzTokenInfo(f *testing.F) {
	f.Add("eyJhbGciOiJFZERTQSJ9." + b64(`{"tenant":"t","sub":"s","exp":1800000000}`) + ".sig")
	f.Add("a.b.c")
	f.Add("..")
	f.Add("x." + b64(`{"exp":1e308}`) + ".y")
	f.Fuzz(func(t *testing.T, tok string) {
		_, _, exp := tokenInfo(tok)
		if !exp.IsZero() && (exp.Unix() <= 0 || exp.Unix() >= 1e11) {
			t.Fatalf("expiry out of range: %v", exp)
		}
	})
}
