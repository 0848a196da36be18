package conformance

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/internal/testbin"
)

// bins holds the paths of the three binaries (cmd/internal/testbin).
var bins struct {
	syncd, syncctl, client string
}

// TestMain finds the binaries, built once per source tree. The suite is long: it does
// not run under -short (the inner loop); .ci/run runs it.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("conformance: skipped with -short")
		os.Exit(0)
	}
	dir, err := testbin.Dir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
	bins.syncd = filepath.Join(dir, testbin.Syncd)
	bins.syncctl = filepath.Join(dir, testbin.Ctl)
	bins.client = filepath.Join(dir, testbin.Client)
	code := m.Run()
	stopShared()
	os.Exit(code)
}

// lockedBuffer is a bytes.Buffer safe for a subprocess writer and a test reader.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// result is a finished command.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// run runs bin with args in dir (the test's temp dir when ""), extra env, and a
// 30 s timeout.
func run(t testing.TB, dir string, env []string, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	default:
		t.Fatalf("run %s %v: %v", filepath.Base(bin), args, err)
	}
	return res
}

// cleanEnv is the environment without SYNCD_* and SYNC_TOKEN, so that the caller's
// shell cannot change what a test sees.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SYNCD_") || strings.HasPrefix(kv, "SYNC_TOKEN=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ctl runs syncctl.
func ctl(t testing.TB, args ...string) result {
	t.Helper()
	return run(t, t.TempDir(), nil, bins.syncctl, args...)
}

// mustCtl runs syncctl and fails the test unless it exits 0.
func mustCtl(t testing.TB, args ...string) result {
	t.Helper()
	r := ctl(t, args...)
	if r.code != 0 {
		t.Fatalf("syncctl %v: %v", args, r)
	}
	return r
}

// daemon is a syncd subprocess.
type daemon struct {
	t       testing.TB
	cmd     *exec.Cmd
	dir     string // working directory
	dataDir string // absolute
	stdout  *lockedBuffer
	stderr  *lockedBuffer
	addr    string // main listener host:port
	admin   string // admin listener, "" if none
	done    chan struct{}
	code    atomic.Int32
	stopped atomic.Bool
}

// URL returns the main listener's http URL.
func (d *daemon) URL() string { return "http://" + d.addr }

// WSURL returns the /ws URL of the main listener.
func (d *daemon) WSURL() string { return "ws://" + d.addr + "/ws" }

var (
	listenRE = regexp.MustCompile(`msg="syncd listening" addr=(\S+)`)
	adminRE  = regexp.MustCompile(`msg="admin API listening" addr=(\S+)`)
)

// startOpts configure startDaemon.
type startOpts struct {
	config  string   // config JSON; "" runs the embedded default
	env     []string // extra environment
	umask   int      // -1 keeps the test's umask
	dir     string   // working dir; "" = a new temp dir
	dataDir string   // for the result only: where the data dir is (relative to dir)
}

// startDaemon starts syncd and waits until it logs its listen address. It fails the
// test if syncd exits first. The daemon is stopped with SIGTERM at cleanup.
func startDaemon(t testing.TB, o startOpts) *daemon {
	t.Helper()
	d, err := tryStartDaemon(t, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop() })
	return d
}

func tryStartDaemon(t testing.TB, o startOpts) (*daemon, error) {
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	var args []string
	if o.config != "" {
		p := filepath.Join(dir, "syncd.json")
		if err := os.WriteFile(p, []byte(o.config), 0o600); err != nil {
			return nil, err
		}
		args = append(args, "-config", p)
	}
	bin := bins.syncd
	if o.umask >= 0 {
		args = append([]string{"-c", fmt.Sprintf(`umask %03o; exec "$0" "$@"`, o.umask), bin}, args...)
		bin = "/bin/sh"
	}
	d := &daemon{t: t, dir: dir, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	d.dataDir = o.dataDir
	if d.dataDir == "" {
		d.dataDir = "syncd-data"
	}
	if !filepath.IsAbs(d.dataDir) {
		d.dataDir = filepath.Join(dir, d.dataDir)
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Dir = dir
	d.cmd.Env = append(cleanEnv(), o.env...)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		err := d.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			d.code.Store(int32(ee.ExitCode()))
		}
		close(d.done)
	}()
	return d, d.waitListening(wantsAdmin(o.config))
}

