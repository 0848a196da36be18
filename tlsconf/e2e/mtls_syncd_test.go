package e2e_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tlsconf/internal/pebbletest"
)

// mtlsEnv is a real syncd in manual TLS mode with tls.client_auth set, tenant t1, a
// device bound to client certificate A and an unbound device.
type mtlsEnv struct {
	d                  *daemon.Daemon
	base               string
	serverCA, clientCA *pebbletest.CA
	caFile             string
	certA, certB       tls.Certificate
	bound, plain       string // refresh secrets
}

func startMTLS(t *testing.T, mode string) *mtlsEnv {
	t.Helper()
	for _, k := range []string{"SYNCD_LISTEN", "SYNCD_DATA_DIR", "SYNCD_LOG_LEVEL"} {
		t.Setenv(k, "")
	}
	dir := t.TempDir()
	e := &mtlsEnv{serverCA: pebbletest.NewCA(t), clientCA: pebbletest.NewCA(t)}
	certPEM, keyPEM, _ := e.serverCA.IssueNow(t, "127.0.0.1")
	certAPEM, _, certA := e.clientCA.IssueClient(t, "laptop")
	_, _, e.certB = e.clientCA.IssueClient(t, "other")
	e.certA = certA
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	e.caFile = write("client-ca.pem", e.clientCA.PEM)
	cfg := map[string]any{"listen": "127.0.0.1:0", "data_dir": filepath.Join(dir, "data"), "log": map[string]any{"level": "error"},
		"tls": map[string]any{"mode": "manual", "cert_file": write("cert.pem", certPEM), "key_file": write("key.pem", keyPEM),
			"client_ca": e.caFile, "client_auth": mode}}
	b, _ := json.Marshal(cfg)
	d, err := daemon.Start(context.Background(), []string{"-config", write("syncd.json", b)}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	e.d, e.base = d, "https://"+d.Addr()
	ctx := context.Background()
	if _, err := d.Registry().Create(ctx, "t1", tenants.Options{}); err != nil {
		t.Fatal(err)
	}
	thumb, err := auth.ThumbprintPEM(certAPEM)
	if err != nil {
		t.Fatal(err)
	}
	if e.bound, _, err = d.Auth().Devices().Enroll(ctx, "t1", "alice", auth.RoleWrite, "laptop", thumb); err != nil {
		t.Fatal(err)
	}
	if e.plain, _, err = d.Auth().Devices().Enroll(ctx, "t1", "bob", auth.RoleWrite, "phone", ""); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *mtlsEnv) tlsConf(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: e.serverCA.Pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

func (e *mtlsEnv) client(cert *tls.Certificate) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: e.tlsConf(cert)}, Timeout: 10 * time.Second}
}

