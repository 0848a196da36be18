package daemon

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
	"github.com/syncspace/syncspace/config"
)

// TestEmbeddedDefaultWebHint: the first start prints the web app's address and a
// syncctl command that makes a working sign-in link, never a token; the page is served.
func TestEmbeddedDefaultWebHint(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	getenv := envFunc(map[string]string{"SYNCD_LISTEN": "127.0.0.1:0", "SYNCD_LOG_LEVEL": "warn"})
	var out, logs syncBuffer
	d, err := start(context.Background(), nil, &out, &logs, getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	}()
	web := "http://" + d.Addr()
	text := out.String()
	if !strings.Contains(text, "open the web app at "+web+"/") {
		t.Fatalf("stdout lacks the web address:\n%s", text)
	}
	var cmdLine string
	for _, l := range strings.Split(text, "\n") {
		if s := strings.TrimSpace(l); strings.HasPrefix(s, "syncctl ") {
			cmdLine = s
		}
	}
	if !strings.Contains(cmdLine, " --link") || !strings.Contains(cmdLine, "--public-url "+web) {
		t.Fatalf("no syncctl --link command in:\n%s", text)
	}
	tok, _ := os.ReadFile(filepath.Join("syncd-data", "default.token"))
	if len(bytes.TrimSpace(tok)) == 0 || strings.Contains(text, strings.TrimSpace(string(tok))) {
		t.Fatalf("token file empty or token printed")
	}
	// Run the printed command as a user would.
	var lo, le bytes.Buffer
	if code := ctl.Run(context.Background(), strings.Fields(cmdLine)[1:], &lo, &le); code != 0 {
		t.Fatalf("%s: exit %d: %s", cmdLine, code, le.String())
	}
	link := strings.TrimSpace(lo.String())
	token, ok := strings.CutPrefix(link, web+"/#token=")
	if !ok {
		t.Fatalf("link %q", link)
	}
	req, _ := http.NewRequest("GET", web+"/api/usage", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("link token: %d", resp.StatusCode)
	}
	if status, csp := get(t, web+"/"); status != 200 || !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("GET /: %d, CSP %q", status, csp)
	}
	// A same-origin WebSocket upgrade is allowed with allowed_origins empty (the
	// default); another origin is not.
	for origin, want := range map[string]int{web: 101, "http://evil.example": 403} {
		c, resp, err := websocket.DefaultDialer.Dial("ws://"+d.Addr()+"/ws", http.Header{"Origin": {origin}})
		if c != nil {
			c.Close()
		}
		if resp == nil || resp.StatusCode != want {
			t.Errorf("origin %s: %v %v, want %d", origin, resp, err, want)
		}
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Content-Security-Policy")
}

// TestWebDisabled: "web":{"enabled":false} leaves "/" 404; the API still answers.
func TestWebDisabled(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "syncd.json")
	os.WriteFile(cfg, []byte(`{"listen":"127.0.0.1:0","data_dir":"`+filepath.Join(dir, "data")+`","log":{"level":"error"},"web":{"enabled":false}}`), 0o600)
	d, err := Start(context.Background(), []string{"-config", cfg}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	for p, want := range map[string]int{"/": 404, "/index.html": 404, "/healthz": 200} {
		if status, _ := get(t, "http://"+d.Addr()+p); status != want {
			t.Errorf("%s: %d, want %d", p, status, want)
		}
	}
}

// TestPrintWebHint: the printed syncctl command names --public-url exactly when the
// address differs from what syncctl derives from the embedded default.
func TestPrintWebHint(t *testing.T) {
	for _, tc := range []struct {
		listen, addr string
		flag         bool
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080", false},
		{"127.0.0.1:18089", "127.0.0.1:18089", true},
		{"127.0.0.1:0", "127.0.0.1:40123", true},
	} {
		cfg := config.Default()
		cfg.Listen = tc.listen
		var b bytes.Buffer
		printWebHint(&b, cfg, tc.addr, false, CtlBinary)
		if got := strings.Contains(b.String(), "--public-url http://"+tc.addr); got != tc.flag || !strings.Contains(b.String(), "http://"+tc.addr+"/") {
			t.Errorf("%s: %q", tc.addr, b.String())
		}
	}
}

// TestWebHintQuotesForTheShell: the web hint's syncctl command works pasted into a
// POSIX shell when the data dir holds a space or a quote (SYNCD_DATA_DIR="./my dir").
func TestWebHintQuotesForTheShell(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX shell test")
	}
	for _, dataDir := range []string{"./my dir/data", "/srv/it's here", "./syncd-data"} {
		cfg := config.Default()
		cfg.DataDir = dataDir
		var b bytes.Buffer
		printWebHint(&b, cfg, "127.0.0.1:18089", false, CtlBinary)
		var cmdLine string
		for _, l := range strings.Split(b.String(), "\n") {
			if s := strings.TrimSpace(l); strings.HasPrefix(s, "syncctl ") {
				cmdLine = s
			}
		}
		out, err := exec.Command("sh", "-c", `f() { shift; printf '%s\n' "$@"; }; f `+cmdLine).Output()
		if err != nil {
			t.Fatalf("%q: %v", cmdLine, err)
		}
		args := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if len(args) < 2 || args[0] != "--data" || args[1] != dataDir {
			t.Errorf("%q: the shell reads %q, want --data %q", cmdLine, args, dataDir)
		}
	}
}
