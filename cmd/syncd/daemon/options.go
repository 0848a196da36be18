package daemon

import (
	"log/slog"
	"net"
	"time"

	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tlsconf"
	"github.com/syncspace/syncspace/transport/guard"
	"github.com/syncspace/syncspace/transport/hub"
	"github.com/syncspace/syncspace/transport/server"
)

// This file is the one place where syncd's config becomes the options of the packages
// it wires: the HTTP server (and through it the hub, the guard and the admin API) and
// the connection limiter and the TLS setup here; the store, the tenants and auth in cmd/internal/node
// (through nodeOptions).

// ServerOptions maps cfg to the options of transport/server.
func ServerOptions(cfg *config.Config) (server.Options, error) {
	proxies, err := cfg.TrustedProxyPrefixes()
	if err != nil {
		return server.Options{}, err
	}
	admin := server.AdminNone
	switch {
	case cfg.AdminListen != "":
		admin = server.AdminSeparate
	case config.IsLoopback(cfg.Listen):
		admin = server.AdminOnMain
	}
	return server.Options{
		TrustedProxies: proxies,
		Guard:          guardOptions(cfg),
		Hub:            hubOptions(cfg),
		ReadOnly:       cfg.ReadOnly,
		Web:            cfg.Web.Enabled,
		PublicURL:      cfg.Web.PublicURL,
		Admin:          admin,
		ParseSize:      config.ParseSize,
	}, nil
}

// guardOptions maps SPEC §5's limits (body_min_rate, body_window, stream_stall) to
// the options of transport/guard's middleware.
func guardOptions(cfg *config.Config) guard.Options {
	return guard.Options{
		MinRate: int64(cfg.Limits.BodyMinRate),
		Window:  cfg.Limits.BodyWindow.Std(),
		Stall:   cfg.Limits.StreamStall.Std(),
	}
}

// hubOptions maps the limits and websocket sections to the /ws hub's options.
func hubOptions(cfg *config.Config) hub.Options {
	var node string
	if cfg.Cluster.Enabled() {
		node = cfg.Cluster.Node()
	}
	return hub.Options{
		NodeID:         node,
		PingInterval:   time.Duration(cfg.WebSocket.PingInterval),
		PongTimeout:    time.Duration(cfg.WebSocket.PongTimeout),
		IdleTimeout:    time.Duration(cfg.WebSocket.IdleTimeout),
		AllowedOrigins: cfg.WebSocket.AllowedOrigins,
		MaxFrame:       cfg.Limits.WSMaxFrame,
		SendQueue:      cfg.Limits.WSSendQueue,
		PerToken:       cfg.Limits.WSPerToken,
	}
}

// newLimiter returns the connection limiter of SPEC §3 for cfg: limits.max_connections
// over every listener, limits.max_connections_per_ip per TCP peer address, with peers
// in trusted_proxies exempt from the per-address cap. The daemon wraps each listener
// with it.
func newLimiter(cfg *config.Config) (*guard.Limiter, error) {
	proxies, err := cfg.TrustedProxyPrefixes()
	if err != nil {
		return nil, err
	}
	return guard.NewLimiter(guard.LimiterOptions{
		Max:    cfg.Limits.MaxConnections,
		PerIP:  cfg.Limits.MaxConnectionsPerIP,
		Exempt: proxies,
	}), nil
}

// TLSOptions maps the tls section (and the listen address and data_dir it depends on)
// to the options of tlsconf.
func TLSOptions(cfg *config.Config) tlsconf.Options {
	t := cfg.TLS
	return tlsconf.Options{
		Mode:      tlsconf.Mode(t.Mode),
		CertFile:  t.CertFile,
		KeyFile:   t.KeyFile,
		Domains:   t.Domains,
		Email:     t.Email,
		Directory: t.ACMEDirectory,
		CAFile:    t.ACMECAFile,
		CacheDir:  cfg.ACMECacheDir(),
		HTTP01:    t.HTTPListen != "",
		Listen:    cfg.Listen,
		HSTS: tlsconf.HSTS{
			MaxAge:            t.HSTS.MaxAge.Std(),
			IncludeSubdomains: t.HSTS.IncludeSubdomains,
			Preload:           t.HSTS.Preload,
		},
		ClientCA:   t.ClientCA,
		ClientAuth: tlsconf.ClientAuthMode(t.ClientAuth),
	}
}

// publicURL is SPEC §7.2's PUBLIC_URL, which share links and device credentials name:
// web.public_url, else derived from the listen address and tls.mode as syncctl
// derives it (config.PublicURL), with the port the main listener was bound to (for a
// listen address ending in ":0"). It never comes from a request (transport/publicurl).
// A derived URL on a non-loopback listener is logged as a warning: users elsewhere may
// reach the server by another name.
func (d *Daemon) publicURL() string {
	c := *d.cfg
	if _, port, err := net.SplitHostPort(d.lnMain.Addr().String()); err == nil {
		host, _, err := net.SplitHostPort(c.Listen)
		if err != nil {
			host = c.Listen
		}
		c.Listen = net.JoinHostPort(host, port)
	}
	u, derived := c.PublicURL()
	if derived && !loopbackAddr(d.lnMain.Addr()) {
		d.logger.Warn("web.public_url is not set: share links and device credentials name a URL derived from the listen address; set web.public_url to the URL users reach this server by",
			slog.String("public_url", u))
	}
	return u
}
