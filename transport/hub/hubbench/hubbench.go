// Package hubbench measures the /ws hub's fan-out against a minimal gorilla broadcast
// server run in the same process on the same machine: N subscribers of one tenant,
// ~200-byte events, delivered events per second and publish→receive latency
// percentiles, printed side by side with ratios. Both servers get the same real
// gorilla clients, the same events and the same flow control (at most Window events
// in flight, so that neither drops a subscriber), so the ratio compares the servers.
//
// The hub runs with the real auth service (tokens verified on a temporary SQLite
// file); events are injected through the hub's registry listener, so the store's
// write speed does not limit the measurement. cmd tools and tests call Run.
package hubbench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/sqlite"
	"github.com/syncspace/syncspace/transport/hub"
)

// Config describes one fan-out run. Zero fields take the defaults in brackets.
type Config struct {
	Tenants     int  // tenants [1]; subscribers are spread evenly, events round-robin
	Subscribers int  // subscribers in total [2000]
	Events      int  // events published [500]
	Window      int  // events in flight at most, per tenant [128]
	Batch       bool // subscribe with batch: true (hub only; the minimal server has no batching)
}

func (c Config) withDefaults() Config {
	if c.Tenants <= 0 {
		c.Tenants = 1
	}
	if c.Subscribers <= 0 {
		c.Subscribers = 2000
	}
	if c.Events <= 0 {
		c.Events = 500
	}
	if c.Window <= 0 {
		c.Window = 128
	}
	return c
}

