package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/transport/guard"
)

// listen binds the listeners and starts serving.
func (d *Daemon) listen() error {
	cfg := d.cfg
	errLog := slog.NewLogLogger(d.logger.Handler(), slog.LevelInfo)
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: ReadHeaderTimeout,
			IdleTimeout:       IdleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			ErrorLog:          errLog,
			ConnContext:       guard.ConnContext,
		}
	}
	// One limiter over every listener: limits.max_connections counts them all.
	limiter, err := newLimiter(cfg)
	if err != nil {
		return err
	}
	d.limiter = limiter
	d.lnMain = limiter.Wrap(d.lnMain, d.tls.TLSConfig) // bound by build
	mainSrv := newServer(d.tls.wrap(d.srv.Main()))
	// Each server gets its own copy: net/http adds "h2" to the config it serves, and
	// d.tls.TLSConfig stays as built for the admin listener (adminTLS) to copy.
	mainSrv.TLSConfig = d.tls.TLSConfig.Clone()
	if mainSrv.TLSConfig != nil {
		withHealthProto(mainSrv, mainSrv.Handler)
	}
	d.servers = append(d.servers, mainSrv)
	if d.tls.TLSConfig == nil {
		d.warnPlain("listen", d.lnMain)
	}
	d.serve(mainSrv, d.lnMain)

	if cfg.AdminListen != "" {
		d.lnAdmin, err = net.Listen("tcp", cfg.AdminListen)
		if err != nil {
			return fmt.Errorf("admin_listen %s: %w", cfg.AdminListen, err)
		}
		if err := checkBoundLoopback("admin_listen", cfg.AdminListen, d.lnAdmin); err != nil {
			return err
		}
		adminTLS := d.adminTLS()
		if adminTLS == nil {
			d.warnPlain("admin_listen", d.lnAdmin)
		}
		d.lnAdmin = limiter.Wrap(d.lnAdmin, adminTLS)
		adminSrv := newServer(d.tls.wrap(d.srv.Admin()))
		adminSrv.TLSConfig = adminTLS
		d.servers = append(d.servers, adminSrv)
		d.serve(adminSrv, d.lnAdmin)
	}
	if h := d.tls.HTTPHandler; h != nil && cfg.TLS.HTTPListen != "" {
		ln, err := net.Listen("tcp", cfg.TLS.HTTPListen)
		if err != nil {
			return fmt.Errorf("tls.http_listen %s: %w", cfg.TLS.HTTPListen, err)
		}
		ln = limiter.Wrap(ln, nil)
		plain := newServer(h)
		d.servers = append(d.servers, plain)
		d.serveOn(plain, ln, false)
	}
	d.logger.Info("syncd listening", slog.String("addr", d.Addr()), slog.Bool("tls", d.tls.TLSConfig != nil), slog.String("data_dir", cfg.DataDir))
	if d.lnAdmin != nil {
		d.logger.Info("admin API listening", slog.String("addr", d.AdminAddr()), slog.Bool("tls", d.adminTLS() != nil))
	}
	return nil
}

// warnPlain logs SPEC §5's loud warning when ln, the listener of the config key
// field, serves plain HTTP on a non-loopback address (tls.mode "off" written out).
func (d *Daemon) warnPlain(field string, ln net.Listener) {
	if loopbackAddr(ln.Addr()) {
		return
	}
	d.logger.Warn("PLAIN HTTP ON A NON-LOOPBACK ADDRESS: tokens and files cross the network unencrypted; use only behind a TLS proxy", slog.String(field, ln.Addr().String()))
}

// adminTLS is the admin listener's TLS config: a copy of the main listener's (net/http
// changes the config it serves: two servers must not share one), except that a
// loopback admin_listen in acme mode serves plain HTTP (nil). ACME certificates name
// tls.domains only, and a client dialing a loopback address sends no server name, so
// over TLS no client could reach it as https://127.0.0.1:PORT (no certificate: the
// handshake fails); plain HTTP is allowed on loopback (SPEC §1, as the embedded
// default serves it), and syncctl's remote mode speaks it to loopback addresses only.
// Under tls.client_auth "require" it stays TLS: a client certificate required on
// every listener is not dropped silently.
func (d *Daemon) adminTLS() *tls.Config {
	if d.cfg.TLS.Mode == config.TLSACME && d.cfg.TLS.ClientAuth != config.ClientAuthRequire && loopbackAddr(d.lnAdmin.Addr()) {
		return nil
	}
	return d.tls.TLSConfig.Clone() // its own copy, as the main server's
}

func (d *Daemon) serve(s *http.Server, ln net.Listener) {
	d.serveOn(s, ln, s.TLSConfig != nil)
}

func (d *Daemon) serveOn(s *http.Server, ln net.Listener, useTLS bool) {
	go func() {
		var err error
		if useTLS {
			err = s.ServeTLS(ln, "", "")
		} else {
			err = s.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.errc <- err
		}
	}()
}

// monitor shuts the daemon down when a listener fails.
func (d *Daemon) monitor() {
	select {
	case err := <-d.errc:
		d.logger.Error("serving failed", slog.Any("err", err))
		ctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		d.shutdown(ctx, err)
	case <-d.done:
	}
}

// checkBoundLoopback closes ln and refuses it when the config counts its address as
// loopback (a name such as localhost) but it bound a non-loopback address: plain HTTP
// without "tls":{"mode":"off"} and the admin API on the main listener are allowed only
// on loopback (SPEC §5), which the name alone does not make true.
func checkBoundLoopback(field, configured string, ln net.Listener) error {
	if !config.IsLoopback(configured) || loopbackAddr(ln.Addr()) {
		return nil
	}
	ln.Close()
	return &config.Error{Field: field, Msg: fmt.Sprintf("%q names a loopback host but binds %s, which is not loopback: use 127.0.0.1 or [::1], or fix the name's resolution (/etc/hosts)", configured, ln.Addr())}
}

func loopbackAddr(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}
