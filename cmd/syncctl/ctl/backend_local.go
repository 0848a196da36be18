//go:build !windows

package ctl

// Local mode: the data dir directly. It needs the server's store and is not built on
// Windows (SPEC §1); backend_windows.go refuses it there.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/internal/node"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// local works on a data dir directly, also while syncd runs (SQLite WAL with a busy
// timeout; syncd polls the tables and sees the change within a second). It opens the
// data dir as syncd does (cmd/internal/node).
type local struct {
	cfg   *config.Config
	node  *node.Node
	reg   *tenants.Registry
	svc   *auth.Service
	actor string
	// tmpDir is the temporary data dir of cluster mode, removed at Close.
	tmpDir string
	// recordedURL is the PUBLIC_URL the syncd of the data dir recorded (without
	// --config only; "" when none did), derived from its listen address unless
	// recordedExplicit.
	recordedURL      string
	recordedExplicit bool
}

func openLocal(ctx context.Context, o localOptions) (*local, error) {
	cfg, err := localConfig(o)
	if err != nil {
		return nil, err
	}
	l := &local{cfg: cfg, actor: auth.LocalActor()}
	dataDir := cfg.DataDir
	if cfg.Cluster.Enabled() {
		// Cluster mode keeps nothing in the data dir that syncctl needs: a
		// temporary one stands in for it.
		if dataDir, err = os.MkdirTemp("", "syncctl-"); err != nil {
			return nil, err
		}
		l.tmpDir = dataDir
	}
	n, err := node.Open(ctx, dataDir, localNodeOptions(cfg, o))
	if err != nil {
		l.removeTmp()
		return nil, err
	}
	l.node, l.reg, l.svc = n, n.Tenants, n.Auth
	if o.configFile == "" && !cfg.Cluster.Enabled() {
		if l.recordedURL, l.recordedExplicit, _, err = n.RecordedPublicURL(ctx); err != nil {
			n.Close()
			return nil, err
		}
	}
	return l, nil
}

func (l *local) removeTmp() {
	if l.tmpDir != "" {
		os.RemoveAll(l.tmpDir)
	}
}

// localConfig is --config's configuration (else the embedded default) with --data's
// data dir, which must exist.
func localConfig(o localOptions) (*config.Config, error) {
	cfg := config.Default()
	if o.postgres != "" {
		cfg.Cluster = config.Cluster{Postgres: o.postgres}
		cfg.Auth.KEKFile = o.kekFile
		return cfg, nil
	}
	if o.configFile != "" {
		c, err := config.Load(o.configFile, os.Getenv)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if cfg.Cluster.Enabled() {
		return cfg, nil // the data dir is the cluster node's, not syncctl's
	}
	if o.dataSet || o.configFile == "" {
		cfg.DataDir = o.dataDir
	}
	st, err := os.Stat(cfg.DataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("data dir %s does not exist (start syncd first, or pass --data DIR)", cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("data dir %s is not a directory", cfg.DataDir)
	}
	return cfg, nil
}

// localNodeOptions are syncd's options for cfg. Without --config, tokens are issued
// the way the syncd of this data dir does: it records its issuer, TTL caps and key
// directory in the store. --key-dir overrides the key directory.
func localNodeOptions(cfg *config.Config, o localOptions) node.Options {
	no := node.FromConfig(cfg)
	no.UseRecorded = o.configFile == "" && !cfg.Cluster.Enabled()
	if o.keyDirSet {
		no.Auth.KeyDir = o.keyDir
		no.KeepKeyDir = true
	}
	return no
}

// PublicURL is web.public_url of --config, else derived from its listen address;
// without --config, the one the syncd of the data dir recorded, else derived from the
// embedded default's listen address.
func (l *local) PublicURL() (string, bool) {
	if l.recordedURL != "" {
		return l.recordedURL, !l.recordedExplicit
	}
	return l.cfg.PublicURL()
}

func (l *local) Close() error {
	defer l.removeTmp()
	return l.node.Close()
}

func (l *local) audit(ctx context.Context, action, target string, err error) {
	e := auth.AuditEntry{Actor: l.actor, Action: action, Target: target, Outcome: auth.OutcomeOK}
	if err != nil {
		e.Outcome = string(protocol.CodeOf(err))
	}
	_ = l.svc.Audit(context.WithoutCancel(ctx), e)
}

func (l *local) DefaultTTL(ops bool) time.Duration {
	if ops {
		return min(defaultOpsTTL, l.svc.MaxOpsTTL())
	}
	return min(defaultTenantTTL, l.svc.MaxTTL())
}

func (l *local) CreateTenant(ctx context.Context, name string, o tenants.Options) (tenants.Tenant, error) {
	t, err := l.reg.Create(ctx, name, o)
	l.audit(ctx, "tenant.create", name, err)
	return t, err
}

func (l *local) ListTenants(ctx context.Context) ([]tenants.Tenant, error) {
	return l.reg.List(ctx)
}

func (l *local) DeleteTenant(ctx context.Context, name string) error {
	err := l.reg.Delete(ctx, name)
	l.audit(ctx, "tenant.delete", name, err)
	return err
}

func (l *local) IssueToken(ctx context.Context, tenant, subject, role string, ttl time.Duration) (issued, error) {
	tok, rec, err := l.svc.IssueTenantToken(ctx, tenant, subject, role, ttl)
	target := tenant + "/" + subject
	if err == nil {
		target += " jti=" + rec.JTI
	}
	l.audit(ctx, "token.issue", target, err)
	return issued{Token: tok, JTI: rec.JTI, ExpiresAt: rec.ExpiresAt}, err
}

func (l *local) IssueOpsToken(ctx context.Context, subject string, ttl time.Duration) (issued, error) {
	tok, rec, err := l.svc.IssueOpsToken(ctx, subject, ttl)
	target := auth.OpsTarget + "/" + subject
	if err == nil {
		target += " jti=" + rec.JTI
	}
	l.audit(ctx, "token.issue_ops", target, err)
	return issued{Token: tok, JTI: rec.JTI, ExpiresAt: rec.ExpiresAt}, err
}

func (l *local) ListTokens(ctx context.Context, f auth.TokenFilter) ([]auth.TokenRecord, error) {
	return l.svc.ListTokens(ctx, f)
}

func (l *local) RevokeJTI(ctx context.Context, jti string) error {
	target := jti
	if r, err := l.svc.GetToken(ctx, jti); err == nil {
		target = auth.TokenTarget(r)
	}
	err := l.svc.RevokeJTI(ctx, jti)
	l.audit(ctx, "token.revoke", target, err)
	return err
}

func (l *local) RevokeSubject(ctx context.Context, tenant, subject string) (int, error) {
	n, err := l.svc.RevokeSubject(ctx, tenant, subject)
	target := tenant + "/" + subject
	if tenant == "" {
		target = auth.OpsTarget + "/" + subject
	}
	l.audit(ctx, "token.revoke_subject", target, err)
	return n, err
}

func (l *local) RotateKey(ctx context.Context) (auth.KeyInfo, error) {
	k, err := l.svc.RotateKey(ctx)
	l.audit(ctx, "key.rotate", k.KID, err)
	return k, err
}

func (l *local) ListKeys(ctx context.Context) ([]auth.KeyInfo, error) { return l.svc.ListKeys(ctx) }

func (l *local) RetireKey(ctx context.Context, kid string) error {
	err := l.svc.RetireKey(ctx, kid)
	l.audit(ctx, "key.retire", kid, err)
	return err
}

func (l *local) ListAudit(ctx context.Context, limit int) ([]auth.AuditEntry, error) {
	return l.svc.ListAudit(ctx, limit)
}
