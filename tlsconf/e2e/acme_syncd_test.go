// Package e2e_test runs the real syncd (cmd/syncd/daemon) in acme mode against Pebble,
// a real ACME server on loopback: certificate issuance, an HTTPS upload and a wss
// subscription with Pebble's root, no certificate for other names, the HTTP-01
// listener's redirect, and a restart that reuses the cached certificate.
package e2e_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tlsconf/internal/pebbletest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pebbletest.Cleanup()
	os.Exit(code)
}

const domain = "syncd.sync.test"

func serial(t *testing.T, p *pebbletest.Pebble, addr, name string) (*big.Int, error) {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: &tls.Config{RootCAs: p.Roots, ServerName: name}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// acmeRig is a Pebble and a syncd config in acme mode for it: syncd's two ports are
// held while Pebble picks its own, so none of them is picked twice; start lets them go
// right before syncd binds them.
type acmeRig struct {
	p              *pebbletest.Pebble
	port, httpPort int
	addr, dir      string
	cfgFile        string
	logs           *pebbletest.SafeBuffer
	held           [2]net.Listener
}

func newACMERig(t *testing.T) *acmeRig {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Pebble and syncd")
	}
	for _, k := range []string{"SYNCD_LISTEN", "SYNCD_DATA_DIR", "SYNCD_LOG_LEVEL"} {
		t.Setenv(k, "")
	}
	r := &acmeRig{dir: t.TempDir(), logs: &pebbletest.SafeBuffer{}}
	for i := range r.held {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		r.held[i] = l
	}
	r.port, r.httpPort = r.held[0].Addr().(*net.TCPAddr).Port, r.held[1].Addr().(*net.TCPAddr).Port
	r.p = pebbletest.Start(t, r.port, r.httpPort)
	r.addr = "127.0.0.1:" + strconv.Itoa(r.port)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("syncd logs:\n%s", r.logs.String())
		}
	})
	return r
}

// start writes the config (acme mode for domain on Pebble, plus tlsExtra's keys in
// "tls") and starts syncd on the held ports.
func (r *acmeRig) start(t *testing.T, ctx context.Context, tlsExtra map[string]any) *daemon.Daemon {
	t.Helper()
	tlsCfg := map[string]any{
		"mode": "acme", "domains": []string{domain}, "email": "ops@sync.test",
		"acme_directory": r.p.DirectoryURL, "acme_ca_file": r.p.CAFile,
	}
	for k, v := range tlsExtra {
		tlsCfg[k] = v
	}
	cfg := map[string]any{
		"listen":   r.addr,
		"data_dir": filepath.Join(r.dir, "data"),
		"log":      map[string]any{"level": "debug"},
		"tls":      tlsCfg,
	}
	b, _ := json.Marshal(cfg)
	r.cfgFile = filepath.Join(r.dir, "syncd.json")
	if err := os.WriteFile(r.cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, l := range r.held {
		l.Close()
	}
	d, err := daemon.Start(ctx, []string{"-config", r.cfgFile}, io.Discard, r.logs)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSyncdACME(t *testing.T) {
	r := newACMERig(t)
	p, port, httpPort, addr, logs := r.p, r.port, r.httpPort, r.addr, r.logs
	ctx := context.Background()
	d := r.start(t, ctx, map[string]any{"http_listen": "127.0.0.1:" + strconv.Itoa(httpPort)})
	stopped := false
	defer func() {
		if !stopped {
			d.Shutdown(context.Background())
		}
	}()
	if _, err := d.Registry().Create(ctx, "team", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	token, _, err := d.Auth().IssueTenantToken(ctx, "team", "alice", auth.RoleWrite, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + domain + ":" + strconv.Itoa(port)
	tr := &http.Transport{DialContext: pebbletest.DialTo(addr), TLSClientConfig: &tls.Config{RootCAs: p.Roots}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 90 * time.Second}
	put := func(path, body, client string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("PUT", base+"/api/files/"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Sync-Client-Id", client)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("PUT %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	// The first request triggers the order (TLS-ALPN-01 on syncd's listener).
	resp := put("hello.txt", "hello over https", "uploader")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload status %d", resp.StatusCode)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "max-age=31536000" {
		t.Fatalf("HSTS %q", hsts)
	}

	// wss subscription: Ack first, then the event of another client's upload.
	wd := websocket.Dialer{NetDialContext: pebbletest.DialTo(addr), TLSClientConfig: &tls.Config{RootCAs: p.Roots}, HandshakeTimeout: 30 * time.Second}
	ws, _, err := wd.Dial("wss://"+domain+":"+strconv.Itoa(port)+"/ws", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(protocol.Message{Type: "Subscribe", ClientID: "watcher"}); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	var ack protocol.Message
	if err := ws.ReadJSON(&ack); err != nil || ack.Type != "Ack" || ack.Seq < 1 {
		t.Fatalf("subscribe ack %+v %v", ack, err)
	}
	if resp := put("second.txt", "second", "uploader"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("second upload %d", resp.StatusCode)
	}
	var ev protocol.Message
	if err := ws.ReadJSON(&ev); err != nil || ev.Type != "FileOperation" || ev.Operation == nil {
		t.Fatalf("event %+v %v", ev, err)
	}
	ws.Close()

	// No certificate for a name outside tls.domains.
	if _, err := serial(t, p, addr, "other.sync.test"); err == nil {
		t.Fatal("certificate served for other.sync.test")
	}
	first, err := serial(t, p, addr, domain)
	if err != nil {
		t.Fatal(err)
	}

	// http_listen redirects to https for the domain only.
	noRedirect := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DialContext: pebbletest.DialTo("127.0.0.1:" + strconv.Itoa(httpPort))}}
	r2, err := noRedirect.Get("http://" + domain + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if want := fmt.Sprintf("https://%s:%d/healthz", domain, port); r2.StatusCode != 301 || r2.Header.Get("Location") != want {
		t.Fatalf("redirect %d %q", r2.StatusCode, r2.Header.Get("Location"))
	}

	// Restart: the cached certificate is served again, no new order (new serial).
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped = true
	tr.CloseIdleConnections()
	d2, err := daemon.Start(ctx, []string{"-config", r.cfgFile}, io.Discard, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Shutdown(context.Background())
	again, err := serial(t, p, addr, domain)
	if err != nil {
		t.Fatal(err)
	}
	if again.Cmp(first) != 0 {
		t.Fatalf("restart served serial %v, want the cached %v", again, first)
	}
	req, _ := http.NewRequest("GET", base+"/api/files/hello.txt", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	got, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if got.StatusCode != 200 || string(body) != "hello over https" {
		t.Fatalf("download after restart: %d %q", got.StatusCode, body)
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("token in the logs")
	}
}
