package auth

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/syncspace/syncspace/sync/protocol"
)

// TokenRecord is what the store keeps of an issued token (never the token itself).
// Tenant and TenantID are empty for ops tokens; RevokedAt is nil while not revoked.
type TokenRecord struct {
	JTI       string     `json:"jti"`
	Kind      string     `json:"kind"`
	Tenant    string     `json:"tenant,omitempty"`
	TenantID  string     `json:"tid,omitempty"`
	Subject   string     `json:"subject"`
	Role      string     `json:"role"`
	KeyID     string     `json:"kid"`
	IssuedAt  time.Time  `json:"issued_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	Revoked   bool       `json:"revoked"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// TokenFilter selects token records. Zero value: every unexpired token. Ops selects
// ops tokens only (Tenant is then ignored); Tenant selects that tenant's tokens (of
// its current incarnation, when it exists);
// Subject narrows to one subject; IncludeExpired lists expired tokens too.
type TokenFilter struct {
	Tenant         string
	Ops            bool
	Subject        string
	IncludeExpired bool
}

// claims is the JWT payload of both token shapes. aud is decoded as a plain string, so
// a token carrying an audience array is refused. Tenant and TenantID are pointers to
// tell an absent claim from an empty one.
type claims struct {
	Issuer    string           `json:"iss"`
	Audience  string           `json:"aud"`
	Subject   string           `json:"sub"`
	Tenant    *string          `json:"tenant,omitempty"`
	TenantID  *string          `json:"tid,omitempty"`
	Role      string           `json:"role"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	ID        string           `json:"jti"`
}

var _ jwt.Claims = (*claims)(nil)

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Audience}, nil
}

// MaxSubjectLen bounds a token subject, in bytes.
const MaxSubjectLen = 256

// ValidSubject reports whether sub is acceptable as a token subject: 1 to 256 bytes of
// valid UTF-8 without control characters or surrounding spaces.
func ValidSubject(sub string) bool {
	if sub == "" || len(sub) > MaxSubjectLen || !utf8.ValidString(sub) || strings.TrimSpace(sub) != sub {
		return false
	}
	for _, r := range sub {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\ufeff' {
			return false
		}
	}
	return true
}

// IssueTenantToken issues a token for subject on tenant with role read, write or admin,
// valid for ttl (at most auth.max_ttl), and records it. Errors: bad_request for a bad
// role, subject or ttl (naming the limit); not_found if the tenant does not exist.
func (s *Service) IssueTenantToken(ctx context.Context, tenant, subject, role string, ttl time.Duration) (string, TokenRecord, error) {
	switch role {
	case RoleRead, RoleWrite, RoleAdmin:
	default:
		return "", TokenRecord{}, protocol.Errorf(protocol.CodeBadRequest, "role must be read, write or admin")
	}
	if err := s.checkIssue(subject, ttl, s.cfg.MaxTTL, "auth.max_ttl"); err != nil {
		return "", TokenRecord{}, err
	}
	tid, err := s.tenants.LookupTenant(ctx, tenant)
	if err != nil {
		if protocol.CodeOf(err) == protocol.CodeNotFound {
			return "", TokenRecord{}, protocol.Errorf(protocol.CodeNotFound, "no such tenant: %s", tenant)
		}
		return "", TokenRecord{}, err
	}
	rec := TokenRecord{Kind: KindTenant, Tenant: tenant, TenantID: tid, Subject: subject, Role: role}
	return s.issue(ctx, rec, AudienceTenant, ttl)
}

// IssueOpsToken issues an ops token (aud syncspace-admin, role ops) for subject, valid
// for ttl (at most auth.max_ops_ttl), and records it. Only syncctl's local mode calls
// it; the admin API never issues ops tokens.
func (s *Service) IssueOpsToken(ctx context.Context, subject string, ttl time.Duration) (string, TokenRecord, error) {
	if err := s.checkIssue(subject, ttl, s.cfg.MaxOpsTTL, "auth.max_ops_ttl"); err != nil {
		return "", TokenRecord{}, err
	}
	rec := TokenRecord{Kind: KindOps, Subject: subject, Role: RoleOps}
	return s.issue(ctx, rec, AudienceOps, ttl)
}

func (s *Service) checkIssue(subject string, ttl, limit time.Duration, limitName string) error {
	if !ValidSubject(subject) {
		return protocol.Errorf(protocol.CodeBadRequest, "subject must be 1 to %d bytes of printable text", MaxSubjectLen)
	}
	if ttl < time.Second {
		return protocol.Errorf(protocol.CodeBadRequest, "ttl must be at least 1s")
	}
	if ttl > limit {
		return protocol.Errorf(protocol.CodeBadRequest, "ttl %s exceeds %s (%s)", ttl, limitName, limit)
	}
	return nil
}

func (s *Service) issue(ctx context.Context, rec TokenRecord, aud string, ttl time.Duration) (string, TokenRecord, error) {
	signer := s.keys.Load().signer
	if signer == nil {
		if err := s.loadKeys(ctx); err != nil {
			return "", TokenRecord{}, err
		}
		if signer = s.keys.Load().signer; signer == nil {
			return "", TokenRecord{}, &protocol.Error{Code: protocol.CodeInternal, Message: "internal error", Err: errors.New("no signing key available")}
		}
	}
	now := s.now().Truncate(time.Second)
	rec.JTI = uuid.NewString()
	rec.KeyID = signer.kid
	rec.IssuedAt = now.UTC()
	rec.ExpiresAt = now.Add(ttl).UTC()
	c := &claims{
		Issuer:    s.cfg.Issuer,
		Audience:  aud,
		Subject:   rec.Subject,
		Role:      rec.Role,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(rec.ExpiresAt),
		ID:        rec.JTI,
	}
	if rec.Kind == KindTenant {
		c.Tenant, c.TenantID = &rec.Tenant, &rec.TenantID
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = signer.kid
	t.Header["typ"] = "JWT"
	token, err := t.SignedString(signer.priv)
	if err != nil {
		return "", TokenRecord{}, internal("sign token", err)
	}
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO auth_tokens(jti, kind, tenant, tid, subject, role, kid, issued_at, expires_at) VALUES(?,?,?,?,?,?,?,?,?)`,
		rec.JTI, rec.Kind, rec.Tenant, rec.TenantID, rec.Subject, rec.Role, rec.KeyID, rec.IssuedAt.Unix(), rec.ExpiresAt.Unix()); err != nil {
		return "", TokenRecord{}, internal("record token", err)
	}
	s.log.Info("token issued", "jti", rec.JTI, "kind", rec.Kind, "tenant", rec.Tenant, "subject", rec.Subject, "role", rec.Role, "expires_at", rec.ExpiresAt)
	return token, rec, nil
}

