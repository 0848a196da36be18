package conformance

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// SPEC §1 syncd + §6: the embedded default's first start (umask 000): data dir, key,
// tenant "default", token file 0600 (write, 30 days), path and client command printed,
// never the token; dirs 0700 and files 0600 whatever the umask; a second start issues
// nothing new and still prints no token.
func TestEmbeddedDefaultBootstrap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDaemon(t, startOpts{umask: 0, dir: dir, env: []string{"SYNCD_LISTEN=127.0.0.1:0"}})
	tokPath := filepath.Join(dir, "syncd-data", "default.token")
	b, err := os.ReadFile(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	if !jwtRE.MatchString(tok) {
		t.Fatalf("default.token holds %q", b)
	}
	// The hint follows the "listening" log line, on another pipe.
	out := waitOutput(t, d.stdout, "bootstrap hint on stdout", "--realtime\n", 20*time.Second)
	if !strings.Contains(out, "syncd-data/default.token") || !strings.Contains(out, "realtime-sync-client") || !strings.Contains(out, "--server http://"+d.addr) {
		t.Errorf("stdout should name the token file and a client command line: %q", out)
	}
	c := jwtClaims(t, tok)
	if c["tenant"] != "default" || c["role"] != "write" || c["aud"] != "syncspace" {
		t.Errorf("default token claims %v", c)
	}
	if ttl := c["exp"].(float64) - c["iat"].(float64); ttl != 30*24*3600 {
		t.Errorf("default token ttl %vs, want 30 days", ttl)
	}
	// It works.
	r := do(t, req{url: d.URL() + "/api/list", token: tok})
	expectStatus(t, r, 200)
	r = do(t, req{method: "PUT", url: d.URL() + "/api/files/dir/a.txt", token: tok, body: []byte("x")})
	expectStatus(t, r, 201)

	checkModes(t, filepath.Join(dir, "syncd-data"))
	for _, sub := range []string{"syncd.db", "keys", "tenants/default/files", "tenants/default/versions", "tenants/default/tmp", "tenants/default/files/dir/a.txt"} {
		if _, err := os.Stat(filepath.Join(dir, "syncd-data", sub)); err != nil {
			t.Errorf("data dir layout: %v", err)
		}
	}
	keys, _ := os.ReadDir(filepath.Join(dir, "syncd-data", "keys"))
	if len(keys) == 0 {
		t.Errorf("no signing key in keys/")
	}

	// Second start: no new token, no token printed.
	if code, err := d.signal(syscall.SIGTERM); err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit %d %v", code, err)
	}
	// syncd has exited: all it wrote is in the buffers.
	if strings.Contains(d.stdout.String(), tok) || strings.Contains(d.stderr.String(), tok) {
		t.Errorf("the token was printed")
	}
	d2 := startDaemon(t, startOpts{umask: 0, dir: dir, env: []string{"SYNCD_LISTEN=127.0.0.1:0"}})
	waitOutput(t, d2.stdout, "second start names the token file", "default.token", 20*time.Second)
	b2, _ := os.ReadFile(tokPath)
	if string(b2) != string(b) {
		t.Errorf("second start rewrote default.token")
	}
	defer func() {
		d2.stop()
		if strings.Contains(d2.stdout.String(), tok) || strings.Contains(d2.stderr.String(), tok) {
			t.Errorf("second start printed the token")
		}
	}()
	mustCtl(t, "--data", filepath.Join(dir, "syncd-data"), "tenant", "list")
	lr := mustCtl(t, "--data", filepath.Join(dir, "syncd-data"), "token", "list", "--tenant", "default", "--json")
	if n := strings.Count(lr.stdout, `"jti"`); n != 1 {
		t.Errorf("tenant default has %d tokens after two starts, want 1", n)
	}
}