// redeem posts a refresh secret; status -1 means the TLS handshake failed.
func redeem(t *testing.T, c *http.Client, base, secret string) (int, map[string]any) {
	t.Helper()
	body := `{"grant_type":"refresh_token","refresh_token":"` + secret + `"}`
	resp, err := c.Post(base+"/api/token", "application/json", strings.NewReader(body))
	if err != nil {
		return -1, nil
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func list(t *testing.T, c *http.Client, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/list", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

// wsAuth opens /ws with cert, authenticates with an Auth frame and subscribes: it
// returns the close code (0 when subscribed).
func (e *mtlsEnv) wsAuth(t *testing.T, cert *tls.Certificate, token string) int {
	t.Helper()
	conf := e.tlsConf(cert)
	conf.NextProtos = []string{"http/1.1"}
	dialer := websocket.Dialer{TLSClientConfig: conf, HandshakeTimeout: 10 * time.Second}
	ws, _, err := dialer.Dial("wss://"+e.d.Addr()+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer ws.Close()
	ws.WriteJSON(map[string]any{"type": "Auth", "token": token})
	ws.WriteJSON(map[string]any{"type": "Subscribe", "client_id": "c1"})
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				return ce.Code
			}
			t.Fatalf("ws read: %v", err)
		}
		if strings.Contains(string(data), `"Ack"`) {
			return 0
		}
	}
}

func TestMTLSOptional(t *testing.T) {
	e := startMTLS(t, "optional")
	none, withA, withB := e.client(nil), e.client(&e.certA), e.client(&e.certB)
	// An unbound device works without a certificate.
	if code, _ := redeem(t, none, e.base, e.plain); code != 200 {
		t.Fatalf("unbound device without a certificate: %d", code)
	}
	// The bound device redeems only with its certificate.
	if code, m := redeem(t, none, e.base, e.bound); code != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("bound device without its certificate: %d %v", code, m)
	}
	if code, _ := redeem(t, withB, e.base, e.bound); code != 400 {
		t.Fatalf("bound device with another certificate: %d", code)
	}
	code, g := redeem(t, withA, e.base, e.bound)
	if code != 200 {
		t.Fatalf("bound device with its certificate: %d %v", code, g)
	}
	access := g["access_token"].(string)
	// The bound access token replayed without the certificate: 401 on HTTP, 4001 on /ws.
	if c := list(t, withA, e.base, access); c != 200 {
		t.Fatalf("bound token with its certificate: %d", c)
	}
	if c := list(t, none, e.base, access); c != 401 {
		t.Fatalf("bound token without a certificate: %d", c)
	}
	if c := list(t, withB, e.base, access); c != 401 {
		t.Fatalf("bound token with another certificate: %d", c)
	}
	if c := e.wsAuth(t, nil, access); c != 4001 {
		t.Fatalf("bound token on /ws without a certificate: close %d", c)
	}
	if c := e.wsAuth(t, &e.certA, access); c != 0 {
		t.Fatalf("bound token on /ws with its certificate: close %d", c)
	}
	// A new client CA takes effect without a restart: certificates of the old CA are
	// refused at the handshake.
	newCA := pebbletest.NewCA(t)
	_, _, certC := newCA.IssueClient(t, "new")
	tmp := e.caFile + ".tmp"
	os.WriteFile(tmp, newCA.PEM, 0o600)
	os.Rename(tmp, e.caFile)
	deadline := time.Now().Add(5 * time.Second)
	for {
		fresh := e.client(&e.certA) // new connections only
		if _, err := fresh.Get(e.base + "/healthz"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("client CA not reloaded within 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp, err := e.client(&certC).Get(e.base + "/healthz"); err != nil {
		t.Fatalf("certificate of the new CA: %v", err)
	} else {
		resp.Body.Close()
	}
}

func TestMTLSRequire(t *testing.T) {
	e := startMTLS(t, "require")
	if resp, err := e.client(nil).Get(e.base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("require: a connection without a client certificate was accepted")
	}
	withA := e.client(&e.certA)
	code, g := redeem(t, withA, e.base, e.bound)
	if code != 200 {
		t.Fatalf("require, bound device with its certificate: %d %v", code, g)
	}
	if c := list(t, withA, e.base, g["access_token"].(string)); c != 200 {
		t.Fatalf("require, bound token: %d", c)
	}
	if c := list(t, e.client(&e.certB), e.base, g["access_token"].(string)); c != 401 {
		t.Fatalf("require, bound token with another certificate: %d", c)
	}
	if code, _ := redeem(t, e.client(&e.certB), e.base, e.plain); code != 200 {
		t.Fatalf("require, unbound device with any valid certificate: %d", code)
	}
}

func TestMTLSOff(t *testing.T) {
	e := startMTLS(t, "off")
	withA := e.client(&e.certA)
	// No certificate is asked for: a bound device cannot prove its certificate.
	if code, _ := redeem(t, withA, e.base, e.bound); code != 400 {
		t.Fatalf("off, bound device: %d", code)
	}
	if code, _ := redeem(t, e.client(nil), e.base, e.plain); code != 200 {
		t.Fatalf("off, unbound device: %d", code)
	}
}
