// Package metrics holds syncd's Prometheus collectors (SPEC §3 "GET /metrics"): open
// WebSocket connections by tenant, events broadcast, slow-consumer closes,
// authentication failures, and HTTP request durations labelled by route template and
// status (never by raw path). Everything lives in the Metrics' own registry, never the
// global one, so that several servers in one process (tests) do not collide.
//
// A nil *Metrics is valid: every method is then a no-op, and Handler serves an empty
// registry.
package metrics

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one set of syncd collectors in its own registry.
type Metrics struct {
	reg          *prometheus.Registry
	connections  *prometheus.GaugeVec
	broadcast    prometheus.Counter
	delivered    prometheus.Counter
	slowCloses   prometheus.Counter
	authFailures *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	// observers caches httpDuration's histograms by label set (observer).
	observers  sync.Map // observerKey → prometheus.Observer
	nObservers atomic.Int64
}

// Transports label authentication failures.
const (
	TransportHTTP = "http"
	TransportWS   = "ws"
)

// New returns collectors registered in a new registry, together with the standard Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "syncd", Name: "ws_connections",
			Help: "Open authenticated WebSocket connections by tenant.",
		}, []string{"tenant"}),
		broadcast: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "syncd", Name: "ws_events_broadcast_total",
			Help: "Committed change events broadcast by the tenant hubs.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "syncd", Name: "ws_events_queued_total",
			Help: "Events queued to individual subscribers (one per subscriber per event).",
		}),
		slowCloses: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "syncd", Name: "ws_slow_consumer_closes_total",
			Help: "Subscribers closed with 4008 because their send queue overflowed.",
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "syncd", Name: "auth_failures_total",
			Help: "Failed authentications by transport (http, ws).",
		}, []string{"transport"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "syncd", Name: "http_request_duration_seconds",
			Help:    "HTTP request duration by method, route template and status.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "status"}),
	}
	m.reg.MustRegister(m.connections, m.broadcast, m.delivered, m.slowCloses, m.authFailures, m.httpDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Show both transports from the start so that rate() works from zero.
	m.authFailures.WithLabelValues(TransportHTTP)
	m.authFailures.WithLabelValues(TransportWS)
	return m
}

// Registry returns the registry holding the collectors (for tests and extra
// collectors of other packages).
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return prometheus.NewRegistry()
	}
	return m.reg
}

// ConnOpened counts one more open WebSocket connection of tenant.
func (m *Metrics) ConnOpened(tenant string) {
	if m != nil {
		m.connections.WithLabelValues(tenant).Inc()
	}
}

// ConnClosed counts one connection of tenant fewer; a tenant's series disappears when
// its last connection closes, so deleted tenants do not linger.
func (m *Metrics) ConnClosed(tenant string, remaining int) {
	if m == nil {
		return
	}
	if remaining <= 0 {
		m.connections.DeleteLabelValues(tenant)
		return
	}
	m.connections.WithLabelValues(tenant).Dec()
}

// EventBroadcast counts one event broadcast by a tenant hub and queued to n
// subscribers.
func (m *Metrics) EventBroadcast(n int) {
	if m != nil {
		m.broadcast.Inc()
		m.delivered.Add(float64(n))
	}
}

// SlowConsumerClosed counts one subscriber closed with 4008.
func (m *Metrics) SlowConsumerClosed() {
	if m != nil {
		m.slowCloses.Inc()
	}
}

// AuthFailed counts one failed authentication on transport (TransportHTTP or
// TransportWS).
func (m *Metrics) AuthFailed(transport string) {
	if m != nil {
		m.authFailures.WithLabelValues(transport).Inc()
	}
}

// Handler serves the registry in the Prometheus text format. Mount it behind the ops
// token check on the admin listener (SPEC §3).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{})
}

// EchoHandler is Handler as an Echo handler.
func (m *Metrics) EchoHandler() echo.HandlerFunc {
	return echo.WrapHandler(m.Handler())
}

// Middleware records the duration of every request by method (methodLabel), route template
// (c.Path(), e.g. "/api/files/*"; "unmatched" when no route matched) and status, and
// counts 401 answers as HTTP authentication failures. It never labels by raw path or
// query. It runs the error handler itself when the handler returns an error, as
// Echo's request logger does, so the recorded status is the one sent.
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if m == nil {
			return next
		}
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			if err != nil && !c.Response().Committed {
				// The error handler did not write (e.g. HEAD); use the error's status.
				var he *echo.HTTPError
				if errors.As(err, &he) {
					status = he.Code
				} else {
					status = http.StatusInternalServerError
				}
			}
			route := c.Path()
			if route == "" || status == http.StatusNotFound && isNotFoundRoute(c) {
				route = "unmatched"
			}
			m.observer(methodLabel(c.Request().Method), route, status).Observe(time.Since(start).Seconds())
			if status == http.StatusUnauthorized {
				m.authFailures.WithLabelValues(TransportHTTP).Inc()
			}
			return nil
		}
	}
}

