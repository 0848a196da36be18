package ctl

import (
	"context"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/adminclient"
)

// backend is what the commands run against: the data dir directly (local) or the
// admin API (remote).
type backend interface {
	CreateTenant(ctx context.Context, name string, o tenants.Options) (tenants.Tenant, error)
	ListTenants(ctx context.Context) ([]tenants.Tenant, error)
	DeleteTenant(ctx context.Context, name string) error
	IssueToken(ctx context.Context, tenant, subject, role string, ttl time.Duration) (issued, error)
	IssueOpsToken(ctx context.Context, subject string, ttl time.Duration) (issued, error)
	// IssueScopedToken is IssueToken with a path scope (token issue --path).
	IssueScopedToken(ctx context.Context, tenant, subject, role string, ttl time.Duration, paths []string) (issued, error)
	ListTokens(ctx context.Context, f auth.TokenFilter) ([]auth.TokenRecord, error)
	RevokeJTI(ctx context.Context, jti string) error
	RevokeSubject(ctx context.Context, tenant, subject string) (int, error) // tenant "" = ops tokens
	RotateKey(ctx context.Context) (auth.KeyInfo, error)
	ListKeys(ctx context.Context) ([]auth.KeyInfo, error)
	RetireKey(ctx context.Context, kid string) error
	ListAudit(ctx context.Context, limit int) ([]auth.AuditEntry, error)
	// DefaultTTL is the lifetime of a token issued without --ttl; 0 leaves it to the
	// server (remote mode).
	DefaultTTL(ops bool) time.Duration
	// PublicURL is the web app's URL (PUBLIC_URL, docs/WEB.md) as this backend knows it;
	// derived is true when it is a guess from the listen address.
	PublicURL() (u string, derived bool)
	Close() error
}

// issued is a new token and what to tell about it.
type issued = adminclient.Issued

// Default token lifetimes (SPEC §1), capped by the server's limits in local mode (in
// remote mode the server applies the same default and cap).
const (
	defaultTenantTTL = 720 * time.Hour
	defaultOpsTTL    = 24 * time.Hour
)

// localOptions say where the data dir and keys are and how tokens are issued.
type localOptions struct {
	dataDir, keyDir, configFile string
	dataSet, keyDirSet          bool
	// cluster mode without --config: --postgres and --kek-file.
	postgres, kekFile string
}
