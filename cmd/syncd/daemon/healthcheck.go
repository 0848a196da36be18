package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tlsconf"
)

// HealthcheckTimeout bounds one `syncd -healthcheck` probe.
const HealthcheckTimeout = 5 * time.Second

// takeHealthcheck reports whether args hold -healthcheck (or --healthcheck, or the
// form -healthcheck=true) and returns the other arguments.
func takeHealthcheck(args []string) (bool, []string) {
	found := false
	rest := make([]string, 0, len(args))
	for _, a := range args {
		switch a {
		case "-healthcheck", "--healthcheck", "-healthcheck=true", "--healthcheck=true":
			found = true
		default:
			rest = append(rest, a)
		}
	}
	return found, rest
}

// probeURL returns the /readyz URL of cfg's main listener as seen from this host: a
// wildcard host (empty, 0.0.0.0, ::) is probed on the loopback address of its family.
// The scheme is https in the manual and acme TLS modes.
func probeURL(cfg *config.Config) (string, error) {
	host, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return "", fmt.Errorf("listen %q: %w", cfg.Listen, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http"
	if cfg.TLS.Mode == config.TLSManual || cfg.TLS.Mode == config.TLSACME {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: "/readyz"}
	return u.String(), nil
}

// Healthcheck loads the configuration as Start does (args: [-config FILE]; getenv for
// the SYNCD_* overrides) and asks that server's main listener for GET /readyz. It
// returns nil when the answer is 200, else an error naming the URL. Meant for container
// health checks (the image has no curl): `syncd -healthcheck -config FILE`.
//
// Over https the certificate is not verified: the probe talks to its own host, sends
// no credential and reads only a status code, and the certificate's names (tls.domains,
// or the manual certificate's) rarely include the loopback address it dials. In acme
// mode the first domain is sent as SNI so that the server picks its certificate. With
// tls.client_auth "require" it offers only tlsconf.HealthALPN, which the server
// answers without a client certificate, for /readyz alone.
func Healthcheck(ctx context.Context, args []string, getenv func(string) string) error {
	path, err := parseArgs(args, io.Discard)
	if err != nil {
		return err
	}
	cfg, err := config.Load(path, getenv)
	if err != nil {
		return err
	}
	u, err := probeURL(cfg)
	if err != nil {
		return err
	}
	tlsConf := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // see the doc comment
	if cfg.TLS.Mode == config.TLSACME && len(cfg.TLS.Domains) > 0 {
		tlsConf.ServerName = cfg.TLS.Domains[0]
	}
	if cfg.TLS.ClientAuth == config.ClientAuthRequire {
		// The probe has no client certificate: its own protocol reaches /readyz
		// without one (and nothing else; see tlsconf.HealthALPN).
		tlsConf.NextProtos = []string{tlsconf.HealthALPN}
	}
	client := &http.Client{
		Timeout:       HealthcheckTimeout,
		Transport:     &http.Transport{TLSClientConfig: tlsConf, Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithTimeout(ctx, HealthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("healthcheck: GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s", u, resp.Status)
	}
	return nil
}

// runHealthcheck is Run for -healthcheck: exit 0 when ready, 1 when not, 2 on bad usage.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if _, err := parseArgs(args, stdout); errors.Is(err, flag.ErrHelp) {
		return 0
	}
	err := Healthcheck(ctx, args, getenv)
	switch {
	case err == nil:
		fmt.Fprintln(stdout, "syncd: ready")
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "syncd: %s (run 'syncd -h' for usage)\n", oneLine(err))
		return 2
	default:
		fmt.Fprintf(stderr, "syncd: %s\n", oneLine(err))
		return 1
	}
}
