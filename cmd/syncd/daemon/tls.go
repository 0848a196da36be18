package daemon

import (
	"context"
	"log/slog"

	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tlsconf"
)

// newTLS builds the TLS setup of cfg (package tlsconf: off, manual or acme).
func newTLS(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*tlsSetup, error) {
	s, err := tlsconf.New(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	return &tlsSetup{
		TLSConfig:   s.TLSConfig,
		HTTPHandler: s.HTTPHandler,
		middleware:  s.Middleware,
		closeFn:     func() { _ = s.Close() },
	}, nil
}
