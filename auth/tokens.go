package auth

import (
	"context"
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
// Tenant and TenantID are empty for ops tokens; RevokedAt is nil while not revoked;
// Device is empty except on access tokens issued to a device.
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
	Device    string     `json:"device_id,omitempty"` // the device an access token was issued to
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Paths is the token's path scope as issued. It is carried by the signed token
	// itself; stores need not keep it, so a listed record may show none.
	Paths []string `json:"paths,omitempty"`
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
	// Paths is the path scope of a tenant token (SPEC §7.5); absent for the whole
	// tenant.
	Paths []string      `json:"paths,omitempty"`
	Cnf   *confirmation `json:"cnf,omitempty"`
}

// confirmation is the cnf claim of a certificate-bound token (RFC 8705 §3.1).
type confirmation struct {
	X5tS256 string `json:"x5t#S256"`
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
	return s.IssueTenant(ctx, TenantTokenRequest{Tenant: tenant, Subject: subject, Role: role, TTL: ttl})
}

func (s *Service) issueTenant(ctx context.Context, tenant, subject, role string, ttl time.Duration, paths []string) (string, TokenRecord, error) {
	switch role {
	case RoleRead, RoleWrite, RoleAdmin:
	default:
		return "", TokenRecord{}, protocol.Errorf(protocol.CodeBadRequest, "role must be read, write or admin")
	}
	if err := checkIssue(subject, ttl, s.cfg.MaxTTL, "auth.max_ttl"); err != nil {
		return "", TokenRecord{}, err
	}
	tid, err := s.tenants.LookupTenant(ctx, tenant)
	if err != nil {
		if protocol.CodeOf(err) == protocol.CodeNotFound {
			return "", TokenRecord{}, protocol.Errorf(protocol.CodeNotFound, "no such tenant: %s", tenant)
		}
		return "", TokenRecord{}, err
	}
	rec := TokenRecord{Kind: KindTenant, Tenant: tenant, TenantID: tid, Subject: subject, Role: role, Paths: paths}
	return s.issue(ctx, rec, AudienceTenant, ttl, "")
}

// IssueOpsToken issues an ops token (aud syncspace-admin, role ops) for subject, valid
// for ttl (at most auth.max_ops_ttl), and records it. Only syncctl's local mode calls
// it; the admin API never issues ops tokens.
func (s *Service) IssueOpsToken(ctx context.Context, subject string, ttl time.Duration) (string, TokenRecord, error) {
	if err := checkIssue(subject, ttl, s.cfg.MaxOpsTTL, "auth.max_ops_ttl"); err != nil {
		return "", TokenRecord{}, err
	}
	rec := TokenRecord{Kind: KindOps, Subject: subject, Role: RoleOps}
	return s.issue(ctx, rec, AudienceOps, ttl, "")
}

func checkIssue(subject string, ttl, limit time.Duration, limitName string) error {
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

// issue signs and records rec's token, bound to the certificate thumbprint thumb (cnf
// x5t#S256) when not "".
func (s *Service) issue(ctx context.Context, rec TokenRecord, aud string, ttl time.Duration, thumb string) (string, TokenRecord, error) {
	signer := s.keys.set.Load().signer
	if signer == nil {
		if err := s.keys.load(ctx); err != nil {
			return "", TokenRecord{}, err
		}
		if signer = s.keys.set.Load().signer; signer == nil {
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
		c.Paths = rec.Paths
	}
	if thumb != "" {
		c.Cnf = &confirmation{X5tS256: thumb}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["kid"] = signer.kid
	t.Header["typ"] = "JWT"
	token, err := t.SignedString(signer.priv)
	if err != nil {
		return "", TokenRecord{}, internal("sign token", err)
	}
	if err := s.store.AddToken(ctx, rec); err != nil {
		return "", TokenRecord{}, internal("record token", err)
	}
	s.log.Info("token issued", "jti", rec.JTI, "kind", rec.Kind, "tenant", rec.Tenant, "subject", rec.Subject, "role", rec.Role, "expires_at", rec.ExpiresAt)
	return token, rec, nil
}

// ListTokens returns the records matching f, oldest first.
func (s *Service) ListTokens(ctx context.Context, f TokenFilter) ([]TokenRecord, error) {
	var q TokenQuery
	switch {
	case f.Ops:
		q.Kind = KindOps
	case f.Tenant != "":
		q.Kind, q.Tenant = KindTenant, f.Tenant
		// Only the tenant's current incarnation: tokens of a deleted tenant of the same
		// name carry another tid and can never be valid again.
		if tid, err := s.tenants.LookupTenant(ctx, f.Tenant); err == nil && tid != "" {
			q.TenantID = tid
		}
	}
	q.Subject = f.Subject
	if !f.IncludeExpired {
		q.ExpiresAfter = time.Unix(s.now().Unix(), 0)
	}
	out, err := s.store.Tokens(ctx, q)
	if err != nil {
		return nil, internal("list tokens", err)
	}
	if out == nil {
		out = []TokenRecord{}
	}
	return out, nil
}

// GetToken returns one token record; not_found if jti is not recorded.
func (s *Service) GetToken(ctx context.Context, jti string) (TokenRecord, error) {
	r, err := s.store.Token(ctx, jti)
	if errors.Is(err, ErrNoRecord) {
		return r, protocol.Errorf(protocol.CodeNotFound, "no such token")
	}
	if err != nil {
		return r, internal("get token", err)
	}
	return r, nil
}
