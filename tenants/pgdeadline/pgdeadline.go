// Package pgdeadline bounds every round trip of a pgx pool or connection: a
// statement, a pipeline (pgx.Batch), a COPY, a prepare, the wait for a pooled
// connection and the making of a new one each give up after a timeout when the
// caller's context has no sooner deadline.
//
// pgx sets no deadline of its own: a PostgreSQL that stops answering without closing
// the connection (packets dropped, a hung host, a proxy that holds connections open)
// keeps a request waiting until TCP gives up, minutes to hours. With the timeout the
// call fails with an error that wraps context.DeadlineExceeded (pgx then closes that
// connection), which package tenants answers as unavailable (503). Calls that wait
// legitimately (a commit queued behind another node's lock on a tenant's head row, at
// most pgindex.DefaultWriteIdleTimeout) must fit in the timeout; a transaction as a
// whole is not bounded, only each of its round trips.
package pgdeadline

import (
	"context"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultTimeout is the bound of one round trip when none is given: above the 10 s a
// commit may wait for a stalled node's head-row lock (pgindex.DefaultWriteIdleTimeout)
// with room for a statement over a large tree (a recursive delete or a move of a
// directory of many entries) on a busy database, and below the 60 s a proxy in front
// of the node waits for an answer by default (nginx's proxy_read_timeout), so that the
// client gets syncd's 503 and not the proxy's 504.
const DefaultTimeout = 30 * time.Second

// Bound sets the bound d (0: DefaultTimeout) on cfg's round trips (and, for a pool
// made of cfg, on its Acquire) and, unless cfg has a shorter one, its connect timeout,
// and TCP keepalive probes every 5 s. It replaces cfg.Tracer and cfg.DialFunc.
func Bound(cfg *pgx.ConnConfig, d time.Duration) {
	if d <= 0 {
		d = DefaultTimeout
	}
	if cfg.ConnectTimeout <= 0 || cfg.ConnectTimeout > d {
		cfg.ConnectTimeout = d
	}
	cfg.Tracer = tracer{d: d}
	// Keepalive probes every 5 s (pgx's default waits 5 minutes before the first): a
	// peer gone silent ends even a statement that runs unbounded within about 20 s.
	dialer := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 5 * time.Second, Count: 3}}
	cfg.DialFunc = dialer.DialContext
}

// tracer bounds each traced call: its Start hooks return the context the rest of the
// call runs under, and its End hooks release that context's timer.
type tracer struct{ d time.Duration }

var (
	_ pgx.QueryTracer       = tracer{}
	_ pgx.BatchTracer       = tracer{}
	_ pgx.CopyFromTracer    = tracer{}
	_ pgx.PrepareTracer     = tracer{}
	_ pgxpool.AcquireTracer = tracer{}
)

type cancelKey struct{}

type unboundedKey struct{}

// Unbounded returns ctx marked so that the round trips made under it are not
// bounded (ctx's own deadline, if any, still applies): for a statement whose time
// grows with the data and that no request waits for, such as a tenant's delete (its
// rows cascade) or the change log's pruning. The connection's TCP keepalive still
// ends it on a dead network.
func Unbounded(ctx context.Context) context.Context {
	return context.WithValue(ctx, unboundedKey{}, true)
}

func (t tracer) start(ctx context.Context) context.Context {
	if ctx.Value(unboundedKey{}) != nil {
		return ctx
	}
	ctx, cancel := context.WithTimeout(ctx, t.d)
	return context.WithValue(ctx, cancelKey{}, cancel)
}

func end(ctx context.Context) {
	if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

// TraceQueryStart implements pgx.QueryTracer.
func (t tracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return t.start(ctx)
}

// TraceQueryEnd implements pgx.QueryTracer.
func (tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) { end(ctx) }

// TraceBatchStart implements pgx.BatchTracer.
func (t tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return t.start(ctx)
}

// TraceBatchQuery implements pgx.BatchTracer.
func (tracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

// TraceBatchEnd implements pgx.BatchTracer.
func (tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) { end(ctx) }

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (t tracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return t.start(ctx)
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (tracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	end(ctx)
}

// TracePrepareStart implements pgx.PrepareTracer.
func (t tracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return t.start(ctx)
}

// TracePrepareEnd implements pgx.PrepareTracer.
func (tracer) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareEndData) { end(ctx) }

// TraceAcquireStart implements pgxpool.AcquireTracer.
func (t tracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	return t.start(ctx)
}

// TraceAcquireEnd implements pgxpool.AcquireTracer.
func (tracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	end(ctx)
}
