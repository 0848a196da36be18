package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/syncspace/syncspace/auth"
)

// Token times: issued_at and expires_at in seconds, revoked_at in nanoseconds.

const tokenColumns = `jti, kind, tenant, tid, subject, role, kid, issued_at, expires_at, revoked_at, device`

func scanToken(sc interface{ Scan(...any) error }) (auth.TokenRecord, error) {
	var r auth.TokenRecord
	var iat, exp int64
	var rev *int64
	if err := sc.Scan(&r.JTI, &r.Kind, &r.Tenant, &r.TenantID, &r.Subject, &r.Role, &r.KeyID, &iat, &exp, &rev, &r.Device); err != nil {
		return r, err
	}
	r.IssuedAt, r.ExpiresAt = time.Unix(iat, 0).UTC(), time.Unix(exp, 0).UTC()
	if rev != nil {
		t := time.Unix(0, *rev).UTC()
		r.Revoked, r.RevokedAt = true, &t
	}
	return r, nil
}

// AddToken implements auth.TokenStore.
func (s *Store) AddToken(ctx context.Context, r auth.TokenRecord) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO auth_tokens(jti, kind, tenant, tid, subject, role, kid, issued_at, expires_at, device) VALUES(?,?,?,?,?,?,?,?,?,?)`,
		r.JTI, r.Kind, r.Tenant, r.TenantID, r.Subject, r.Role, r.KeyID, r.IssuedAt.Unix(), r.ExpiresAt.Unix(), r.Device)
	return err
}

// Token implements auth.TokenStore.
func (s *Store) Token(ctx context.Context, jti string) (auth.TokenRecord, error) {
	r, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM auth_tokens WHERE jti = ?`, jti))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.TokenRecord{}, auth.ErrNoRecord
	}
	return r, err
}

// Tokens implements auth.TokenStore.
func (s *Store) Tokens(ctx context.Context, q auth.TokenQuery) ([]auth.TokenRecord, error) {
	where, args := tokenWhere(q.Kind, q.Tenant, q.Subject)
	if q.TenantID != "" {
		where += ` AND tid = ?`
		args = append(args, q.TenantID)
	}
	if !q.ExpiresAfter.IsZero() {
		where += ` AND expires_at > ?`
		args = append(args, q.ExpiresAfter.Unix())
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM auth_tokens WHERE `+where+` ORDER BY issued_at, jti`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []auth.TokenRecord
	for rows.Next() {
		r, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// tokenWhere is the condition matching kind, tenant and subject (empty: any).
func tokenWhere(kind, tenant, subject string) (string, []any) {
	where, args := `1=1`, []any{}
	for _, c := range []struct{ col, v string }{{"kind", kind}, {"tenant", tenant}, {"subject", subject}} {
		if c.v != "" {
			where += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	return where, args
}

// Revoke implements auth.TokenStore: the tokens are marked and the log appended in
// one transaction.
func (s *Store) Revoke(ctx context.Context, m auth.TokenMatch, at time.Time) ([]auth.Revocation, error) {
	if m.JTI == "" && m.Subject == "" && m.Device == "" {
		return nil, errors.New("revoke: a jti, a subject or a device is required")
	}
	where, args := tokenWhere(m.Kind, m.Tenant, m.Subject)
	if m.Device != "" {
		where += ` AND device = ?`
		args = append(args, m.Device)
	}
	if m.JTI != "" {
		where += ` AND jti = ?`
		args = append(args, m.JTI)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	hits, err := unrevoked(ctx, tx, where, args)
	if err != nil {
		return nil, err
	}
	now := at.UnixNano()
	for i, h := range hits {
		if _, err := tx.ExecContext(ctx, `UPDATE auth_tokens SET revoked_at = ? WHERE jti = ?`, now, h.JTI); err != nil {
			return nil, err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO auth_revocations(jti, expires_at, revoked_at) VALUES(?,?,?)`, h.JTI, h.ExpiresAt.Unix(), now)
		if err != nil {
			return nil, err
		}
		if hits[i].Seq, err = res.LastInsertId(); err != nil {
			return nil, err
		}
		hits[i].RevokedAt = time.Unix(0, now).UTC()
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return hits, nil
}

// unrevoked returns the unrevoked tokens matching where (jti and exp only).
func unrevoked(ctx context.Context, tx *sql.Tx, where string, args []any) ([]auth.Revocation, error) {
	rows, err := tx.QueryContext(ctx, `SELECT jti, expires_at FROM auth_tokens WHERE revoked_at IS NULL AND `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hits []auth.Revocation
	for rows.Next() {
		var h auth.Revocation
		var exp int64
		if err := rows.Scan(&h.JTI, &exp); err != nil {
			return nil, err
		}
		h.ExpiresAt = time.Unix(exp, 0).UTC()
		hits = append(hits, h)
	}
	return hits, rows.Err()
}

// RevocationsSince implements auth.TokenStore. The log's ids come from AUTOINCREMENT
// inside write transactions, which SQLite serializes: they become visible in order.
func (s *Store) RevocationsSince(ctx context.Context, after int64) ([]auth.Revocation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, jti, expires_at, revoked_at FROM auth_revocations WHERE id > ? ORDER BY id`, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []auth.Revocation
	for rows.Next() {
		var r auth.Revocation
		var exp, rev int64
		if err := rows.Scan(&r.Seq, &r.JTI, &exp, &rev); err != nil {
			return nil, err
		}
		r.ExpiresAt, r.RevokedAt = time.Unix(exp, 0).UTC(), time.Unix(0, rev).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
