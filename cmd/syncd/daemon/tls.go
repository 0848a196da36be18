package daemon

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"

	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tlsconf"
)

// newTLS builds the TLS setup of cfg (package tlsconf: off, manual or acme).
func newTLS(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*tlsSetup, error) {
	s, err := tlsconf.New(ctx, TLSOptions(cfg), logger)
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

// tlsSetup adapts the TLS setup of package tlsconf.
type tlsSetup struct {
	TLSConfig   *tls.Config
	HTTPHandler http.Handler
	middleware  func(http.Handler) http.Handler
	closeFn     func()
}

func (t *tlsSetup) wrap(h http.Handler) http.Handler {
	if t == nil || t.middleware == nil {
		return h
	}
	return t.middleware(h)
}

func (t *tlsSetup) close() {
	if t != nil && t.closeFn != nil {
		t.closeFn()
	}
}
