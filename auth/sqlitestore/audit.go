package sqlitestore

import (
	"context"
	"time"

	"github.com/syncspace/syncspace/auth"
)

// AppendAudit implements auth.AuditLog. Triggers refuse UPDATE and DELETE on the
// table.
func (s *Store) AppendAudit(ctx context.Context, e auth.AuditEntry) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO auth_audit(time, actor, jti, address, action, target, outcome) VALUES(?,?,?,?,?,?,?)`,
		e.Time.UnixNano(), e.Actor, e.JTI, e.Address, e.Action, e.Target, e.Outcome)
	return err
}

// AuditTail implements auth.AuditLog.
func (s *Store) AuditTail(ctx context.Context, limit int) ([]auth.AuditEntry, error) {
	q := `SELECT id, time, actor, jti, address, action, target, outcome FROM auth_audit ORDER BY id DESC`
	var args []any
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return s.auditPage(ctx, q, args...)
}

// AuditBefore implements auth.AuditLog.
func (s *Store) AuditBefore(ctx context.Context, before int64, limit int) ([]auth.AuditEntry, error) {
	return s.auditPage(ctx, `SELECT id, time, actor, jti, address, action, target, outcome FROM auth_audit
		WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit)
}

// auditPage runs q (entries newest first) and returns them oldest first.
func (s *Store) auditPage(ctx context.Context, q string, args ...any) ([]auth.AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []auth.AuditEntry
	for rows.Next() {
		var e auth.AuditEntry
		var t int64
		if err := rows.Scan(&e.ID, &t, &e.Actor, &e.JTI, &e.Address, &e.Action, &e.Target, &e.Outcome); err != nil {
			return nil, err
		}
		e.Time = time.Unix(0, t).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