const tokenColumns = `jti, kind, tenant, tid, subject, role, kid, issued_at, expires_at, revoked_at`

func scanToken(sc interface{ Scan(...any) error }) (TokenRecord, error) {
	var r TokenRecord
	var iat, exp int64
	var rev *int64
	if err := sc.Scan(&r.JTI, &r.Kind, &r.Tenant, &r.TenantID, &r.Subject, &r.Role, &r.KeyID, &iat, &exp, &rev); err != nil {
		return r, err
	}
	r.IssuedAt, r.ExpiresAt = time.Unix(iat, 0).UTC(), time.Unix(exp, 0).UTC()
	if rev != nil {
		t := time.Unix(0, *rev).UTC()
		r.Revoked, r.RevokedAt = true, &t
	}
	return r, nil
}

// ListTokens returns the records matching f, oldest first.
func (s *Service) ListTokens(ctx context.Context, f TokenFilter) ([]TokenRecord, error) {
	q := `SELECT ` + tokenColumns + ` FROM auth_tokens WHERE 1=1`
	var args []any
	switch {
	case f.Ops:
		q += ` AND kind = ?`
		args = append(args, KindOps)
	case f.Tenant != "":
		q += ` AND kind = ? AND tenant = ?`
		args = append(args, KindTenant, f.Tenant)
		// Only the tenant's current incarnation: tokens of a deleted tenant of the same
		// name carry another tid and can never be valid again.
		if tid, err := s.tenants.LookupTenant(ctx, f.Tenant); err == nil && tid != "" {
			q += ` AND tid = ?`
			args = append(args, tid)
		}
	}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if !f.IncludeExpired {
		q += ` AND expires_at > ?`
		args = append(args, s.now().Unix())
	}
	q += ` ORDER BY issued_at, jti`
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, internal("list tokens", err)
	}
	defer rows.Close()
	out := []TokenRecord{}
	for rows.Next() {
		r, err := scanToken(rows)
		if err != nil {
			return nil, internal("list tokens", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, internal("list tokens", err)
	}
	return out, nil
}

// GetToken returns one token record; not_found if jti is not recorded.
func (s *Service) GetToken(ctx context.Context, jti string) (TokenRecord, error) {
	r, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM auth_tokens WHERE jti = ?`, jti))
	if errors.Is(err, sql.ErrNoRows) {
		return r, protocol.Errorf(protocol.CodeNotFound, "no such token")
	}
	if err != nil {
		return r, internal("get token", err)
	}
	return r, nil
}

// RevokeJTI revokes one token. Unknown jti: not_found; already revoked: no-op. Every
// process running Run sees it within a second; this one at once.
func (s *Service) RevokeJTI(ctx context.Context, jti string) error {
	n, err := s.revokeWhere(ctx, `jti = ?`, jti)
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := s.GetToken(ctx, jti); err != nil {
			return err
		}
	}
	return nil
}

// RevokeSubject revokes every unrevoked token subject holds now on tenant (tenant ""
// = subject's ops tokens) and returns how many were revoked.
func (s *Service) RevokeSubject(ctx context.Context, tenant, subject string) (int, error) {
	if subject == "" {
		return 0, protocol.Errorf(protocol.CodeBadRequest, "subject is required")
	}
	if tenant == "" {
		return s.revokeWhere(ctx, `kind = ? AND subject = ?`, KindOps, subject)
	}
	return s.revokeWhere(ctx, `kind = ? AND tenant = ? AND subject = ?`, KindTenant, tenant, subject)
}

// revokeWhere marks the matching unrevoked tokens revoked and logs each in
// auth_revocations (which every process polls), in one transaction.
func (s *Service) revokeWhere(ctx context.Context, where string, args ...any) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, internal("revoke", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT jti, expires_at FROM auth_tokens WHERE revoked_at IS NULL AND `+where, args...)
	if err != nil {
		return 0, internal("revoke", err)
	}
	type hit struct {
		jti string
		exp int64
	}
	var hits []hit
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.jti, &h.exp); err != nil {
			rows.Close()
			return 0, internal("revoke", err)
		}
		hits = append(hits, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, internal("revoke", err)
	}
	now := s.now().UnixNano()
	for _, h := range hits {
		if _, err := tx.ExecContext(ctx, `UPDATE auth_tokens SET revoked_at = ? WHERE jti = ?`, now, h.jti); err != nil {
			return 0, internal("revoke", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_revocations(jti, expires_at, revoked_at) VALUES(?,?,?)`, h.jti, h.exp, now); err != nil {
			return 0, internal("revoke", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, internal("revoke", err)
	}
	s.revMu.Lock()
	for _, h := range hits {
		s.revoked[h.jti] = time.Unix(h.exp, 0)
	}
	s.revMu.Unlock()
	for _, h := range hits {
		s.log.Info("token revoked", "jti", h.jti)
	}
	return len(hits), nil
}

// pollRevocations loads revocations recorded since the last poll (by any process).
func (s *Service) pollRevocations(ctx context.Context) error {
	s.revMu.RLock()
	cursor := s.revCursor
	s.revMu.RUnlock()
	rows, err := s.db.QueryContext(ctx, `SELECT id, jti, expires_at FROM auth_revocations WHERE id > ? ORDER BY id`, cursor)
	if err != nil {
		return internal("poll revocations", err)
	}
	defer rows.Close()
	type hit struct {
		id  int64
		jti string
		exp int64
	}
	var hits []hit
	cutoff := s.now().Add(-s.cfg.Leeway).Unix()
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.id, &h.jti, &h.exp); err != nil {
			return internal("poll revocations", err)
		}
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return internal("poll revocations", err)
	}
	if len(hits) == 0 {
		return nil
	}
	s.revMu.Lock()
	defer s.revMu.Unlock()
	for _, h := range hits {
		if h.id > s.revCursor {
			s.revCursor = h.id
		}
		if h.exp >= cutoff {
			s.revoked[h.jti] = time.Unix(h.exp, 0)
		}
	}
	return nil
}

// pruneRevoked forgets revocations of tokens that have expired anyway.
func (s *Service) pruneRevoked() {
	cutoff := s.now().Add(-s.cfg.Leeway)
	s.revMu.Lock()
	defer s.revMu.Unlock()
	for jti, exp := range s.revoked {
		if exp.Before(cutoff) {
			delete(s.revoked, jti)
		}
	}
}

func (s *Service) isRevoked(jti string) bool {
	s.revMu.RLock()
	_, ok := s.revoked[jti]
	s.revMu.RUnlock()
	return ok
}
