package server

import (
	"context"
	"time"

	"github.com/syncspace/syncspace/tenants"
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
		pctx, cancel := context.WithTimeout(ctx, max(interval, 2*time.Second))
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