// Result is one server's measurement.
type Result struct {
	Name       string
	Deliveries int64 // events received, summed over subscribers
	Elapsed    time.Duration
	PerSecond  float64 // Deliveries / Elapsed
	P50, P99   time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("%-22s %12.0f events/s   p50 %8s   p99 %8s", r.Name, r.PerSecond,
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
}

// Compare writes the results side by side, with each one's ratio to base.
func Compare(w io.Writer, base Result, others ...Result) {
	fmt.Fprintln(w, base.String())
	for _, o := range others {
		fmt.Fprintf(w, "%s   (%.2fx events/s, p99 %.2fx of %s)\n", o, o.PerSecond/base.PerSecond,
			float64(o.P99)/float64(base.P99), base.Name)
	}
}

// event builds seq's ~200-byte event as the hub would send it.
func event(tenant int, seq int64) protocol.Event {
	meta := protocol.Metadata{
		Path:     fmt.Sprintf("bench/t%d/file-%08d.txt", tenant, seq),
		Size:     1024,
		Modified: time.Unix(1700000000, 0).UTC(),
		Hash:     strings.Repeat("ab", 32),
		Seq:      seq,
	}
	return protocol.Event{Type: protocol.TypeFileOperation, Seq: seq,
		Operation: protocol.NewOperation(protocol.OpUpdate, "", meta), SourceClient: "publisher", SourceSubject: "bench"}
}

// tracker records publish times and deliveries; it is shared by the clients.
type tracker struct {
	pub []atomic.Int64 // unix nanos by global event index
	got []atomic.Int32 // deliveries by global event index
}

// measureHook, when set (by tests), is called right before the first event is
// published (true) and right after the last one was delivered everywhere (false).
var measureHook func(start bool)

// publisher publishes one event of the given index to tenant t.
type publisher func(t int, idx int)

// run dials the subscribers, publishes cfg.Events events with flow control and
// collects the latencies.
func run(ctx context.Context, name string, cfg Config, dial func(tenant int) (*websocket.Conn, error), ready func() bool, pub publisher) (Result, error) {
	tr := &tracker{pub: make([]atomic.Int64, cfg.Events), got: make([]atomic.Int32, cfg.Events)}
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	lat := make([][]time.Duration, cfg.Subscribers)
	var wg sync.WaitGroup
	errc := make(chan error, cfg.Subscribers)
	for i := 0; i < cfg.Subscribers; i++ {
		t := i % cfg.Tenants
		c, err := dial(t)
		if err != nil {
			return Result{}, fmt.Errorf("%s: dial subscriber %d: %w", name, i, err)
		}
		conns = append(conns, c)
		want := cfg.Events / cfg.Tenants
		if t < cfg.Events%cfg.Tenants {
			want++
		}
		wg.Add(1)
		go func(i int, c *websocket.Conn, want int) {
			defer wg.Done()
			l := make([]time.Duration, 0, want)
			for len(l) < want {
				_, data, err := c.ReadMessage()
				if err != nil {
					errc <- fmt.Errorf("subscriber %d after %d events: %w", i, len(l), err)
					return
				}
				now := time.Now().UnixNano()
				for _, line := range bytes.Split(data, []byte{'\n'}) {
					idx := indexOf(line)
					if idx < 0 || idx >= cfg.Events {
						continue
					}
					l = append(l, time.Duration(now-tr.pub[idx].Load()))
					tr.got[idx].Add(1)
				}
			}
			lat[i] = l
		}(i, c, want)
	}
	for !ready() {
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	perEvent := func(idx int) int32 {
		n := cfg.Subscribers / cfg.Tenants
		if idx%cfg.Tenants < cfg.Subscribers%cfg.Tenants {
			n++
		}
		return int32(n)
	}
	if measureHook != nil {
		measureHook(true)
	}
	start := time.Now()
	for idx := 0; idx < cfg.Events; idx++ {
		if back := idx - cfg.Window*cfg.Tenants; back >= 0 {
			for tr.got[back].Load() < perEvent(back) {
				select {
				case err := <-errc:
					return Result{}, fmt.Errorf("%s: %w", name, err)
				case <-ctx.Done():
					return Result{}, ctx.Err()
				default:
				}
				time.Sleep(20 * time.Microsecond)
			}
		}
		tr.pub[idx].Store(time.Now().UnixNano())
		pub(idx%cfg.Tenants, idx)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case err := <-errc:
		return Result{}, fmt.Errorf("%s: %w", name, err)
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	elapsed := time.Since(start)
	if measureHook != nil {
		measureHook(false)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := Result{Name: name, Deliveries: int64(len(all)), Elapsed: elapsed}
	r.PerSecond = float64(r.Deliveries) / elapsed.Seconds()
	if len(all) > 0 {
		r.P50 = all[len(all)/2]
		r.P99 = all[len(all)*99/100]
	}
	return r, nil
}

// indexOf extracts the benchmark index from an event line ("file-%08d").
func indexOf(line []byte) int {
	i := bytes.Index(line, []byte("file-"))
	if i < 0 || i+13 > len(line) {
		return -1
	}
	n, err := strconv.Atoi(string(line[i+5 : i+13]))
	if err != nil {
		return -1
	}
	return n - 1
}

// ---- the syncspace hub --------------------------------------------------------------

// source is the benchmark's event source: it plays the tenants registry's listener
// and tenant lookup; spaces only answer Head (nothing else is used by subscribers).
type source struct {
	mu        sync.Mutex
	listeners []func(string, protocol.Event)
	ids       map[string]string
	seqs      map[string]*atomic.Int64
}

func (s *source) Listen(fn func(string, protocol.Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, fn)
}

func (s *source) LookupTenant(_ context.Context, name string) (string, error) {
	if id, ok := s.ids[name]; ok {
		return id, nil
	}
	return "", protocol.Errorf(protocol.CodeNotFound, "no such tenant")
}

func (s *source) OpenSpace(_ context.Context, name string) (hub.Space, error) {
	if _, ok := s.ids[name]; !ok {
		return nil, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	return &space{seq: s.seqs[name]}, nil
}

func (s *source) publish(tenant string, ev protocol.Event) {
	s.seqs[tenant].Store(ev.Seq)
	s.mu.Lock()
	ls := s.listeners
	s.mu.Unlock()
	for _, fn := range ls {
		fn(tenant, ev)
	}
}

var errReadOnly = protocol.Errorf(protocol.CodeForbidden, "benchmark space is read-only")

type space struct{ seq *atomic.Int64 }

func (s *space) Head() (string, int64) { return "bench", s.seq.Load() }
func (s *space) Changes(context.Context, int64, string, int) (protocol.ChangesPage, error) {
	return protocol.ChangesPage{}, protocol.Errorf(protocol.CodeResyncRequired, "no history")
}
func (s *space) Stat(context.Context, string) (protocol.Metadata, error) {
	return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "not found")
}
func (s *space) Delete(context.Context, string, tenants.DeleteOptions) (int64, error) {
	return 0, errReadOnly
}
func (s *space) Mkdir(context.Context, string, tenants.Source) (protocol.Metadata, bool, error) {
	return protocol.Metadata{}, false, errReadOnly
}
func (s *space) Move(context.Context, string, string, string, tenants.Source) (protocol.Metadata, error) {
	return protocol.Metadata{}, errReadOnly
}

// HubServer is a running syncspace hub on loopback for benchmarks.
type HubServer struct {
	URL     string
	Hub     *hub.Hub
	src     *source
	auth    *auth.Service
	srv     *http.Server
	ln      net.Listener
	dir     string
	cancel  context.CancelFunc
	closeDB func() error
}

// StartHub starts the hub with the real auth service on a temporary data directory,
// serving tenants "t0".."t<n-1>".
func StartHub(ctx context.Context, nTenants int, opts hub.Options) (*HubServer, error) {
	dir, err := os.MkdirTemp("", "hubbench-")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	hs := &HubServer{dir: dir, cancel: cancel}
	fail := func(err error) (*HubServer, error) { hs.Close(); return nil, err }
	db, err := sqlite.Open(ctx, filepath.Join(dir, "syncd.db"))
	if err != nil {
		return fail(err)
	}
	hs.closeDB = db.Close
	src := &source{ids: map[string]string{}, seqs: map[string]*atomic.Int64{}}
	for i := 0; i < nTenants; i++ {
		n := fmt.Sprint("t", i)
		src.ids[n] = fmt.Sprint("id-", i)
		src.seqs[n] = new(atomic.Int64)
	}
	hs.src = src
	logger := slog.New(slog.DiscardHandler)
	svc, err := sqlitestore.OpenService(ctx, db, auth.Config{KeyDir: filepath.Join(dir, "keys")}, src, logger)
	if err != nil {
		return fail(err)
	}
	hs.auth = svc
	go svc.Run(ctx)
	hs.Hub = hub.New(opts, hub.Deps{Registry: src, Auth: svc, Logger: logger})
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/ws", hs.Hub.Handler)
	hs.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	hs.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.srv.Serve(hs.ln) }()
	hs.URL = "ws://" + hs.ln.Addr().String() + "/ws"
	return hs, nil
}

// Token issues a read token for tenant "t<i>".
func (hs *HubServer) Token(ctx context.Context, tenant int) (string, error) {
	tok, _, err := hs.auth.IssueTenantToken(ctx, fmt.Sprint("t", tenant), "bench", auth.RoleRead, time.Hour)
	return tok, err
}

// Publish injects seq's event into tenant "t<i>" as a committed change.
func (hs *HubServer) Publish(tenant int, ev protocol.Event) {
	hs.src.publish(fmt.Sprint("t", tenant), ev)
}

// Close shuts the hub and its listener down and removes the data directory.
func (hs *HubServer) Close() {
	if hs.Hub != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = hs.Hub.Shutdown(ctx)
		cancel()
	}
	if hs.srv != nil {
		_ = hs.srv.Close()
	}
	hs.cancel()
	if hs.closeDB != nil {
		_ = hs.closeDB()
	}
	_ = os.RemoveAll(hs.dir)
}

// DialSubscriber connects with a bearer token and subscribes, waiting for the Ack.
func DialSubscriber(url, token, clientID string, batch bool) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial(url, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		return nil, err
	}
	if err := c.WriteJSON(map[string]any{"type": "Subscribe", "client_id": clientID, "batch": batch}); err != nil {
		c.Close()
		return nil, err
	}
	_, data, err := c.ReadMessage()
	if err != nil {
		c.Close()
		return nil, err
	}
	if !bytes.Contains(data, []byte(`"Ack"`)) {
		c.Close()
		return nil, errors.New("no subscribe Ack: " + string(data))
	}
	return c, nil
}

// RunHub measures the syncspace hub.
func RunHub(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	hs, err := StartHub(ctx, cfg.Tenants, hub.Options{PerToken: cfg.Subscribers + 1})
	if err != nil {
		return Result{}, err
	}
	defer hs.Close()
	toks := make([]string, cfg.Tenants)
	for i := range toks {
		if toks[i], err = hs.Token(ctx, i); err != nil {
			return Result{}, err
		}
	}
	n := 0
	name := "syncspace hub"
	if cfg.Batch {
		name += " (batch)"
	}
	return run(ctx, name, cfg, func(t int) (*websocket.Conn, error) {
		n++
		return DialSubscriber(hs.URL, toks[t], fmt.Sprint("sub-", n), cfg.Batch)
	}, func() bool { return true }, func(t, idx int) {
		hs.Publish(t, event(t, int64(idx+1)))
	})
}

// ---- the minimal gorilla broadcast server ---------------------------------------------

// minimal is the textbook gorilla hub: one goroutine owns the client set, each
// client has a 256-message channel and a writer goroutine writing one message per
// frame; a full channel drops the client.
type minimal struct {
	upgrader websocket.Upgrader
	mu       sync.Mutex
	clients  map[int]map[*mclient]bool // by tenant
}

type mclient struct {
	c    *websocket.Conn
	send chan []byte
}

func (m *minimal) serve(w http.ResponseWriter, r *http.Request) {
	t, _ := strconv.Atoi(r.URL.Query().Get("t"))
	c, err := m.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	cl := &mclient{c: c, send: make(chan []byte, 256)}
	m.mu.Lock()
	if m.clients[t] == nil {
		m.clients[t] = map[*mclient]bool{}
	}
	m.clients[t][cl] = true
	m.mu.Unlock()
	go func() {
		for msg := range cl.send {
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
				break
			}
		}
		c.Close()
	}()
	go func() {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				break
			}
		}
		m.mu.Lock()
		if m.clients[t][cl] {
			delete(m.clients[t], cl)
			close(cl.send)
		}
		m.mu.Unlock()
	}()
}

func (m *minimal) broadcast(t int, msg []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for cl := range m.clients[t] {
		select {
		case cl.send <- msg:
		default:
			delete(m.clients[t], cl)
			close(cl.send)
		}
	}
}

// RunMinimal measures the minimal gorilla broadcast server.
func RunMinimal(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	m := &minimal{clients: map[int]map[*mclient]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(m.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "ws://" + ln.Addr().String() + "/"
	return run(ctx, "minimal gorilla", cfg, func(t int) (*websocket.Conn, error) {
		c, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("%s?t=%d", url, t), nil)
		return c, err
	}, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		n := 0
		for _, set := range m.clients {
			n += len(set)
		}
		return n == cfg.Subscribers
	}, func(t, idx int) {
		b, _ := json.Marshal(event(t, int64(idx+1)))
		m.broadcast(t, b)
	})
}
