package bench

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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

// runHubAlone: the /ws hub alone (real auth, events handed to it the way the registry
// hands committed changes, no store and no HTTP write) against the minimal gorilla hub,
// one tenant: delivered events/s, this process's CPU per delivery, and latency with
// two events in flight per subscriber. It isolates the hub from the durable PUTs that
// dominate the fanout scenario.
func runHubAlone(ctx context.Context, r *runner) []Result {
	const scen = "hub"
	nsubs := r.size(2000, 60)
	warm, measure := r.dur(3*time.Second, time.Second), r.dur(10*time.Second, 2*time.Second)
	dir, err := r.dir(scen)
	if err != nil {
		return []Result{failed(scen, "events/s", "", err)}
	}
	cl := newHTTPClient(fanPubs)
	measureBoth := func(mk func() (*hubTarget, func(), error)) (tput, lat fanStats, err error) {
		for i, window := range []int{fanWindow, 2} {
			t, stop, err := mk()
			if err != nil {
				return tput, lat, err
			}
			st, err := fanRun(ctx, t, 1, nsubs, fanPubs, window, warm, measure, 0)
			stop()
			if err != nil {
				return tput, lat, err
			}
			if i == 0 {
				tput = st
			} else {
				lat = st
			}
		}
		return tput, lat, nil
	}
	hs, hsLat, err := measureBoth(func() (*hubTarget, func(), error) { return startHubAlone(ctx, dir, 1) })
	if err != nil {
		return []Result{failed(scen, "events/s", "", err)}
	}
	ms, msLat, err := measureBoth(func() (*hubTarget, func(), error) {
		u, stop, err := serveLocal(NewMiniHub())
		if err != nil {
			return nil, nil, err
		}
		return miniHubTarget(u, cl), stop, nil
	})
	if err != nil {
		return []Result{withSyncspace(failed(scen, "events/s", "minimal gorilla hub", err), hs.eventsPerSec)}
	}
	r.log.Info("hub alone", "events/s", int(hs.eventsPerSec), "cpu/delivery", hs.cpuPerDelivery, "p99", hsLat.p99)
	notes := fmt.Sprintf("%d subscribers of one tenant, ~250-byte events injected after commit (no store), %d publishers, ≤ %d events in flight per subscriber, %s window; syncspace subscribers use batch:true",
		nsubs, fanPubs, fanWindow, measure)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return []Result{
		row(scen, "events/s", hs.eventsPerSec, "minimal gorilla hub", ms.eventsPerSec, notes),
		row(scen, "µs CPU/delivery", us(hs.cpuPerDelivery), "minimal gorilla hub", us(ms.cpuPerDelivery),
			"this process's user+system CPU per delivered event over the same window (the subscribers' clients run here too and cost the same for both)"),
		row(scen, "ms p99", ms2(hsLat.p99), "minimal gorilla hub", ms2(msLat.p99), "publish→receive with at most 2 events in flight per subscriber"),
	}
}

// startHubAlone starts the syncspace hub on loopback over hubSource with the real auth
// service on a SQLite file under dir, serving tenants t0..t<n-1>, and returns it as a
// fan-out target with its stop function.
func startHubAlone(ctx context.Context, dir string, nTenants int) (*hubTarget, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	src := newHubSource(nTenants)
	svc, db, err := hubAuth(ctx, filepath.Join(dir, fmt.Sprintf("hub-%d", runSeq.Add(1))), src)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	go svc.Run(ctx)
	logger := slog.New(slog.DiscardHandler)
	h := hub.New(hub.Options{PerToken: 1 << 20}, hub.Deps{Registry: src, Auth: svc, Logger: logger})
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/ws", h.Handler)
	u, stopHTTP, err := serveLocal(e)
	if err != nil {
		cancel()
		db.Close()
		return nil, nil, err
	}
	stop := func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = h.Shutdown(sctx)
		scancel()
		stopHTTP()
		cancel()
		db.Close()
	}
	tokens := make([]string, nTenants)
	for i := range tokens {
		if tokens[i], _, err = svc.IssueTenantToken(ctx, fmt.Sprint("t", i), "bench", auth.RoleRead, time.Hour); err != nil {
			stop()
			return nil, nil, err
		}
	}
	wsURL := "ws" + strings.TrimPrefix(u, "http") + "/ws"
	return &hubTarget{
		name: "syncspace hub",
		dial: func(ctx context.Context, i, g int) (*websocket.Conn, error) {
			return dialSyncspace(ctx, wsURL, tokens[g], i)
		},
		publish: func(_ context.Context, id int64, g int) error {
			src.publish(g, id)
			return nil
		},
	}, stop, nil
}

