package ctl

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/adminclient"
	"github.com/syncspace/syncspace/transport/credential"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// remote calls the admin API with an ops token (transport/adminclient).
type remote struct {
	*adminclient.Client
	hc *http.Client // the client's HTTP client (its dialer is checked by tests)
}

func openRemote(server, tokenFile, caFile string) (*remote, error) {
	u, err := checkServerURL(server)
	if err != nil {
		return nil, err
	}
	if tokenFile == "" {
		return nil, usagef("remote mode needs --token-file FILE holding an ops token")
	}
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	token := strings.TrimSpace(string(credential.Text(raw)))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return nil, fmt.Errorf("token file %s does not hold one token", tokenFile)
	}
	var pool *x509.CertPool
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool, err = x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
	}
	hc := adminclient.NewHTTPClient(pool)
	if u.Scheme == "http" {
		hc.Transport.(*http.Transport).DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: syncclient.LoopbackOnly}).DialContext
	}
	c, err := adminclient.New(u.String(), token, hc)
	if err != nil {
		return nil, err
	}
	return &remote{Client: c, hc: hc}, nil
}

// checkServerURL checks --server: https, or http to a loopback address, and nothing
// but the server root.
func checkServerURL(server string) (*url.URL, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return nil, usagef("--server: want a URL such as https://sync.example.com")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, usagef("--server: plain http is allowed only to a loopback address; use https")
		}
	default:
		return nil, usagef("--server: scheme must be https (or http to loopback)")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, usagef("--server: give the server root without query, fragment or user info")
	}
	return u, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// DefaultTTL is 0: without --ttl the server picks the lifetime (720h capped by its
// auth.max_ttl), which it alone knows.
func (r *remote) DefaultTTL(bool) time.Duration { return 0 }

func (r *remote) CreateTenant(ctx context.Context, name string, o tenants.Options) (tenants.Tenant, error) {
	return r.Client.CreateTenant(ctx, adminclient.NewTenant{Name: name, Quota: o.Quota, MaxFileSize: o.MaxFileSize, MaxEntries: o.MaxEntries})
}

func (r *remote) IssueOpsToken(context.Context, string, time.Duration) (issued, error) {
	return issued{}, usagef("token issue --ops works only in local mode (--data DIR)")
}

// PublicURL is the --server URL: the address this operator reaches the server by.
// Sign-in links name it; device credentials name the server's own PUBLIC_URL, from
// the answer of POST /admin/devices, unless the server (before session 26) names none.
func (r *remote) PublicURL() (string, bool) { return r.Base().String(), false }