// checkModes walks root: directories 0700, files 0600.
func checkModes(t testing.TB, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if de.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// SPEC §1: with a config file there is no bootstrap, but the signing key is created;
// SPEC §6 modes hold for it too (umask 000).
func TestConfigStartNoBootstrap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDaemon(t, startOpts{umask: 0, dir: dir, config: `{"listen":"127.0.0.1:0","data_dir":"data"}`, dataDir: "data"})
	if _, err := os.Stat(filepath.Join(d.dataDir, "default.token")); err == nil {
		t.Errorf("config start wrote default.token")
	}
	r := mustCtl(t, "--data", d.dataDir, "tenant", "list", "--json")
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("config start created tenants: %s", r.stdout)
	}
	if keys, _ := os.ReadDir(filepath.Join(d.dataDir, "keys")); len(keys) == 0 {
		t.Errorf("no signing key created")
	}
	// A tenant created by syncctl while syncd runs gets directories 0700.
	mustCtl(t, "--data", d.dataDir, "tenant", "create", "late")
	tok := strings.TrimSpace(mustCtl(t, "--data", d.dataDir, "token", "issue", "--tenant", "late", "--subject", "s", "--role", "write").stdout)
	eventually(t, time.Second+500*time.Millisecond, "syncd sees a tenant created by syncctl", func() bool {
		return do(t, req{method: "PUT", url: d.URL() + "/api/files/f", token: tok, body: []byte("x")}).status == 201
	})
	checkModes(t, d.dataDir)
	d.stop() // all it wrote is in the buffers then
	if strings.Contains(d.stdout.String(), "token") {
		t.Errorf("config start printed a token hint: %q", d.stdout)
	}
}

// SPEC §6: syncd refuses to start if keys/ or syncd.db is group/other-readable.
func TestRefusesLoosePermissions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDaemon(t, startOpts{umask: -1, dir: dir, config: `{"listen":"127.0.0.1:0","data_dir":"data"}`, dataDir: "data"})
	if code, err := d.signal(syscall.SIGTERM); err != nil || code != 0 {
		t.Fatalf("stop: %d %v", code, err)
	}
	keys, _ := os.ReadDir(filepath.Join(d.dataDir, "keys"))
	if len(keys) == 0 {
		t.Fatal("no key file")
	}
	keyFile := filepath.Join(d.dataDir, "keys", keys[0].Name())
	cases := []struct {
		name string
		path string
		mode fs.FileMode
		good fs.FileMode
	}{
		{"syncd.db group-readable", filepath.Join(d.dataDir, "syncd.db"), 0o640, 0o600},
		{"syncd.db other-readable", filepath.Join(d.dataDir, "syncd.db"), 0o604, 0o600},
		{"keys/ group-readable", filepath.Join(d.dataDir, "keys"), 0o750, 0o700},
		{"keys/ other-readable", filepath.Join(d.dataDir, "keys"), 0o705, 0o700},
		{"key file group-readable", keyFile, 0o640, 0o600},
	}
	for _, c := range cases {
		if err := os.Chmod(c.path, c.mode); err != nil {
			t.Fatal(err)
		}
		r := run(t, dir, nil, bins.syncd, "-config", filepath.Join(dir, "syncd.json"))
		if err := os.Chmod(c.path, c.good); err != nil {
			t.Fatal(err)
		}
		if r.code != 1 {
			t.Errorf("%s: want exit 1, got %v", c.name, r)
			continue
		}
		if strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") != 0 || !strings.HasPrefix(r.stderr, "syncd: ") {
			t.Errorf("%s: want one stderr line, got %q", c.name, r.stderr)
		}
	}
	// With the modes fixed it starts again.
	startDaemon(t, startOpts{umask: -1, dir: dir, config: `{"listen":"127.0.0.1:0","data_dir":"data"}`, dataDir: "data"})
}

// SPEC §5: unknown keys are errors naming the key; every error names the field; plain
// HTTP on a non-loopback address needs tls.mode off written out.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, cfg, want string
	}{
		{"unknown top-level key", `{"listen":"127.0.0.1:0","bogus_key":1}`, "bogus_key"},
		{"unknown nested key", `{"listen":"127.0.0.1:0","limits":{"max_filesize":"1GiB"}}`, "max_filesize"},
		{"unknown tls key", `{"listen":"127.0.0.1:0","tls":{"mode":"off","certfile":"x"}}`, "certfile"},
		{"plain http on non-loopback", `{"listen":"0.0.0.0:0"}`, "tls"},
		{"plain http on a LAN address", `{"listen":"192.0.2.10:8080"}`, "tls"},
		{"bad size", `{"listen":"127.0.0.1:0","limits":{"max_file_size":"huge"}}`, "limits.max_file_size"},
		{"bad duration", `{"listen":"127.0.0.1:0","websocket":{"ping_interval":"often"}}`, "websocket.ping_interval"},
		{"bad retention", `{"listen":"127.0.0.1:0","retention":{"versions":"forever"}}`, "retention.versions"},
		{"bad tls mode", `{"listen":"127.0.0.1:0","tls":{"mode":"maybe"}}`, "tls.mode"},
		{"manual without cert", `{"listen":"127.0.0.1:0","tls":{"mode":"manual"}}`, "tls.cert_file"},
		{"bad log level", `{"listen":"127.0.0.1:0","log":{"level":"loud"}}`, "log.level"},
		{"bad trusted proxy", `{"listen":"127.0.0.1:0","trusted_proxies":["not-a-cidr"]}`, "trusted_proxies"},
		{"wrong type", `{"listen":8080}`, "listen"},
		{"not JSON", `{"listen":`, "config"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "c.json")
			if err := os.WriteFile(p, []byte(c.cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			r := run(t, dir, nil, bins.syncd, "-config", p)
			if r.code != 1 {
				t.Fatalf("want exit 1: %v", r)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr should name %q: %q", c.want, r.stderr)
			}
			if strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") != 0 {
				t.Errorf("stderr not one line: %q", r.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "syncd-data")); err == nil {
				t.Errorf("a refused config created the data dir")
			}
		})
	}
	t.Run("missing config file", func(t *testing.T) {
		r := run(t, t.TempDir(), nil, bins.syncd, "-config", "nope.json")
		if r.code != 1 || !strings.Contains(r.stderr, "nope.json") {
			t.Errorf("%v", r)
		}
	})
}

