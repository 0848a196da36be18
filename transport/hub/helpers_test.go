package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/metrics"
	"github.com/syncspace/syncspace/transport/servertest"
)

// env is a real hub on a real Echo server on 127.0.0.1, with the real auth service on
// a real SQLite file, and either the real tenants registry (newEnv) or, to inject
// faults the store cannot produce on demand, the memRegistry double (newMemEnv).
type env struct {
	t       testing.TB
	mem     *memRegistry      // newMemEnv only
	treg    *tenants.Registry // newEnv only
	st      *servertest.Stores
	auth    *auth.Service
	hub     *Hub
	metrics *metrics.Metrics
	srv     *httptest.Server
	wsURL   string
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(&tlogWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type tlogWriter struct{ t testing.TB }

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newEnv builds the hub over the real tenants registry with tenants "acme" and
// "other".
func newEnv(t testing.TB, opts Options) *env {
	return buildEnv(t, opts, false)
}

// newMemEnv builds the hub over the memRegistry fault injector.
func newMemEnv(t testing.TB, opts Options) *env {
	return buildEnv(t, opts, true)
}

func buildEnv(t testing.TB, opts Options, mem bool) *env {
	t.Helper()
	e := &env{t: t, metrics: metrics.New()}
	so := servertest.Options{Logger: testLogger(t)}
	if mem {
		e.mem = newMemRegistry()
		e.mem.create("acme")
		e.mem.create("other")
		so.Lookup = e.mem
	}
	st := servertest.Open(t, so)
	e.st, e.auth = st, st.Auth
	reg := Registry(e.mem)
	if !mem {
		e.treg = st.Registry
		st.Tenant(t, "acme", tenants.Options{})
		st.Tenant(t, "other", tenants.Options{})
		reg = FromRegistry(e.treg)
	}
	e.hub = New(opts, Deps{Registry: reg, Auth: e.auth, Metrics: e.metrics, Logger: testLogger(t)})
	ec := echo.New()
	ec.HideBanner = true
	ec.GET("/ws", e.hub.Handler)
	e.srv = httptest.NewServer(ec)
	e.wsURL = servertest.WSURL(e.srv.URL, "/ws")
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := e.hub.Shutdown(sctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		e.srv.Close()
	})
	return e
}

func hashOf(content string) string {
	h := sha256.Sum256([]byte(content))
	return hex.EncodeToString(h[:])
}

// tspace writes to one tenant of the env's store.
type tspace struct {
	e      *env
	tenant string
}

func (e *env) space(tenant string) tspace { return tspace{e, tenant} }

// put stores content at path as src and returns the seq it made.
func (s tspace) put(path, content string, src tenants.Source) int64 {
	s.e.t.Helper()
	if s.e.mem != nil {
		return s.e.mem.space(s.tenant).put(path, hashOf(content), src)
	}
	sp, err := s.e.treg.Space(context.Background(), s.tenant)
	if err != nil {
		s.e.t.Fatal(err)
	}
	meta, _, err := sp.Put(context.Background(), path, strings.NewReader(content),
		tenants.PutOptions{Size: int64(len(content)), Source: src})
	if err != nil {
		s.e.t.Fatalf("put %s: %v", path, err)
	}
	return meta.Seq
}

func (s tspace) Head() (string, int64) {
	if s.e.mem != nil {
		return s.e.mem.space(s.tenant).Head()
	}
	sp, err := s.e.treg.Space(context.Background(), s.tenant)
	if err != nil {
		s.e.t.Fatal(err)
	}
	return sp.Head()
}

// id is the tenant's immutable id (the hub's key for it).
func (s tspace) id() string {
	s.e.t.Helper()
	if s.e.mem != nil {
		return s.e.mem.space(s.tenant).id
	}
	sp, err := s.e.treg.Space(context.Background(), s.tenant)
	if err != nil {
		s.e.t.Fatal(err)
	}
	return sp.ID()
}

func (e *env) removeTenant(name string) {
	e.t.Helper()
	if e.mem != nil {
		e.mem.remove(name)
		return
	}
	if err := e.treg.Delete(context.Background(), name); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) token(tenant, sub, role string) string {
	return e.tokenTTL(tenant, sub, role, time.Hour)
}

func (e *env) tokenTTL(tenant, sub, role string, ttl time.Duration) string {
	e.t.Helper()
	return e.st.Token(e.t, tenant, sub, role, ttl)
}

func (e *env) opsToken() string {
	e.t.Helper()
	return e.st.OpsToken(e.t, "ops1")
}

// client is a real gorilla client. Its frames are read by one pump goroutine
// (started by the first read) so that a read can time out without breaking the
// connection (gorilla fails every read after a deadline error).
type client struct {
	t      testing.TB
	ws     *websocket.Conn
	once   sync.Once
	frames chan frameOrErr
}

type frameOrErr struct {
	mt   int
	data []byte
	err  error
}

func (c *client) startPump() {
	c.once.Do(func() {
		c.frames = make(chan frameOrErr, 1024)
		go func() {
			for {
				mt, data, err := c.ws.ReadMessage()
				c.frames <- frameOrErr{mt, data, err}
				if err != nil {
					close(c.frames)
					return
				}
			}
		}()
	})
}

var errTimeout = errors.New("timeout")

func (c *client) next(timeout time.Duration) frameOrErr {
	c.startPump()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case f, ok := <-c.frames:
		if !ok {
			return frameOrErr{err: io.EOF}
		}
		return f
	case <-t.C:
		return frameOrErr{err: errTimeout}
	}
}

