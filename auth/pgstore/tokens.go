package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/auth"
)

// Token times: issued_at and expires_at in seconds, revoked_at in nanoseconds.

const tokenColumns = `jti, kind, tenant, tid, subject, role, kid, issued_at, expires_at, revoked_at, device`

func scanToken(row pgx.Row) (auth.TokenRecord, error) {
	var r auth.TokenRecord
	var iat, exp int64
	var rev *int64
	if err := row.Scan(&r.JTI, &r.Kind, &r.Tenant, &r.TenantID, &r.Subject, &r.Role, &r.KeyID, &iat, &exp, &rev, &r.Device); err != nil {
		return r, err
	}
	r.IssuedAt, r.ExpiresAt = time.Unix(iat, 0).UTC(), time.Unix(exp, 0).UTC()
	if r.RevokedAt = fromNanos(rev); rev != nil {
		r.Revoked = true
	}
	return r, nil
}

// AddToken implements auth.TokenStore.
func (s *Store) AddToken(ctx context.Context, r auth.TokenRecord) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO auth_tokens (jti, kind, tenant, tid, subject, role, kid, issued_at, expires_at, device) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		r.JTI, r.Kind, r.Tenant, r.TenantID, r.Subject, r.Role, r.KeyID, r.IssuedAt.Unix(), r.ExpiresAt.Unix(), r.Device)
	return err
}

// Token implements auth.TokenStore.
func (s *Store) Token(ctx context.Context, jti string) (auth.TokenRecord, error) {
	r, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM auth_tokens WHERE jti = $1`, jti))
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.TokenRecord{}, auth.ErrNoRecord
	}
	return r, err
}

// where builds a condition of "column = $n" terms, ANDed, over the non-empty values.
type where struct {
	sql  string
	args []any
}

func (w *where) eq(col string, v any) {
	w.args = append(w.args, v)
	w.sql += fmt.Sprintf(` AND %s = $%d`, col, len(w.args))
}

func (w *where) eqSet(col, v string) {
	if v != "" {
		w.eq(col, v)
	}
}

// Tokens implements auth.TokenStore.
func (s *Store) Tokens(ctx context.Context, q auth.TokenQuery) ([]auth.TokenRecord, error) {
	w := &where{sql: `true`}
	w.eqSet("kind", q.Kind)
	w.eqSet("tenant", q.Tenant)
	w.eqSet("tid", q.TenantID)
	w.eqSet("subject", q.Subject)
	if !q.ExpiresAfter.IsZero() {
		w.args = append(w.args, q.ExpiresAfter.Unix())
		w.sql += fmt.Sprintf(` AND expires_at > $%d`, len(w.args))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM auth_tokens WHERE `+w.sql+` ORDER BY issued_at, jti`, w.args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.TokenRecord, error) { return scanToken(row) })
}

// Revoke implements auth.TokenStore in one transaction: the matching unrevoked rows
// are locked (in jti order, so concurrent revokers cannot deadlock, and a row another
// transaction revoked meanwhile no longer matches), then the log's counter row is
// advanced by their number, which numbers the log entries: the counter's row lock
// orders revoking transactions, so entries become visible in Seq order, without gaps.
func (s *Store) Revoke(ctx context.Context, m auth.TokenMatch, at time.Time) ([]auth.Revocation, error) {
	if m.JTI == "" && m.Subject == "" && m.Device == "" {
		return nil, errors.New("revoke: a jti, a subject or a device is required")
	}
	w := &where{sql: `revoked_at IS NULL`}
	w.eqSet("kind", m.Kind)
	w.eqSet("tenant", m.Tenant)
	w.eqSet("subject", m.Subject)
	w.eqSet("device", m.Device)
	w.eqSet("jti", m.JTI)
	var hits []auth.Revocation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT jti, expires_at FROM auth_tokens WHERE `+w.sql+` ORDER BY jti FOR UPDATE`, w.args...)
		if err != nil {
			return err
		}
		hits, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.Revocation, error) {
			var h auth.Revocation
			var exp int64
			err := row.Scan(&h.JTI, &exp)
			h.ExpiresAt, h.RevokedAt = time.Unix(exp, 0).UTC(), time.Unix(0, at.UnixNano()).UTC()
			return h, err
		})
		if err != nil || len(hits) == 0 {
			return err
		}
		return logRevocations(ctx, tx, hits, at)
	})
	if err != nil {
		return nil, err
	}
	return hits, nil
}

// logRevocations marks hits revoked and appends them to the log, numbering them from
// the counter row.
func logRevocations(ctx context.Context, tx pgx.Tx, hits []auth.Revocation, at time.Time) error {
	var last int64
	if err := tx.QueryRow(ctx, `UPDATE auth_revocation_head SET last = last + $1 RETURNING last`, len(hits)).Scan(&last); err != nil {
		return err
	}
	b := &pgx.Batch{}
	for i := range hits {
		hits[i].Seq = last - int64(len(hits)-1-i)
		b.Queue(`UPDATE auth_tokens SET revoked_at = $2 WHERE jti = $1`, hits[i].JTI, at.UnixNano())
		b.Queue(`INSERT INTO auth_revocations (id, jti, expires_at, revoked_at) VALUES ($1, $2, $3, $4)`,
			hits[i].Seq, hits[i].JTI, hits[i].ExpiresAt.Unix(), at.UnixNano())
	}
	return tx.SendBatch(ctx, b).Close()
}

// RevocationsSince implements auth.TokenStore.
func (s *Store) RevocationsSince(ctx context.Context, after int64) ([]auth.Revocation, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, jti, expires_at, revoked_at FROM auth_revocations WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.Revocation, error) {
		var r auth.Revocation
		var exp, rev int64
		err := row.Scan(&r.Seq, &r.JTI, &exp, &rev)
		r.ExpiresAt, r.RevokedAt = time.Unix(exp, 0).UTC(), time.Unix(0, rev).UTC()
		return r, err
	})
}