// SPEC §5 + §3: plain HTTP on a non-loopback address with tls.mode off written out
// starts with a loud warning; the admin API and /metrics are then not on the main
// listener, only on admin_listen.
func TestPlainHTTPNonLoopbackAndAdminListener(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDaemon(t, startOpts{umask: -1, dir: dir, dataDir: "data",
		config: `{"listen":"0.0.0.0:0","admin_listen":"127.0.0.1:0","data_dir":"data","tls":{"mode":"off"}}`})
	if !strings.Contains(strings.ToLower(d.stderr.String()), "plain http") || !strings.Contains(d.stderr.String(), "WARN") {
		t.Errorf("no loud warning about plain HTTP: %s", d.stderr)
	}
	if d.admin == "" {
		t.Fatalf("admin listener address not logged: %s", d.stderr)
	}
	_, port, _ := strings.Cut(d.addr, "]:")
	if port == "" {
		_, port, _ = strings.Cut(d.addr, ":")
	}
	main := "http://127.0.0.1:" + port
	ops := strings.TrimSpace(mustCtl(t, "--data", d.dataDir, "token", "issue", "--ops", "--subject", "o").stdout)
	expectStatus(t, do(t, req{url: main + "/healthz"}), 200)
	for _, p := range []string{"/admin/tenants", "/admin/keys", "/metrics"} {
		if r := do(t, req{url: main + p, token: ops}); r.status != 404 {
			t.Errorf("%s on a non-loopback main listener: %v, want 404", p, r)
		}
		if r := do(t, req{url: "http://" + d.admin + p, token: ops}); r.status != 200 {
			t.Errorf("%s on admin_listen: %v", p, r)
		}
	}
	// The tenant API stays on the main listener only.
	if r := do(t, req{url: "http://" + d.admin + "/api/list", token: ops}); r.status != 404 {
		t.Errorf("/api on admin_listen: %v", r)
	}
}

