package hub_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/sqlindex"
	"github.com/syncspace/syncspace/tenants/sqlite"
	"github.com/syncspace/syncspace/transport/server"
)

// realEnv is the real syncd server (transport/server with the real tenants registry,
// auth service, API, admin API, hub and metrics) on 127.0.0.1, over a real SQLite file
// and data directory.
type realEnv struct {
	t      *testing.T
	reg    *tenants.Registry
	auth   *auth.Service
	srv    *server.Server
	http   *httptest.Server
	client *http.Client      // trusts http's certificate (newRealTLSEnv)
	dialer *websocket.Dialer // likewise
	wsURL  string
	ctx    context.Context
}

func newRealEnv(t *testing.T, limits tenants.Limits, edit func(*config.Config)) *realEnv {
	t.Helper()
	return newRealEnvOn(t, limits, edit, false)
}

// newRealTLSEnv is newRealEnv served over TLS (https, wss) with httptest's
// certificate, which e.client and e.dialer trust.
func newRealTLSEnv(t *testing.T, limits tenants.Limits, edit func(*config.Config)) *realEnv {
	t.Helper()
	return newRealEnvOn(t, limits, edit, true)
}

func newRealEnvOn(t *testing.T, limits tenants.Limits, edit func(*config.Config), useTLS bool) *realEnv {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := sqlite.Open(ctx, filepath.Join(dir, "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	reg, err := sqlindex.OpenRegistry(ctx, db, dir, limits, logger)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"acme", "other"} {
		if _, err := reg.Create(ctx, n, tenants.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	svc, err := sqlitestore.OpenService(ctx, db, auth.Config{KeyDir: filepath.Join(dir, "keys")}, reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan struct{})
	go func() { svc.Run(ctx); close(runDone) }()
	cfg := config.Default()
	cfg.DataDir = dir
	if edit != nil {
		edit(cfg)
	}
	opts, err := daemon.ServerOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, server.Deps{Options: opts, Tenants: reg, Auth: svc, Logger: logger, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Main())
	if useTLS {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	e := &realEnv{t: t, reg: reg, auth: svc, srv: srv, http: hs, ctx: ctx, client: hs.Client(),
		dialer: &websocket.Dialer{HandshakeTimeout: 5 * time.Second},
		wsURL:  "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
	if useTLS {
		// The dialer's own config, http/1.1 only (DESIGN: h2 in a dialer's ALPN fails).
		tc := hs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		tc.NextProtos = nil
		e.dialer.TLSClientConfig = tc
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
		cancel()
		<-runDone
		reg.Close()
		db.Close()
	})
	return e
}

func (e *realEnv) token(tenant, sub, role string) string {
	e.t.Helper()
	tok, _, err := e.auth.IssueTenantToken(e.ctx, tenant, sub, role, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type wsClient struct {
	t    *testing.T
	ws   *websocket.Conn
	ch   chan []byte
	errc chan error
}

func (e *realEnv) dial(tok string) (*wsClient, *http.Response, error) {
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	ws, resp, err := e.dialer.Dial(e.wsURL, h)
	if err != nil {
		return nil, resp, err
	}
	c := &wsClient{t: e.t, ws: ws, ch: make(chan []byte, 4096), errc: make(chan error, 1)}
	go func() {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				c.errc <- err
				close(c.ch)
				return
			}
			for _, line := range bytes.Split(data, []byte("\n")) {
				c.ch <- line
			}
		}
	}()
	e.t.Cleanup(func() { ws.Close() })
	return c, resp, nil
}

func (e *realEnv) subscribe(tok, clientID string, extra map[string]any) (*wsClient, map[string]any) {
	e.t.Helper()
	c, _, err := e.dial(tok)
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]any{"type": "Subscribe", "client_id": clientID}
	for k, v := range extra {
		m[k] = v
	}
	c.send(m)
	ack := c.next(5 * time.Second)
	if ack["type"] != "Ack" || ack["operation_id"] != "subscribe" {
		e.t.Fatalf("want Ack, got %v", ack)
	}
	if _, ok := ack["seq"]; !ok {
		e.t.Fatalf("Ack without seq: %v", ack)
	}
	return c, ack
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) next(d time.Duration) map[string]any {
	c.t.Helper()
	select {
	case line, ok := <-c.ch:
		if !ok {
			c.t.Fatalf("connection closed: %v", <-c.errc)
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			c.t.Fatalf("bad message %q", line)
		}
		return m
	case <-time.After(d):
		c.t.Fatal("no message")
	}
	return nil
}

func (c *wsClient) event(d time.Duration) protocol.Event {
	c.t.Helper()
	m := c.next(d)
	b, _ := json.Marshal(m)
	var ev protocol.Event
	if err := json.Unmarshal(b, &ev); err != nil || ev.Type != protocol.TypeFileOperation {
		c.t.Fatalf("want event, got %v", m)
	}
	return ev
}

func (c *wsClient) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case line, ok := <-c.ch:
		if ok {
			c.t.Fatalf("unexpected %q", line)
		}
	case <-time.After(d):
	}
}

func (c *wsClient) closeCode(d time.Duration) int {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-c.ch:
			if ok {
				continue
			}
			err := <-c.errc
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			return -1
		case <-deadline:
			c.t.Fatal("not closed")
		}
	}
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// upload PUTs content as clientID and returns the seq of the new metadata.
func (e *realEnv) upload(tok, path, clientID string, content []byte) int64 {
	e.t.Helper()
	req, _ := http.NewRequest("PUT", e.http.URL+"/api/files/"+path, bytes.NewReader(content))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Sync-Client-Id", clientID)
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		e.t.Fatalf("upload %s: %d %s", path, resp.StatusCode, body)
	}
	var m protocol.Metadata
	if err := json.Unmarshal(body, &m); err != nil {
		e.t.Fatal(err)
	}
	return m.Seq
}

