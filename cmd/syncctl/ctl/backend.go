package ctl

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// backend is what the commands run against: the data dir directly (local) or the
// admin API (remote).
type backend interface {
	CreateTenant(ctx context.Context, name string, o tenants.Options) (tenants.Tenant, error)
	ListTenants(ctx context.Context) ([]tenants.Tenant, error)
	DeleteTenant(ctx context.Context, name string) error
	IssueToken(ctx context.Context, tenant, subject, role string, ttl time.Duration) (issued, error)
	IssueOpsToken(ctx context.Context, subject string, ttl time.Duration) (issued, error)
	ListTokens(ctx context.Context, f auth.TokenFilter) ([]auth.TokenRecord, error)
	RevokeJTI(ctx context.Context, jti string) error
	RevokeSubject(ctx context.Context, tenant, subject string) (int, error) // tenant "" = ops tokens
	RotateKey(ctx context.Context) (auth.KeyInfo, error)
	ListKeys(ctx context.Context) ([]auth.KeyInfo, error)
	RetireKey(ctx context.Context, kid string) error
	ListAudit(ctx context.Context, limit int) ([]auth.AuditEntry, error)
	DefaultTTL(ops bool) time.Duration
	// PublicURL is the web app's URL (PUBLIC_URL, docs/WEB.md) as this backend knows it;
	// derived is true when it is a guess from the listen address.
	PublicURL() (u string, derived bool)
	Close() error
}

// issued is a new token and what to tell about it.
type issued struct {
	Token     string    `json:"token"`
	JTI       string    `json:"jti"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Default token lifetimes (SPEC §1), capped by the server's limits in local mode.
const (
	defaultTenantTTL = 720 * time.Hour
	defaultOpsTTL    = 24 * time.Hour
)

// localOptions say where the data dir and keys are and how tokens are issued.
type localOptions struct {
	dataDir, keyDir, configFile string
	dataSet, keyDirSet          bool
}

// remote calls the admin API with an ops token.
type remote struct {
	base   *url.URL
	token  string
	client *http.Client
}

func openRemote(server, tokenFile, caFile string) (*remote, error) {
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
	if tokenFile == "" {
		return nil, usagef("remote mode needs --token-file FILE holding an ops token")
	}
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return nil, fmt.Errorf("token file %s does not hold one token", tokenFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &remote{
		base:  u,
		token: token,
		client: &http.Client{
			Transport: tr,
			Timeout:   60 * time.Second,
			// Never follow a redirect: it could carry the ops token elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (r *remote) Close() error { r.client.CloseIdleConnections(); return nil }

func (r *remote) DefaultTTL(bool) time.Duration { return defaultTenantTTL }

// call sends a request to the admin API and decodes the JSON answer into out.
func (r *remote) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := *r.base
	u.Path += "/admin" + path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL carries nothing secret, but keep the line short
		}
		return fmt.Errorf("%s %s: %w", method, r.base.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error struct {
				Code    protocol.Code `json:"code"`
				Message string        `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return &protocol.Error{Code: eb.Error.Code, Message: eb.Error.Message}
		}
		return fmt.Errorf("server answered %s", resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("server answer is not the expected JSON: %w", err)
		}
	}
	return nil
}

func (r *remote) CreateTenant(ctx context.Context, name string, o tenants.Options) (tenants.Tenant, error) {
	in := map[string]any{"name": name}
	if o.Quota != 0 {
		in["quota"] = o.Quota
	}
	if o.MaxFileSize != 0 {
		in["max_file_size"] = o.MaxFileSize
	}
	if o.MaxEntries != 0 {
		in["max_entries"] = o.MaxEntries
	}
	var t tenants.Tenant
	err := r.call(ctx, "POST", "/tenants", nil, in, &t)
	return t, err
}

func (r *remote) ListTenants(ctx context.Context) ([]tenants.Tenant, error) {
	var out struct {
		Tenants []tenants.Tenant `json:"tenants"`
	}
	err := r.call(ctx, "GET", "/tenants", nil, nil, &out)
	return out.Tenants, err
}

func (r *remote) DeleteTenant(ctx context.Context, name string) error {
	return r.call(ctx, "DELETE", "/tenants/"+url.PathEscape(name), nil, nil, nil)
}

func (r *remote) IssueToken(ctx context.Context, tenant, subject, role string, ttl time.Duration) (issued, error) {
	var out issued
	err := r.call(ctx, "POST", "/tokens", nil, map[string]any{"tenant": tenant, "subject": subject, "role": role, "ttl": ttl.String()}, &out)
	return out, err
}

func (r *remote) IssueOpsToken(context.Context, string, time.Duration) (issued, error) {
	return issued{}, usagef("token issue --ops works only in local mode (--data DIR)")
}

func (r *remote) ListTokens(ctx context.Context, f auth.TokenFilter) ([]auth.TokenRecord, error) {
	q := url.Values{}
	if f.Tenant != "" {
		q.Set("tenant", f.Tenant)
	}
	if f.Ops {
		q.Set("ops", "true")
	}
	if f.Subject != "" {
		q.Set("subject", f.Subject)
	}
	if f.IncludeExpired {
		q.Set("all", "true")
	}
	var out struct {
		Tokens []auth.TokenRecord `json:"tokens"`
	}
	err := r.call(ctx, "GET", "/tokens", q, nil, &out)
	return out.Tokens, err
}

func (r *remote) RevokeJTI(ctx context.Context, jti string) error {
	return r.call(ctx, "DELETE", "/tokens/"+url.PathEscape(jti), nil, nil, nil)
}

func (r *remote) RevokeSubject(ctx context.Context, tenant, subject string) (int, error) {
	in := map[string]any{"subject": subject}
	if tenant == "" {
		in["ops"] = true
	} else {
		in["tenant"] = tenant
	}
	var out struct {
		Revoked int `json:"revoked"`
	}
	err := r.call(ctx, "POST", "/revocations", nil, in, &out)
	return out.Revoked, err
}

func (r *remote) RotateKey(ctx context.Context) (auth.KeyInfo, error) {
	var k auth.KeyInfo
	err := r.call(ctx, "POST", "/keys/rotate", nil, nil, &k)
	return k, err
}

func (r *remote) ListKeys(ctx context.Context) ([]auth.KeyInfo, error) {
	var out struct {
		Keys []auth.KeyInfo `json:"keys"`
	}
	err := r.call(ctx, "GET", "/keys", nil, nil, &out)
	return out.Keys, err
}

func (r *remote) RetireKey(ctx context.Context, kid string) error {
	return r.call(ctx, "POST", "/keys/"+url.PathEscape(kid)+"/retire", nil, nil, nil)
}

func (r *remote) ListAudit(ctx context.Context, limit int) ([]auth.AuditEntry, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Entries []auth.AuditEntry `json:"entries"`
	}
	err := r.call(ctx, "GET", "/audit", q, nil, &out)
	return out.Entries, err
}

// PublicURL is the --server URL: the address this operator reaches the server by.
func (r *remote) PublicURL() (string, bool) { return r.base.String(), false }
