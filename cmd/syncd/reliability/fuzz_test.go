package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// fuzzServer starts one syncd for a fuzz target (stopped by f.Cleanup) with tenant
// "fz" (small quota) and returns its address and a write token.
func fuzzServer(f *testing.F) (addr, token string, logs *logBuf) {
	f.Helper()
	logs = &logBuf{}
	s := syncdtest.Start(f, syncdtest.Options{Config: map[string]any{"limits": nil}, Logs: logs})
	s.Tenant(f, "fz", tenants.Options{Quota: 16 << 20, MaxEntries: 2000})
	return s.Addr(), s.TokenTTL(f, "fz", "fuzzer", "write", 24*time.Hour), logs
}

// FuzzServerRequest sends arbitrary HTTP/1.1 requests (method, target with query,
// extra header lines, body) with a valid tenant token to a real syncd. The server
// must answer within 10 s, never with a 5xx other than 507, and every error answer of
// the application carries SPEC §3's JSON error with a known code; no handler panics.
func FuzzServerRequest(f *testing.F) {
	addr, tok, logs := fuzzServer(f)
	seeds := []struct{ method, target, headers string }{
		{"GET", "/api/list?recursive=true", ""},
		{"GET", "/api/list?path=..%2F..&recursive=maybe", ""},
		{"PUT", "/api/files/a/b.txt", "X-Content-SHA256: 00\nIf-Match: \"x\""},
		{"PUT", "/api/files/%2e%2e/x", "Content-Encoding: gzip"},
		{"PUT", "/api/files/x.txt", "Expect: 100-continue\nIf-None-Match: *\nX-Modified: 1999-99-99"},
		{"GET", "/api/files/x.txt", "Range: bytes=5-1,0-\nIf-Range: \"zz\"\nIf-None-Match: W/\"a\", *"},
		{"GET", "/api/files/x.txt", "Range: bytes=-0"},
		{"DELETE", "/api/files/d?recursive=true&if_seq=-1", "If-Match: *"},
		{"POST", "/api/move", "Content-Type: application/json"},
		{"POST", "/api/mkdir", "Content-Type: text/plain"},
		{"GET", "/api/changes?since=-5&limit=999999999&epoch=%00", ""},
		{"GET", "/api/versions?path=CON.txt", ""},
		{"POST", "/api/restore", "Content-Type: application/json"},
		{"GET", "/api/list?token=abc", ""},
		{"GET", "/api/files/\u202e.txt", "Authorization: Bearer x"},
		{"GET", "/ws", "Upgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Version: 13\nSec-WebSocket-Key: x\nOrigin: null"},
		{"GET", "/admin/tenants", ""},
	}
	bodies := [][]byte{nil, []byte(`{"from":"a","to":"../b"}`), []byte(`{"path":"x","path":"y"}`), []byte(`{"path":"` + strings.Repeat("a/", 3000) + `"}`), []byte("\xff\xfe")}
	for i, s := range seeds {
		f.Add(s.method, s.target, s.headers, bodies[i%len(bodies)])
	}
	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte) {
		if len(body) > 1<<20 || len(headers) > 16<<10 || len(target) > 16<<10 {
			return
		}
		if !validToken(method) || strings.ContainsAny(target, " \r\n") || target == "" {
			return // not a request line at all: net/http's business, not ours
		}
		var req bytes.Buffer
		fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n", method, target, addr, tok)
		for _, line := range strings.Split(headers, "\n") {
			if line = strings.TrimRight(line, "\r"); line == "" || strings.ContainsAny(line, "\r\x00") {
				continue
			}
			name, _, ok := strings.Cut(line, ":")
			if !ok || strings.EqualFold(name, "Content-Length") || strings.EqualFold(name, "Transfer-Encoding") || strings.EqualFold(name, "Host") || strings.EqualFold(name, "Connection") {
				continue
			}
			req.WriteString(line + "\r\n")
		}
		fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n", len(body))
		req.Write(body)

		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req.Bytes()); err != nil {
			return // the server may refuse and close before reading it all
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no answer within 10 s to %s %q", method, target)
			}
			return // connection closed: acceptable for an unparsable request
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusInsufficientStorage {
			t.Fatalf("%s %q → %d %s\nheaders %q\nsyncd logs:\n%s", method, target, resp.StatusCode, b, headers, tail(logs.String(), 20))
		}
		if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			var e struct {
				Error struct {
					Code    protocol.Code `json:"code"`
					Message string        `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
				t.Fatalf("%s %q → %d with a body that is not SPEC's error: %s", method, target, resp.StatusCode, b)
			}
			if strings.Contains(string(b), tok) {
				t.Fatalf("the token was echoed back")
			}
		}
		if strings.Contains(logs.String(), "panic") {
			t.Fatalf("a handler panicked:\n%s", tail(logs.String(), 40))
		}
	})
}

// validToken reports whether s is an HTTP token (a plausible method).
func validToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return false
		}
	}
	return true
}

// FuzzWebSocketSession sends arbitrary text frames (newline-separated in the input) on
// an authenticated /ws connection of a real syncd. Each frame gets an answer or the
// connection is closed with a SPEC close code (1008, 1009, 4001…) — never 1011 or a
// hang — and the server keeps accepting new connections.
func FuzzWebSocketSession(f *testing.F) {
	addr, tok, logs := fuzzServer(f)
	base := "http://" + addr
	for _, s := range []string{
		`{"type":"Subscribe","client_id":"c1","since":0}` + "\n" + `{"type":"Ping"}`,
		`{"type":"Subscribe","client_id":"","since":-1,"epoch":"zz","batch":true}`,
		`{"type":"FileOperation","operation":{"Delete":{"metadata":{"path":"../x"}}},"operation_id":"o"}`,
		`{"type":"FileOperation","operation":{"Move":{"from":"a","metadata":{"path":".syncspace/x"}}}}`,
		`{"type":"FileOperation","operation":{"Create":{"metadata":{"path":"d","is_directory":true}},"Delete":{"metadata":{"path":"d"}}}}`,
		`{"type":"Refresh","token":"not-a-token"}`,
		`{"type":"Auth","token":"x"}`,
		`{"type":"Nope"}` + "\n" + `[1,2,3]` + "\n" + `{"type":1}` + "\n" + `null`,
		`{"type":"Ping"}{"type":"Ping"}`,
		`{"type":"Subscribe","client_id":"c","since":9223372036854775807}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		frames := strings.Split(input, "\n")
		if len(frames) > 32 || len(input) > 256<<10 {
			return
		}
		ws, _, err := dialWS(context.Background(), base, tok)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer ws.Close()
		closed := make(chan int, 1)
		go func() {
			_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
			for {
				_, b, err := ws.ReadMessage()
				if err != nil {
					select {
					case closed <- closeCodeOf(err):
					default: // a Pong was reported already
					}
					return
				}
				if strings.Contains(string(b), `"Pong"`) {
					select { // the server answered: it is alive
					case closed <- 0:
					default:
					}
				}
			}
		}()
		for _, fr := range frames {
			_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := ws.WriteMessage(websocket.TextMessage, []byte(fr)); err != nil {
				break
			}
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"Ping"}`))
		var code int
		select {
		case code = <-closed:
		case <-time.After(20 * time.Second):
			t.Fatalf("no Pong and no close within 20 s for %q", input)
		}
		switch code {
		case 0, protocol.ClosePolicyViolation, protocol.CloseTooBig, protocol.CloseUnauthenticated, protocol.CloseForbidden, protocol.CloseTokenRevoked:
		default:
			t.Fatalf("closed with %d after %q\nsyncd logs:\n%s", code, input, tail(logs.String(), 20))
		}
		if strings.Contains(logs.String(), "panic") {
			t.Fatalf("the hub panicked:\n%s", tail(logs.String(), 40))
		}
	})
}

// FuzzParseServer checks the client's --server URL rules (SPEC §1): whatever the
// input, an accepted URL is http(s) with a matching ws(s) form, never carries
// credentials, and plain http only goes to a loopback host.
func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080", "https://sync.example.com/base/", "ws://localhost/ws", "wss://h/ws",
		"http://example.com", "http://user:pw@127.0.0.1/", "http://[::1]:80", "http://127.0.0.1.nip.io", "HTTP://LOCALHOST",
		"http://0x7f.1", "http://localhost.evil.com", "ftp://x", "//127.0.0.1", "http://127.0.0.1?token=x", "http://[::ffff:127.0.0.1]/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		h, w, err := syncclient.ParseServer(raw)
		if err != nil {
			return
		}
		if h.User != nil || w.User != nil || h.RawQuery != "" {
			t.Fatalf("%q: accepted with credentials or a query", raw)
		}
		switch {
		case h.Scheme == "https" && w.Scheme == "wss":
		case h.Scheme == "http" && w.Scheme == "ws":
			if !syncclient.IsLoopbackHost(h.Hostname()) {
				t.Fatalf("%q: plain http to non-loopback host %q", raw, h.Hostname())
			}
			if ip := net.ParseIP(h.Hostname()); ip != nil && !ip.IsLoopback() {
				t.Fatalf("%q: plain http to %s", raw, ip)
			}
		default:
			t.Fatalf("%q: schemes %s / %s", raw, h.Scheme, w.Scheme)
		}
		if h.Host != w.Host || !strings.HasSuffix(w.Path, "/ws") {
			t.Fatalf("%q: http %s and ws %s disagree", raw, h, w)
		}
	})
}

// feedRemote is a hostile server for the client engine (fault injection): its list,
// change feed and downloads come from the fuzzer; every write is refused.
type feedRemote struct {
	entries []protocol.Metadata
	events  []protocol.Event
	epoch   string
	drained chan struct{} // closed once a live stream has sent every event
	dOnce   sync.Once     // a reconnecting engine opens several streams
}

func (r *feedRemote) List(ctx context.Context, head func(string, int64) error, each func(protocol.Metadata) error) error {
	if err := head(r.epoch, 1); err != nil {
		return err
	}
	for _, m := range r.entries {
		if err := each(m); err != nil {
			return err
		}
	}
	return nil
}

// Download serves "content of PATH" for any path, with the hash of that content.
func (r *feedRemote) Download(ctx context.Context, p string, w io.Writer) (protocol.Metadata, error) {
	content := "content of " + p
	_, err := io.WriteString(w, content)
	return protocol.Metadata{Path: p, Hash: hashOf([]byte(content)), Size: int64(len(content)), Seq: 1}, err
}

func (r *feedRemote) Upload(context.Context, string, io.Reader, int64, engine.UploadOptions) (protocol.Metadata, bool, error) {
	return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeForbidden, "read only")
}

func (r *feedRemote) Delete(context.Context, string, engine.DeleteOptions) (int64, error) {
	return 0, protocol.Errorf(protocol.CodeForbidden, "read only")
}

func (r *feedRemote) Mkdir(context.Context, string, string) (protocol.Metadata, bool, error) {
	return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeForbidden, "read only")
}

func (r *feedRemote) Move(context.Context, string, string, string, string) (protocol.Metadata, error) {
	return protocol.Metadata{}, protocol.Errorf(protocol.CodeForbidden, "read only")
}

func (r *feedRemote) Changes(ctx context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error) {
	var evs []protocol.Event
	for _, ev := range r.events {
		if ev.Seq > since && len(evs) < max(limit, 1) {
			evs = append(evs, ev)
		}
	}
	last := since
	if len(evs) > 0 {
		last = evs[len(evs)-1].Seq
	}
	return protocol.ChangesPage{Epoch: r.epoch, Seq: last, Events: evs}, nil
}

// Subscribe streams the events after since (all of them if since < 0 or the epoch
// differs), then closes drained and blocks until closed.
func (r *feedRemote) Subscribe(ctx context.Context, clientID string, since int64, epoch string) (engine.Stream, protocol.Message, error) {
	if r.drained == nil {
		return nil, protocol.Message{}, errors.New("no WebSocket in this test")
	}
	st := &feedStream{closed: make(chan struct{}), remote: r}
	for _, ev := range r.events {
		if since < 0 || epoch != r.epoch || ev.Seq > since {
			op := ev.Operation
			st.msgs = append(st.msgs, protocol.Message{Type: protocol.TypeFileOperation, Seq: ev.Seq, Operation: &op, SourceClient: ev.SourceClient})
		}
	}
	return st, protocol.Message{Type: protocol.TypeAck, OperationID: protocol.SubscribeOperationID, Seq: 1, Epoch: r.epoch}, nil
}

// feedStream is feedRemote's live subscription.
type feedStream struct {
	mu     sync.Mutex
	msgs   []protocol.Message
	closed chan struct{}
	remote *feedRemote
	once   sync.Once
}

func (s *feedStream) Recv(ctx context.Context) (protocol.Message, error) {
	s.mu.Lock()
	if len(s.msgs) > 0 {
		m := s.msgs[0]
		s.msgs = s.msgs[1:]
		s.mu.Unlock()
		return m, nil
	}
	s.mu.Unlock()
	s.remote.dOnce.Do(func() { close(s.remote.drained) })
	select {
	case <-ctx.Done():
		return protocol.Message{}, ctx.Err()
	case <-s.closed:
		return protocol.Message{}, errors.New("stream closed")
	}
}

func (s *feedStream) Close() error {
	s.once.Do(func() { close(s.closed) })
	return nil
}

var _ engine.Remote = (*feedRemote)(nil)

// FuzzClientServerFeed feeds the client engine a hostile server: a listing and a
// change feed decoded from the fuzzer's JSON (paths that escape, reach .syncspace,
// collide under case folding, moves of the root, absurd seqs). SyncOnce must return
// within its deadline without panicking, write nothing outside DIR, and leave
// nothing in DIR/.syncspace but its own files.
func FuzzClientServerFeed(f *testing.F) {
	meta := func(p string, dir bool) protocol.Metadata {
		m := protocol.Metadata{Path: p, IsDirectory: dir, Seq: 1}
		if !dir {
			m.Hash = hashOf([]byte("content of " + p))
			m.Size = int64(len("content of " + p))
		}
		return m
	}
	enc := func(v any) []byte { b, _ := json.Marshal(v); return b }
	f.Add(enc([]protocol.Metadata{meta("a.txt", false), meta("d", true), meta("d/b.txt", false)}), enc([]protocol.Event{
		{Type: protocol.TypeFileOperation, Seq: 2, Operation: protocol.NewOperation(protocol.OpMove, "d", meta("e", true))},
		{Type: protocol.TypeFileOperation, Seq: 3, Operation: protocol.NewOperation(protocol.OpDelete, "", meta("a.txt", false))},
	}))
	f.Add(enc([]protocol.Metadata{meta("../x", false), meta(".syncspace/state.json", false), meta("A.txt", false), meta("a.txt", false)}), enc([]protocol.Event{
		{Type: protocol.TypeFileOperation, Seq: 2, Operation: protocol.NewOperation(protocol.OpMove, "a.txt", meta("../../out.txt", false))},
		{Type: protocol.TypeFileOperation, Seq: 2, Operation: protocol.NewOperation(protocol.OpCreate, "", meta("/etc/passwd", false))},
		{Type: protocol.TypeFileOperation, Seq: -1, Operation: protocol.NewOperation(protocol.OpDelete, "", meta("", true))},
	}))
	f.Add([]byte(`[{"path":"x","is_directory":true},{"path":"x/y","hash":"zz"},{"path":"x","hash":"00"}]`), []byte(`[{"seq":9223372036854775807,"operation":{}}]`))
	f.Add([]byte(`null`), []byte(`[{"seq":2,"operation":{"Move":{"from":"","metadata":{"path":"q","is_directory":true}}}}]`))
	f.Fuzz(func(t *testing.T, listJSON, eventsJSON []byte) {
		r := &feedRemote{epoch: "fuzz-epoch"}
		if json.Unmarshal(listJSON, &r.entries) != nil || json.Unmarshal(eventsJSON, &r.events) != nil {
			return
		}
		if len(r.entries) > 200 || len(r.events) > 200 {
			return
		}
		runHostileFeed(t, r, false)
	})
}

// runHostileFeed syncs a fresh folder against the hostile server r — once (SyncOnce),
// or live (Run with the WebSocket stream of r.events) — and checks that nothing was
// written outside DIR, every name written passes SPEC §3, and DIR/.syncspace holds
// only the engine's own files.
func runHostileFeed(t *testing.T, r *feedRemote, live bool) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "sentinel"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(engine.Options{Root: dir, Remote: r, ClientID: "fuzz", Realtime: live, Interval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	if live {
		r.drained = make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		stopped := false
		select {
		case <-r.drained:
			time.Sleep(150 * time.Millisecond) // let the last events apply
		case <-done:
			stopped = true // the engine may give up on a hostile feed; it must not panic or escape
		case <-ctx.Done():
		}
		timedOut := ctx.Err() != nil
		cancel()
		if !stopped {
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("Run did not stop within 20 s of its context ending")
			}
		}
		if timedOut {
			t.Fatalf("the engine did not consume the stream within 20 s")
		}
	} else {
		_, _ = e.SyncOnce(ctx)
		timedOut := ctx.Err() != nil
		cancel()
		if timedOut {
			t.Fatalf("SyncOnce did not finish within 20 s")
		}
	}
	e.Close()
	ents, _ := os.ReadDir(parent)
	if len(ents) != 2 {
		t.Fatalf("something was written next to DIR: %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(parent, "sentinel")); string(b) != "keep" {
		t.Fatalf("a file outside DIR changed")
	}
	// Every name the engine materialized passes SPEC §3's rules.
	tree, err := diskTree(dir, func(rel string, d fs.DirEntry) bool { return rel == ".syncspace" })
	if err != nil {
		t.Fatal(err)
	}
	for rel := range tree {
		if clean, err := pathrule.Clean(rel); err != nil || clean != rel {
			t.Fatalf("the engine wrote %q, which SPEC §3 refuses (%v)", rel, err)
		}
	}
	st, _ := os.ReadDir(filepath.Join(dir, ".syncspace"))
	for _, s := range st {
		if s.Name() != "state.json" && s.Name() != "lock" {
			t.Fatalf("unexpected file in .syncspace: %s", s.Name())
		}
	}
}

// FuzzClientEvents drives the client engine live (Run, realtime) with a hostile
// server whose listing and WebSocket events come from a small byte program over a
// pool of normal, hostile and fuzzer-made paths: creates, deletes, moves (of files
// and directories), updates with lying hashes, duplicated and skipped seqs. The
// engine must not panic, hang, write outside DIR or write a name SPEC §3 refuses.
func FuzzClientEvents(f *testing.F) {
	f.Add("", []byte{0, 0, 0, 1, 1, 0, 2, 2, 0, 4, 1, 3, 3, 0, 0})
	f.Add("x/y.txt\n../up\nCON", []byte{2, 6, 0, 2, 7, 0, 4, 0, 7, 0x84, 1, 6, 0x42, 2, 0, 5, 0, 0, 3 | 8, 1, 0})
	f.Add(".SyncSpace/x\nd/../../e", []byte{1, 1, 0, 2, 8, 0, 12, 1, 8, 4 | 8, 1, 9, 3 | 8, 9, 0})
	f.Fuzz(func(t *testing.T, extra string, program []byte) {
		if len(program) > 120 || len(extra) > 2048 {
			return
		}
		pool := []string{"a.txt", "d", "d/b.txt", "e", "../x", ".syncspace/state.json", "A.TXT", "d/c"}
		for _, p := range strings.Split(extra, "\n") {
			if p != "" && len(pool) < 16 {
				pool = append(pool, p)
			}
		}
		meta := func(p string, dir bool, seq int64) protocol.Metadata {
			m := protocol.Metadata{Path: p, IsDirectory: dir, Seq: seq, Modified: time.Unix(1700000000, 0).UTC()}
			if !dir {
				c := "content of " + p
				m.Hash, m.Size = hashOf([]byte(c)), int64(len(c))
			}
			return m
		}
		r := &feedRemote{epoch: "fuzz-epoch"}
		seq := int64(1)
		for i := 0; i+2 < len(program); i += 3 {
			op, p, q := program[i], pool[int(program[i+1])%len(pool)], pool[int(program[i+2])%len(pool)]
			dir := op&8 != 0
			switch op % 8 {
			case 0:
				r.entries = append(r.entries, meta(p, false, 1))
				continue
			case 1:
				r.entries = append(r.entries, meta(p, true, 1))
				continue
			}
			switch {
			case op&0x80 != 0: // duplicate seq
			case op&0x40 != 0:
				seq += 5 // a gap
			default:
				seq++
			}
			var o protocol.Operation
			switch op % 8 {
			case 2, 6:
				o = protocol.NewOperation(protocol.OpCreate, "", meta(p, dir, seq))
			case 3:
				o = protocol.NewOperation(protocol.OpDelete, "", meta(p, dir, seq))
			case 4, 7:
				o = protocol.NewOperation(protocol.OpMove, p, meta(q, dir, seq))
			case 5:
				m := meta(p, false, seq)
				m.Hash = hashOf([]byte("a lie"))
				o = protocol.NewOperation(protocol.OpUpdate, "", m)
			}
			r.events = append(r.events, protocol.Event{Type: protocol.TypeFileOperation, Seq: seq, Operation: o, SourceClient: "other"})
		}
		runHostileFeed(t, r, true)
	})
}
