package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/httperr"
	"github.com/syncspace/syncspace/transport/logpath"
	"github.com/syncspace/syncspace/transport/metrics"
)

// useNode sets up readiness (the store, then the index, answer) and the node's
// figures in /metrics.
func (s *Server) useNode(d Deps) {
	s.tenants = d.Tenants
	s.ready = func(ctx context.Context) error {
		if d.DB != nil {
			if err := d.DB.PingContext(ctx); err != nil {
				return err
			}
		}
		return d.Tenants.Ping(ctx)
	}
	s.metrics.Node(func() metrics.NodeStats { return nodeStats(d.Tenants.Stats()) })
}

// ReadyInterval is how often WatchReady checks that the index answers.
const ReadyInterval = time.Second

// WatchReady checks every interval (0: ReadyInterval) that the index answers. When it
// stops answering, the hub refuses new sockets and closes every WebSocket with 1012,
// so that clients move to another node (GET /readyz answers 503 meanwhile); when it
// answers again, sockets are accepted again. It returns when ctx ends.
func (s *Server) WatchReady(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = ReadyInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, max(interval, readyTimeout))
		err := s.ready(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.logger.Warn("the index does not answer: not ready", "err", err)
		}
		s.hub.SetUnavailable(err != nil)
	}
}

// storeDown answers 503 unavailable (with Retry-After) instead of 500 internal when a
// request failed while the store does not answer the readiness check (SQLite on one
// node, PostgreSQL in cluster mode): the failure is the outage /readyz reports, and
// clients retry a 503 where they count a 500 against the request. The check runs
// only after an internal error, with readyTimeout. Before session 26 every route of a
// node whose store was lost answered 500 while /readyz answered 503.
func (s *Server) storeDown(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil || c.Response().Committed {
			return err
		}
		if _, _, internal := httperr.Classify(err); !internal {
			return err
		}
		req := c.Request()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(req.Context()), readyTimeout)
		rerr := s.ready(ctx)
		cancel()
		if rerr == nil {
			return err
		}
		s.logger.LogAttrs(req.Context(), slog.LevelWarn, "request failed while the store does not answer",
			slog.String("method", req.Method), slog.String("path", logpath.Of(req.URL.Path)), slog.Any("err", err), slog.Any("ready", rerr))
		return &protocol.Error{Code: protocol.CodeUnavailable, Message: "the store does not answer; try again later", Err: errors.Join(err, rerr)}
	}
}

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// degraded names the parts below par that leave the node ready (the bus).
func (s *Server) degraded() []string {
	if s.tenants.Stats().BusDown {
		return []string{"bus"}
	}
	return nil
}

func nodeStats(st tenants.Stats) metrics.NodeStats {
	return metrics.NodeStats{GapFills: st.GapFills, Behind: st.Behind, BusDown: st.BusDown, Leading: st.Leading,
		Commits: st.CommitCount, CommitSeconds: time.Duration(st.CommitNanos).Seconds(),
		BlobsCollected: st.BlobsCollected, BlobBytesCollected: st.BlobBytesCollected,
		NoticesDropped: st.NoticesDropped}
}