// methodLabel is the method label of a request: the method when it is one of
// RFC 9110's (and PATCH), else "other". A method is any token a client makes up, with
// no token needed: as a label as it comes, a stream of invented ones would grow the
// registry, and every scrape, without bound.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
		http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// maxObservers bounds the observers Metrics keeps per label set (see observer).
const maxObservers = 4096

// observerKey is a label set of http_request_duration_seconds.
type observerKey struct {
	method, route string
	status        int
}

// observer returns the histogram of the label set, kept after its first use (up to
// maxObservers label sets; past that each request asks the vector): WithLabelValues
// checks and hashes the three values and takes the vector's lock on every call.
func (m *Metrics) observer(method, route string, status int) prometheus.Observer {
	k := observerKey{method: method, route: route, status: status}
	if o, ok := m.observers.Load(k); ok {
		return o.(prometheus.Observer)
	}
	o := m.httpDuration.WithLabelValues(method, route, strconv.Itoa(status))
	if m.nObservers.Load() < maxObservers {
		if _, loaded := m.observers.LoadOrStore(k, o); !loaded {
			m.nObservers.Add(1)
		}
	}
	return o
}

// isNotFoundRoute reports whether no registered route matched the request (Echo then
// reports an internal catch-all path that must not become a label).
func isNotFoundRoute(c echo.Context) bool {
	for _, r := range c.Echo().Routes() {
		if r.Path == c.Path() && r.Method == c.Request().Method {
			return false
		}
	}
	return true
}

// NodeStats are the figures of the node's tenant registry that /metrics shows.
type NodeStats struct {
	GapFills      int64   // index reads that delivered events no bus notice carried
	Behind        int64   // events the last head check found undelivered
	BusDown       bool    // the bus is down (degraded, still ready)
	Leading       bool    // this node runs the once-only jobs
	Commits       int64   // index write transactions of commits
	CommitSeconds float64 // their total time
	// BlobsCollected and BlobBytesCollected: what the blob garbage collector removed.
	BlobsCollected, BlobBytesCollected int64
	NoticesDropped                     int64 // bus notices this node never published
}

// NodeInfo registers syncd_node_info{node_id="id"} 1: which cluster node answers
// (cluster.node_id).
func (m *Metrics) NodeInfo(id string) {
	if m == nil {
		return
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "syncd", Name: "node_info",
		Help: "Always 1; node_id names this cluster node (cluster.node_id).", ConstLabels: prometheus.Labels{"node_id": id}})
	g.Set(1)
	m.reg.MustRegister(g)
}

// Node registers collectors reading stats at each scrape: syncd_gap_fills_total,
// syncd_bus_lag_events, syncd_bus_degraded, syncd_leader,
// syncd_index_commits_total and syncd_index_commit_seconds_total (their ratio over
// a window is the mean commit latency), syncd_blobs_collected_total,
// syncd_blob_bytes_collected_total and syncd_bus_notices_dropped_total.
func (m *Metrics) Node(stats func() NodeStats) {
	if m == nil {
		return
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "syncd", Name: "gap_fills_total",
			Help: "Index reads that delivered events no bus notice carried (lost, late or doorbell-only notices)."},
			func() float64 { return float64(stats().GapFills) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "syncd", Name: "bus_lag_events",
			Help: "Committed events the last head check found not yet delivered on this node."},
			func() float64 { return float64(stats().Behind) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "syncd", Name: "bus_degraded",
			Help: "1 while the bus between nodes is down (changes still arrive through the head check)."},
			func() float64 { return b(stats().BusDown) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "syncd", Name: "leader",
			Help: "1 on the node that runs the once-only jobs (pruning, retention, garbage collection)."},
			func() float64 { return b(stats().Leading) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "syncd", Name: "index_commits_total",
			Help: "Index write transactions of commits."},
			func() float64 { return float64(stats().Commits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "syncd", Name: "index_commit_seconds_total",
			Help: "Total time of the index write transactions of commits."},
			func() float64 { return stats().CommitSeconds }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "syncd", Name: "blobs_collected_total",
			Help: "Blobs the garbage collector removed on this node (nothing referred to them for its grace period, or their tenant was deleted)."},
			func() float64 { return float64(stats().BlobsCollected) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "syncd", Name: "blob_bytes_collected_total",
			Help: "Bytes of the blobs the garbage collector removed on this node."},
			func() float64 { return float64(stats().BlobBytesCollected) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "syncd", Name: "bus_notices_dropped_total",
			Help: "Bus notices of this node's commits never published (queue full or publish failed); other nodes deliver them through their once-a-second head check."},
			func() float64 { return float64(stats().NoticesDropped) }),
	)
}
