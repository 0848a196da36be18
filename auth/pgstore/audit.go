package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/auth"
)

// AppendAudit implements auth.AuditLog. Triggers refuse UPDATE, DELETE and TRUNCATE
// on the table, whoever connects.
func (s *Store) AppendAudit(ctx context.Context, e auth.AuditEntry) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO auth_audit (time, actor, jti, address, action, target, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.Time.UnixNano(), e.Actor, e.JTI, e.Address, e.Action, e.Target, e.Outcome)
	return err
}

// AuditTail implements auth.AuditLog.
func (s *Store) AuditTail(ctx context.Context, limit int) ([]auth.AuditEntry, error) {
	q := `SELECT id, time, actor, jti, address, action, target, outcome FROM auth_audit ORDER BY id DESC`
	var args []any
	if limit > 0 {
		q += ` LIMIT $1`
		args = append(args, limit)
	}
	return s.auditPage(ctx, q, args...)
}

// AuditBefore implements auth.AuditLog.
func (s *Store) AuditBefore(ctx context.Context, before int64, limit int) ([]auth.AuditEntry, error) {
	return s.auditPage(ctx, `SELECT id, time, actor, jti, address, action, target, outcome FROM auth_audit
		WHERE id < $1 ORDER BY id DESC LIMIT $2`, before, limit)
}

// auditPage runs q (entries newest first) and returns them oldest first.
func (s *Store) auditPage(ctx context.Context, q string, args ...any) ([]auth.AuditEntry, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.AuditEntry, error) {
		var e auth.AuditEntry
		var t int64
		err := row.Scan(&e.ID, &t, &e.Actor, &e.JTI, &e.Address, &e.Action, &e.Target, &e.Outcome)
		e.Time = time.Unix(0, t).UTC()
		return e, err
	})
	slices.Reverse(out)
	return out, err
}

// SaveSettings implements auth.SettingsStore.
func (s *Store) SaveSettings(ctx context.Context, set auth.Settings) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO auth_settings (one, issuer, max_ttl, max_ops_ttl, key_dir, device_ttl, saved_at) VALUES (true, $1, $2, $3, $4, $5, $6)
		ON CONFLICT (one) DO UPDATE SET issuer = excluded.issuer, max_ttl = excluded.max_ttl,
			max_ops_ttl = excluded.max_ops_ttl, key_dir = excluded.key_dir, device_ttl = excluded.device_ttl, saved_at = excluded.saved_at`,
		set.Issuer, int64(set.MaxTTL), int64(set.MaxOpsTTL), set.KeyDir, int64(set.DeviceTTL), time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("auth settings: %w", err)
	}
	return nil
}

// LoadSettings implements auth.SettingsStore.
func (s *Store) LoadSettings(ctx context.Context) (set auth.Settings, ok bool, err error) {
	var maxTTL, maxOps, devTTL int64
	err = s.pool.QueryRow(ctx, `SELECT issuer, max_ttl, max_ops_ttl, key_dir, device_ttl FROM auth_settings WHERE one`).
		Scan(&set.Issuer, &maxTTL, &maxOps, &set.KeyDir, &devTTL)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Settings{}, false, nil
	}
	if err != nil {
		return auth.Settings{}, false, fmt.Errorf("auth settings: %w", err)
	}
	set.MaxTTL, set.MaxOpsTTL, set.DeviceTTL = time.Duration(maxTTL), time.Duration(maxOps), time.Duration(devTTL)
	return set, true, nil
}