// hubAuth opens the auth service on a new SQLite file in dir.
func hubAuth(ctx context.Context, dir string, lookup auth.TenantLookup) (*auth.Service, *sql.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "syncd.db"))
	if err != nil {
		return nil, nil, err
	}
	svc, err := sqlitestore.OpenService(ctx, db, auth.Config{KeyDir: filepath.Join(dir, "keys")}, lookup, slog.New(slog.DiscardHandler))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return svc, db, nil
}

// hubSource plays the tenants registry for the hub alone: its listener, its tenant
// lookup, and spaces that only answer Head (all a subscriber without history uses).
type hubSource struct {
	mu        sync.Mutex
	listeners []func(string, protocol.Event)
	tenants   []hubTenant
}

type hubTenant struct {
	name, id string
	mu       *sync.Mutex // one commit at a time per tenant, as in the registry
	seq      *atomic.Int64
}

func newHubSource(n int) *hubSource {
	s := &hubSource{}
	for i := 0; i < n; i++ {
		s.tenants = append(s.tenants, hubTenant{name: fmt.Sprint("t", i), id: fmt.Sprint("id-", i), mu: new(sync.Mutex), seq: new(atomic.Int64)})
	}
	return s
}

func (s *hubSource) tenant(name string) (hubTenant, bool) {
	for _, t := range s.tenants {
		if t.name == name {
			return t, true
		}
	}
	return hubTenant{}, false
}

// Listen registers a listener (hub.Registry), called with the tenant's id.
func (s *hubSource) Listen(fn func(string, protocol.Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, fn)
}

// LookupTenant answers auth's lookups (auth.TenantLookup).
func (s *hubSource) LookupTenant(_ context.Context, name string) (string, error) {
	if t, ok := s.tenant(name); ok {
		return t.id, nil
	}
	return "", protocol.Errorf(protocol.CodeNotFound, "no such tenant")
}

// OpenSpace returns the tenant's Head-only space (hub.Registry).
func (s *hubSource) OpenSpace(_ context.Context, name string) (hub.Space, error) {
	t, ok := s.tenant(name)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	return hubSpace{id: t.id, seq: t.seq}, nil
}

// publish hands event id of tenant g to the listeners with the tenant's next seq.
func (s *hubSource) publish(g int, id int64) {
	t := s.tenants[g]
	t.mu.Lock()
	defer t.mu.Unlock()
	seq := t.seq.Add(1)
	meta := protocol.Metadata{Path: fmt.Sprintf("ev/ev-%d.txt", id), Size: 16,
		Modified: time.Unix(1767323045, 0).UTC(), Hash: fmt.Sprintf("%064d", id), Seq: seq}
	ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: seq,
		Operation: protocol.NewOperation(protocol.OpCreate, "", meta), SourceClient: "publisher", SourceSubject: "bench"}
	s.mu.Lock()
	ls := s.listeners
	s.mu.Unlock()
	for _, fn := range ls {
		fn(t.id, ev)
	}
}

var errHubReadOnly = protocol.Errorf(protocol.CodeForbidden, "benchmark space is read-only")

// hubSpace is a tenant of hubSource: a head, no history, no writes.
type hubSpace struct {
	id  string
	seq *atomic.Int64
}

func (s hubSpace) ID() string            { return s.id }
func (s hubSpace) Head() (string, int64) { return "bench", s.seq.Load() }
func (s hubSpace) Changes(context.Context, int64, string, int) (protocol.ChangesPage, error) {
	return protocol.ChangesPage{}, protocol.Errorf(protocol.CodeResyncRequired, "no history")
}
func (s hubSpace) Stat(context.Context, string) (protocol.Metadata, error) {
	return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "not found")
}
func (s hubSpace) CatchUp(context.Context) {}

func (s hubSpace) FlushPath(context.Context, string) error { return errHubReadOnly }
func (s hubSpace) Delete(context.Context, string, tenants.DeleteOptions) (int64, error) {
	return 0, errHubReadOnly
}
func (s hubSpace) Mkdir(context.Context, string, tenants.Source) (protocol.Metadata, bool, error) {
	return protocol.Metadata{}, false, errHubReadOnly
}
func (s hubSpace) Move(context.Context, string, string, string, tenants.Source) (protocol.Metadata, error) {
	return protocol.Metadata{}, errHubReadOnly
}