func (e *env) dialRaw(hdr http.Header) (*websocket.Conn, *http.Response, error) {
	return servertest.Dial(e.wsURL, hdr)
}

// dial connects with a bearer header (tok "" = no header).
func (e *env) dial(tok string) *client {
	e.t.Helper()
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	ws, resp, err := e.dialRaw(h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("dial: %v (status %d)", err, status)
	}
	return &client{t: e.t, ws: ws}
}

// subscribe dials, subscribes and returns the client and its Ack.
func (e *env) subscribe(tok, clientID string, extra map[string]any) (*client, map[string]any) {
	e.t.Helper()
	c := e.dial(tok)
	m := map[string]any{"type": "Subscribe", "client_id": clientID}
	for k, v := range extra {
		m[k] = v
	}
	c.send(m)
	ack := c.read()
	if ack["type"] != "Ack" || ack["operation_id"] != "subscribe" {
		e.t.Fatalf("want subscribe Ack, got %v", ack)
	}
	if _, ok := ack["seq"]; !ok {
		e.t.Fatalf("subscribe Ack without seq: %v", ack)
	}
	return c, ack
}

func (c *client) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// readFrame returns one frame's text (several lines with batch).
func (c *client) readFrame(timeout time.Duration) (string, error) {
	f := c.next(timeout)
	if f.err != nil {
		return "", f.err
	}
	if f.mt != websocket.TextMessage {
		return "", errors.New("binary frame from server")
	}
	return string(f.data), nil
}

// read returns the next message as a generic map (fails on batches of several).
func (c *client) read() map[string]any {
	c.t.Helper()
	s, err := c.readFrame(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		c.t.Fatalf("read: %v in %q", err, s)
	}
	return m
}

// events reads n FileOperation events (unpacking batched frames).
func (c *client) events(n int, timeout time.Duration) []protocol.Event {
	c.t.Helper()
	var out []protocol.Event
	deadline := time.Now().Add(timeout)
	for len(out) < n {
		s, err := c.readFrame(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("after %d of %d events: %v", len(out), n, err)
		}
		for _, line := range strings.Split(s, "\n") {
			var ev protocol.Event
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				c.t.Fatalf("bad event line %q: %v", line, err)
			}
			if ev.Type != protocol.TypeFileOperation {
				c.t.Fatalf("want FileOperation, got %q", line)
			}
			out = append(out, ev)
		}
	}
	return out
}

// quiet asserts that nothing arrives within d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	s, err := c.readFrame(d)
	if err == nil {
		c.t.Fatalf("unexpected message %q", s)
	}
	if err != errTimeout {
		c.t.Fatalf("want timeout, got %v", err)
	}
}

// closeCode reads until the connection closes and returns the close code (-1 for a
// close without a close frame).
func (c *client) closeCode(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f := c.next(time.Until(deadline))
		if f.err == nil {
			continue
		}
		if f.err == errTimeout {
			c.t.Fatalf("connection not closed within %s", timeout)
		}
		var ce *websocket.CloseError
		if errors.As(f.err, &ce) {
			return ce.Code
		}
		return -1
	}
}

func (c *client) close() { _ = c.ws.Close() }

// waitFor polls ok until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counterValue sums the samples of the named metric family.
func counterValue(t testing.TB, m *metrics.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			switch {
			case s.GetCounter() != nil:
				sum += s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				sum += s.GetGauge().GetValue()
			}
		}
	}
	return sum
}