func TestRealServerUploadBroadcast(t *testing.T) {
	e := newRealEnv(t, tenants.Limits{}, nil)
	alice := e.token("acme", "alice", "write")
	self, _ := e.subscribe(alice, "laptop", nil)
	peer, _ := e.subscribe(e.token("acme", "bob", "read"), "phone", nil)
	stranger, _ := e.subscribe(e.token("other", "alice", "write"), "laptop", nil)

	content := []byte("hello world")
	seq := e.upload(alice, "docs/hello.txt", "laptop", content)
	ev := peer.event(5 * time.Second)
	if ev.Seq != seq || ev.Operation.Create == nil || ev.Operation.Meta().Path != "docs/hello.txt" ||
		ev.Operation.Meta().Hash != sum(content) || ev.SourceClient != "laptop" || ev.SourceSubject != "alice" {
		t.Fatalf("event %+v", ev)
	}
	self.quiet(200 * time.Millisecond)
	stranger.quiet(50 * time.Millisecond)

	t.Run("100 rapid changes in order", func(t *testing.T) {
		first := seq + 1
		for i := 0; i < 100; i++ {
			e.upload(alice, fmt.Sprintf("many/f%03d", i), "laptop", []byte(fmt.Sprint(i)))
		}
		for i := int64(0); i < 100; i++ {
			if ev := peer.event(10 * time.Second); ev.Seq != first+i {
				t.Fatalf("event %d: seq %d, want %d", i, ev.Seq, first+i)
			}
		}
		seq = first + 99
	})

	t.Run("client operations", func(t *testing.T) {
		ops := []struct {
			name, code, kind string
			op               map[string]any
		}{
			{"mkdir", "", "Create", map[string]any{"Create": map[string]any{"metadata": map[string]any{"path": "newdir", "is_directory": true}}}},
			{"move bad hash", "precondition_failed", "", map[string]any{"Move": map[string]any{"from": "docs/hello.txt", "metadata": map[string]any{"path": "newdir/hello.txt", "hash": sum([]byte("x"))}}}},
			{"move", "", "Move", map[string]any{"Move": map[string]any{"from": "docs/hello.txt", "metadata": map[string]any{"path": "newdir/hello.txt", "hash": sum(content)}}}},
			{"update with stored content", "", "", map[string]any{"Update": map[string]any{"metadata": map[string]any{"path": "newdir/hello.txt", "hash": sum(content)}}}},
			{"content missing", "content_missing", "", map[string]any{"Create": map[string]any{"metadata": map[string]any{"path": "newdir/other.txt", "hash": sum([]byte("never"))}}}},
			{"bad path", "invalid_path", "", map[string]any{"Delete": map[string]any{"metadata": map[string]any{"path": "../etc/passwd"}}}},
			{"delete bad hash", "precondition_failed", "", map[string]any{"Delete": map[string]any{"metadata": map[string]any{"path": "newdir/hello.txt", "hash": sum([]byte("y"))}}}},
			{"delete", "", "Delete", map[string]any{"Delete": map[string]any{"metadata": map[string]any{"path": "newdir/hello.txt", "hash": sum(content)}}}},
		}
		for i, o := range ops {
			id := fmt.Sprintf("op-%d", i)
			self.send(map[string]any{"type": "FileOperation", "operation_id": id, "operation": o.op})
			m := self.next(5 * time.Second)
			if o.code != "" {
				if m["type"] != "Error" || m["code"] != o.code || m["operation_id"] != id {
					t.Fatalf("%s: want Error %s, got %v", o.name, o.code, m)
				}
				continue
			}
			if m["type"] != "Ack" || m["operation_id"] != id {
				t.Fatalf("%s: want Ack, got %v", o.name, m)
			}
			if o.kind == "" {
				continue
			}
			seq++
			if m["seq"] != float64(seq) {
				t.Fatalf("%s: Ack seq %v, want %d", o.name, m["seq"], seq)
			}
			ev := peer.event(5 * time.Second)
			if ev.Seq != seq || ev.Operation.Kind() != o.kind || ev.SourceClient != "laptop" || ev.SourceSubject != "alice" {
				t.Fatalf("%s: event %+v", o.name, ev)
			}
		}
		peer.quiet(100 * time.Millisecond)
		self.quiet(50 * time.Millisecond)
	})

	t.Run("resume with since gets exactly the missed events", func(t *testing.T) {
		sp, err := e.reg.Space(e.ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		epoch, head := sp.Head()
		peer.ws.Close()
		for i := 0; i < 5; i++ {
			e.upload(alice, fmt.Sprintf("missed/%d", i), "laptop", []byte(fmt.Sprint("m", i)))
		}
		again, ack := e.subscribe(e.token("acme", "bob", "read"), "phone", map[string]any{"since": head, "epoch": epoch})
		if ack["seq"] != float64(head+5) {
			t.Fatalf("ack %v", ack)
		}
		for i := int64(1); i <= 5; i++ {
			if ev := again.event(5 * time.Second); ev.Seq != head+i {
				t.Fatalf("replayed seq %d, want %d", ev.Seq, head+i)
			}
		}
		e.upload(alice, "missed/live", "laptop", []byte("live"))
		if ev := again.event(5 * time.Second); ev.Seq != head+6 {
			t.Fatalf("live seq %d", ev.Seq)
		}
		again.quiet(100 * time.Millisecond)
	})
}

func TestRealServerAuthAndLifecycle(t *testing.T) {
	e := newRealEnv(t, tenants.Limits{}, nil)
	ops, _, err := e.auth.IssueOpsToken(e.ctx, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ops token refused", func(t *testing.T) {
		byHeader, _, err := e.dial(ops)
		if err != nil {
			t.Fatalf("ops token on /ws: upgrade refused: %v", err)
		}
		if code := byHeader.closeCode(3 * time.Second); code != protocol.CloseForbidden {
			t.Fatalf("ops token on the upgrade: close %d", code)
		}
		c, _, err := e.dial("")
		if err != nil {
			t.Fatal(err)
		}
		c.send(map[string]any{"type": "Auth", "token": ops})
		if code := c.closeCode(3 * time.Second); code != protocol.CloseForbidden {
			t.Fatalf("close %d", code)
		}
	})
	t.Run("admin connections and metrics", func(t *testing.T) {
		c, _ := e.subscribe(e.token("acme", "alice", "read"), "laptop", nil)
		get := func(path string) (int, []byte) {
			req, _ := http.NewRequest("GET", e.http.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+ops)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		st, body := get("/admin/connections")
		var list struct {
			Connections []map[string]any `json:"connections"`
		}
		if st != 200 || json.Unmarshal(body, &list) != nil || len(list.Connections) != 1 ||
			list.Connections[0]["client_id"] != "laptop" || list.Connections[0]["tenant"] != "acme" {
			t.Fatalf("connections: %d %s", st, body)
		}
		id := list.Connections[0]["id"].(string)
		st, body = get("/metrics")
		if st != 200 || !bytes.Contains(body, []byte(`syncd_ws_connections{tenant="acme"} 1`)) ||
			!bytes.Contains(body, []byte(`route="/admin/connections"`)) {
			t.Fatalf("metrics: %d %s", st, body)
		}
		req, _ := http.NewRequest("DELETE", e.http.URL+"/admin/connections/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+ops)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("disconnect: %d", resp.StatusCode)
		}
		c.closeCode(3 * time.Second)
		req, _ = http.NewRequest("GET", e.http.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+e.token("acme", "alice", "admin"))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 && resp.StatusCode != 403 {
			t.Fatalf("/metrics with a tenant token: %d", resp.StatusCode)
		}
	})
	t.Run("revocation by subject closes 4005 within 1s", func(t *testing.T) {
		c, _ := e.subscribe(e.token("acme", "mallory", "write"), "m1", nil)
		start := time.Now()
		if _, err := e.auth.RevokeSubject(e.ctx, "acme", "mallory"); err != nil {
			t.Fatal(err)
		}
		if code := c.closeCode(3 * time.Second); code != protocol.CloseTokenRevoked || time.Since(start) > time.Second {
			t.Fatalf("close %d after %s", code, time.Since(start))
		}
	})
	t.Run("tenant deletion closes 4005", func(t *testing.T) {
		c, _ := e.subscribe(e.token("other", "alice", "write"), "x", nil)
		start := time.Now()
		if err := e.reg.Delete(e.ctx, "other"); err != nil {
			t.Fatal(err)
		}
		if code := c.closeCode(3 * time.Second); code != protocol.CloseTokenRevoked || time.Since(start) > time.Second {
			t.Fatalf("close %d after %s", code, time.Since(start))
		}
	})
	t.Run("failed Auth frames count against the address", func(t *testing.T) {
		for i := 0; i < 12; i++ {
			c, _, err := e.dial("")
			if err != nil {
				t.Fatal(err)
			}
			c.send(map[string]any{"type": "Auth", "token": "bad.token.here"})
			if code := c.closeCode(3 * time.Second); code != protocol.CloseUnauthenticated {
				t.Fatalf("close %d", code)
			}
		}
		req, _ := http.NewRequest("GET", e.http.URL+"/api/usage", nil)
		req.Header.Set("Authorization", "Bearer bad.token.here")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("HTTP after failed Auth frames: %d, want 429", resp.StatusCode)
		}
		_, resp, err = e.dial("bad.token.here")
		if err == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("/ws upgrade after failed Auth frames: %v %v", resp, err)
		}
		// A valid token is never refused by the limiter.
		c, _ := e.subscribe(e.token("acme", "alice", "read"), "ok", nil)
		c.ws.Close()
	})
	t.Run("shutdown closes 1001", func(t *testing.T) {
		c, _ := e.subscribe(e.token("acme", "alice", "read"), "laptop", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errc := make(chan error, 1)
		go func() { errc <- e.srv.Shutdown(ctx) }()
		if code := c.closeCode(3 * time.Second); code != websocket.CloseGoingAway {
			t.Fatalf("close %d", code)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})
}

func TestRealServerResyncPastRetention(t *testing.T) {
	e := newRealEnv(t, tenants.Limits{RetainChanges: 5}, nil)
	alice := e.token("acme", "alice", "write")
	for i := 0; i < 20; i++ {
		e.upload(alice, fmt.Sprintf("f%d", i), "w", []byte(fmt.Sprint(i)))
	}
	// Run prunes the change log when it starts.
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { e.reg.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	sp, err := e.reg.Space(e.ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	epoch, head := sp.Head()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := sp.Changes(e.ctx, 2, epoch, 10); protocol.CodeOf(err) == protocol.CodeResyncRequired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("change log not pruned")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, ack := e.subscribe(alice, "c1", map[string]any{"since": 2, "epoch": epoch})
	m := c.next(5 * time.Second)
	if m["type"] != "ResyncRequired" || m["seq"] != float64(head) || m["epoch"] != epoch || ack["seq"] != float64(head) {
		t.Fatalf("ack %v, then %v", ack, m)
	}
	e.upload(alice, "after", "w", []byte("after"))
	if ev := c.event(5 * time.Second); ev.Seq != head+1 {
		t.Fatalf("live after resync: %d", ev.Seq)
	}
}
