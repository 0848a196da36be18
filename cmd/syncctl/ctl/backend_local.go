//go:build !windows

package ctl

// Local mode: the data dir directly. It needs the server's store and is not built on
// Windows (SPEC §1); backend_windows.go refuses it there.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// local works on a data dir directly, also while syncd runs (SQLite WAL with a busy
// timeout; syncd polls the tables and sees the change within a second).
type local struct {
	cfg   *config.Config
	db    *closerDB
	reg   *tenants.Registry
	svc   *auth.Service
	actor string
}

type closerDB struct{ close func() error }

func openLocal(ctx context.Context, o localOptions) (*local, error) {
	cfg := config.Default()
	if o.configFile != "" {
		c, err := config.Load(o.configFile, os.Getenv)
		if err != nil {
			return nil, err
		}
		cfg = c
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
	logger := slog.New(slog.DiscardHandler)
	db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "syncd.db"))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	reg, err := tenants.OpenRegistry(ctx, db, cfg.DataDir, tenants.Limits{}, logger)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open tenants: %w", err)
	}
	// Without --config, issue tokens the way the syncd of this data dir does: it
	// records its issuer, TTL caps and key directory in the store.
	if o.configFile == "" {
		set, ok, err := sqlitestore.LoadSettings(ctx, db)
		if err != nil {
			reg.Close()
			db.Close()
			return nil, err
		}
		if ok {
			useRecorded(cfg, set)
			if set.KeyDir != "" && !o.keyDirSet {
				if _, err := os.Stat(set.KeyDir); err != nil {
					reg.Close()
					db.Close()
					return nil, fmt.Errorf("key dir %s, which syncd uses, is not reachable (%v): pass --key-dir or --config", set.KeyDir, err)
				}
			}
		}
	}
	keyDir := cfg.KeyDir()
	if o.keyDirSet {
		keyDir = o.keyDir
	} else if cfg.Auth.KeyDir == "" {
		keyDir = filepath.Join(cfg.DataDir, "keys")
	}
	svc, err := sqlitestore.OpenService(ctx, db, auth.Config{
		Issuer:    cfg.Auth.Issuer,
		MaxTTL:    time.Duration(cfg.Auth.MaxTTL),
		MaxOpsTTL: time.Duration(cfg.Auth.MaxOpsTTL),
		KeyDir:    keyDir,
		DeviceTTL: time.Duration(cfg.Auth.DeviceTTL),
	}, reg, logger)
	if err != nil {
		reg.Close()
		db.Close()
		return nil, fmt.Errorf("open auth: %w", err)
	}
	return &local{
		cfg:   cfg,
		db:    &closerDB{close: func() error { rerr := reg.Close(); return errors.Join(rerr, db.Close()) }},
		reg:   reg,
		svc:   svc,
		actor: auth.LocalActor(),
	}, nil
}

// PublicURL is web.public_url of --config, else derived from its listen address (the
// embedded default's without --config).
func (l *local) PublicURL() (string, bool) { return l.cfg.PublicURL() }

func (l *local) Close() error { return l.db.close() }

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
	target := "ops/" + subject
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
	err := l.svc.RevokeJTI(ctx, jti)
	l.audit(ctx, "token.revoke", jti, err)
	return err
}

func (l *local) RevokeSubject(ctx context.Context, tenant, subject string) (int, error) {
	n, err := l.svc.RevokeSubject(ctx, tenant, subject)
	target := tenant + "/" + subject
	if tenant == "" {
		target = "ops/" + subject
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

// useRecorded puts the token settings a syncd recorded into cfg.
func useRecorded(cfg *config.Config, set auth.Settings) {
	cfg.Auth.Issuer = set.Issuer
	cfg.Auth.MaxTTL = config.Duration(set.MaxTTL)
	cfg.Auth.MaxOpsTTL = config.Duration(set.MaxOpsTTL)
	cfg.Auth.KeyDir = set.KeyDir
	if set.DeviceTTL > 0 { // recorded by a syncd that knows auth.device_ttl
		cfg.Auth.DeviceTTL = config.Duration(set.DeviceTTL)
	}
}