// SPEC §1: SYNCD_LISTEN, SYNCD_DATA_DIR and SYNCD_LOG_LEVEL override the config file.
func TestEnvOverrides(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	envData := filepath.Join(dir, "env-data")
	// The file alone would be refused (non-loopback, no TLS) and log nothing at info.
	cfg := `{"listen":"192.0.2.10:8080","data_dir":"file-data","log":{"level":"error"}}`
	d := startDaemon(t, startOpts{umask: -1, dir: dir, config: cfg, dataDir: envData,
		env: []string{"SYNCD_LISTEN=127.0.0.1:0", "SYNCD_DATA_DIR=" + envData, "SYNCD_LOG_LEVEL=info"}})
	if _, err := os.Stat(filepath.Join(envData, "syncd.db")); err != nil {
		t.Errorf("SYNCD_DATA_DIR not used: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "file-data")); err == nil {
		t.Errorf("config data_dir used despite SYNCD_DATA_DIR")
	}
	expectStatus(t, do(t, req{url: d.URL() + "/healthz"}), 200)

	// SYNCD_LOG_LEVEL=error silences the info lines a config at debug would print.
	dir2 := t.TempDir()
	p := filepath.Join(dir2, "c.json")
	os.WriteFile(p, []byte(`{"listen":"127.0.0.1:0","data_dir":"d","log":{"level":"debug"}}`), 0o600)
	r := run(t, dir2, []string{"SYNCD_LOG_LEVEL=bogus"}, bins.syncd, "-config", p)
	if r.code != 1 || !strings.Contains(r.stderr, "log.level") {
		t.Errorf("bad SYNCD_LOG_LEVEL: %v", r)
	}
	r = run(t, dir2, []string{"SYNCD_LISTEN=not an address"}, bins.syncd, "-config", p)
	if r.code != 1 || !strings.Contains(r.stderr, "listen") {
		t.Errorf("bad SYNCD_LISTEN: %v", r)
	}
}

// SPEC §5: the seed's route form maps root to data_dir; enable_upload false makes every
// write 403 forbidden while reads work.
func TestSeedRouteFormReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := `{"listen":"127.0.0.1:0","routes":[{"match":[{"matcher":"path","paths":["/api/*","/ws"]}],"handle":[{"handler":"file_sync","root":"./sync-data","enable_upload":false}]}]}`
	d := startDaemon(t, startOpts{umask: -1, dir: dir, config: cfg, dataDir: "sync-data"})
	if _, err := os.Stat(filepath.Join(dir, "sync-data", "syncd.db")); err != nil {
		t.Fatalf("root not used as data_dir: %v", err)
	}
	mustCtl(t, "--data", d.dataDir, "tenant", "create", "ro")
	tok := strings.TrimSpace(mustCtl(t, "--data", d.dataDir, "token", "issue", "--tenant", "ro", "--subject", "w", "--role", "admin").stdout)
	// A file placed on the server's disk is readable.
	if err := os.WriteFile(filepath.Join(d.dataDir, "tenants", "ro", "files", "seeded.txt"), []byte("seed"), 0o600); err != nil {
		t.Fatal(err)
	}
	u := d.URL()
	writes := []req{
		{method: "PUT", url: u + "/api/files/new.txt", body: []byte("x")},
		{method: "PUT", url: u + "/api/files/seeded.txt", body: []byte("x")},
		{method: "DELETE", url: u + "/api/files/seeded.txt"},
		{method: "POST", url: u + "/api/mkdir", body: []byte(`{"path":"d"}`)},
		{method: "POST", url: u + "/api/move", body: []byte(`{"from":"seeded.txt","to":"b.txt"}`)},
		{method: "POST", url: u + "/api/restore", body: []byte(`{"path":"seeded.txt","version":"x"}`)},
	}
	for _, q := range writes {
		q.token = tok
		expectErr(t, do(t, q), 403, "forbidden")
	}
	expectStatus(t, do(t, req{url: u + "/api/list", token: tok}), 200)
	eventually(t, 5*time.Second, "watcher indexes a file placed on disk", func() bool {
		return do(t, req{url: u + "/api/files/seeded.txt", token: tok}).status == 200
	})
	// Over the WebSocket too.
	ws := dialWS(t, u, tok, nil)
	ws.subscribe(t, "ro-client", nil, "")
	ws.send(t, `{"type":"FileOperation","operation":{"Delete":{"metadata":{"path":"seeded.txt","size":0,"modified":"2020-01-01T00:00:00Z","hash":"","is_directory":false}}},"operation_id":"op-1"}`)
	m := ws.next(t)
	if m.Type != "Error" || m.Code != "forbidden" || m.OperationID != "op-1" {
		t.Errorf("read-only WS delete: %+v", m)
	}
}

// SPEC §1: SIGTERM/SIGINT close WebSockets with 1001 and exit 0.
func TestSignalShutdown(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			d := startDaemon(t, startOpts{umask: -1, dir: dir, env: []string{"SYNCD_LISTEN=127.0.0.1:0"}})
			b, _ := os.ReadFile(filepath.Join(dir, "syncd-data", "default.token"))
			ws := dialWS(t, d.URL(), strings.TrimSpace(string(b)), nil)
			ws.subscribe(t, "c1", nil, "")
			errc := make(chan error, 1)
			go func() {
				for {
					if _, _, err := ws.c.ReadMessage(); err != nil {
						errc <- err
						return
					}
				}
			}()
			code, err := d.signal(sig)
			if err != nil || code != 0 {
				t.Fatalf("%v: exit %d %v\n%s", sig, code, err, d.stderr)
			}
			select {
			case err := <-errc:
				if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
					t.Errorf("WebSocket closed with %v, want 1001", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("WebSocket not closed")
			}
			if _, err := http.Get(d.URL() + "/healthz"); err == nil {
				t.Errorf("still accepting after exit")
			}
		})
	}
}