// wantsAdmin reports whether the config JSON names an admin listener.
func wantsAdmin(config string) bool {
	var c struct {
		AdminListen string `json:"admin_listen"`
	}
	return config != "" && json.Unmarshal([]byte(config), &c) == nil && c.AdminListen != ""
}

// waitListening waits (20 s at most) until syncd has logged its listen address and,
// if admin, its admin listener's. The log reaches the buffer through a pipe, in as
// many writes as it likes: a line logged right after another may arrive later.
func (d *daemon) waitListening(admin bool) error {
	deadline := time.After(20 * time.Second)
	for {
		log := d.stderr.String()
		if m := listenRE.FindStringSubmatch(log); m != nil && d.addr == "" {
			d.addr = m[1]
		}
		if m := adminRE.FindStringSubmatch(log); m != nil && d.admin == "" {
			d.admin = m[1]
		}
		if d.addr != "" && (!admin || d.admin != "") {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("syncd exited %d before listening\nstdout: %s\nstderr: %s", d.code.Load(), d.stdout, d.stderr)
		case <-deadline:
			_ = d.cmd.Process.Kill()
			<-d.done
			return fmt.Errorf("syncd did not log its listen address (and admin listener's: %v) in 20 s\nstderr: %s", admin, d.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitOutput waits (at most d) until b holds want: syncd's output arrives through a
// pipe, after whatever the test saw last. It fails the test with what it has.
func waitOutput(t testing.TB, b *lockedBuffer, what, want string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		out := b.String()
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q within %v in:\n%s", what, want, d, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig and waits for the exit code (15 s).
func (d *daemon) signal(sig os.Signal) (int, error) {
	if d.stopped.Swap(true) {
		<-d.done
		return int(d.code.Load()), nil
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
		return int(d.code.Load()), nil
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		return -1, errors.New("syncd did not exit within 15 s of " + sig.String())
	}
}

func (d *daemon) stop() {
	if _, err := d.signal(syscall.SIGTERM); err != nil && d.t != nil {
		d.t.Error(err)
	}
}

// ---- HTTP ----

// httpClient never follows redirects and has a bounded timeout.
var httpClient = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// req describes one HTTP request.
type req struct {
	method string
	url    string
	token  string
	body   []byte
	hdr    map[string]string
}

// resp is a read HTTP answer.
type resp struct {
	status int
	hdr    http.Header
	body   []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// errCode returns the error code of a SPEC error body, "" if there is none.
func (r resp) errCode() string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(r.body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

// json decodes the body into v, failing the test on error.
func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body is not the expected JSON (%v): %s", err, r.body)
	}
}

// fields returns the top-level keys of a JSON object body.
func (r resp) fields(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	r.json(t, &m)
	return m
}

func do(t testing.TB, q req) resp {
	t.Helper()
	if q.method == "" {
		q.method = http.MethodGet
	}
	var body io.Reader
	if q.body != nil {
		body = bytes.NewReader(q.body)
	}
	r, err := http.NewRequest(q.method, q.url, body)
	if err != nil {
		t.Fatal(err)
	}
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	for k, v := range q.hdr {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	res, err := httpClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", q.method, q.url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", q.method, q.url, err)
	}
	return resp{status: res.StatusCode, hdr: res.Header, body: b}
}

// expectErr checks a SPEC error answer: status, code, JSON shape.
func expectErr(t testing.TB, r resp, status int, code string) {
	t.Helper()
	if r.status != status || r.errCode() != code {
		t.Fatalf("want %d %s, got %v", status, code, r)
	}
	if ct := r.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error answer Content-Type %q, want application/json", ct)
	}
	switch status {
	case http.StatusUnauthorized:
		if got := r.hdr.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
			t.Errorf("401 WWW-Authenticate = %q", got)
		}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if r.hdr.Get("Retry-After") == "" {
			t.Errorf("%d without Retry-After", status)
		}
	}
}

func expectStatus(t testing.TB, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("want %d, got %v", status, r)
	}
}

// jwtClaims decodes a JWT's payload without verifying it (the test only reads what
// syncd wrote).
func jwtClaims(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return m
}

// jwtHeader decodes a JWT's header.
func jwtHeader(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(tok), ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	return m
}

var jwtRE = regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)

// eventually polls cond every 25 ms until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
