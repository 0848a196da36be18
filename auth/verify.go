package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/syncspace/syncspace/sync/pathscope"
	"github.com/syncspace/syncspace/sync/protocol"
)

// ErrTokenTooLarge is returned for tokens over MaxTokenSize, which are refused unread.
var ErrTokenTooLarge = &protocol.Error{Code: protocol.CodeUnauthenticated, Message: "token too large"}

// forbiddenHeaders are JOSE header parameters that would let a token name its own key
// or demand extensions: refused outright.
var forbiddenHeaders = []string{"jwk", "jku", "x5u", "x5c", "crit"}

// invalid returns ErrTokenInvalid carrying reason for the logs only.
func invalid(reason string, err error) error {
	if err != nil {
		return &protocol.Error{Code: protocol.CodeUnauthenticated, Message: ErrTokenInvalid.Message, Err: fmt.Errorf("%s: %w", reason, err)}
	}
	return &protocol.Error{Code: protocol.CodeUnauthenticated, Message: ErrTokenInvalid.Message, Err: errors.New(reason)}
}

// Verify checks token for audience (AudienceTenant or AudienceOps) and returns its
// principal. Checks: size, header (alg EdDSA only, a known live kid, no
// jwk/jku/x5u/x5c/crit), signature, iss, exact aud (a string), exp required, nbf, iat
// not in the future (leeway at most 30 s), the claim shape of that audience, the jti
// recorded with the same claims and not revoked, and the tenant still existing with
// that tid. Verified tokens are cached until exp; a cached token is still re-checked
// (Check) on every call. Every failure is a *protocol.Error with code unauthenticated
// (ErrTokenExpired and ErrTokenRevoked for those cases), except a token that fully
// verifies for the other audience: a *RefusedError wrapping ErrOpsTokenRefused or
// ErrTenantTokenRefused (forbidden). The returned principal is the caller's to keep.
func (s *Service) Verify(ctx context.Context, token, audience string) (*Principal, error) {
	var p Principal
	if err := s.VerifyInto(ctx, token, audience, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// VerifyInto is Verify writing the principal into *dst (the caller's, which Verify
// leaves alone on failure), so that a caller keeping it beside other state allocates
// nothing more for it.
func (s *Service) VerifyInto(ctx context.Context, token, audience string, dst *Principal) error {
	parser := s.parsers[audience]
	if parser == nil {
		return &protocol.Error{Code: protocol.CodeInternal, Message: "internal error", Err: fmt.Errorf("unknown audience %q", audience)}
	}
	if len(token) > MaxTokenSize {
		return ErrTokenTooLarge
	}
	if token == "" {
		return invalid("empty token", nil)
	}
	if e, ok := s.cache.get(token); ok {
		if e.aud != audience {
			if s.Check(ctx, e.p) == nil {
				p := *e.p
				return refusedHere(audience, &p)
			}
			return invalid("audience mismatch", nil)
		}
		if err := s.Check(ctx, e.p); err != nil {
			return err
		}
		*dst = *e.p
		return nil
	}
	// Concurrent first uses of one token share one verification (singleflight): a
	// burst of thousands would otherwise each pay the signature and the store lookups.
	// The shared work runs without the first caller's cancellation, so one caller
	// going away does not fail the others.
	v, err, _ := s.flight.Do(audience+"\x00"+token, func() (any, error) {
		return s.verifyMiss(context.WithoutCancel(ctx), parser, token, audience)
	})
	if err != nil {
		return err
	}
	*dst = *(v.(*Principal))
	return nil
}

// verifyMiss verifies a token not in the cache and caches it when it verifies.
func (s *Service) verifyMiss(ctx context.Context, parser *jwt.Parser, token, audience string) (*Principal, error) {
	s.misses.Add(1)
	p, err := s.verifyFull(ctx, parser, token, audience)
	if err != nil {
		// A token whose aud is not this family's may be a valid token of the other
		// family (403, not 401). That is tried once, with verifyFull itself: never
		// through Verify, whose own retry would bounce between the two audiences for
		// ever on an aud that is neither (issue 11 item 2).
		if errors.Is(err, jwt.ErrTokenInvalidAudience) {
			if other := otherAudience(audience); other != "" {
				if op, oerr := s.verifyFull(ctx, s.parsers[other], token, other); oerr == nil {
					return nil, refusedHere(audience, op)
				}
			}
		}
		return nil, err
	}
	s.cache.put(token, cacheEntry{p: p, aud: audience}, s.now())
	return p, nil
}

// otherAudience is the route family audience is not.
func otherAudience(audience string) string {
	switch audience {
	case AudienceTenant:
		return AudienceOps
	case AudienceOps:
		return AudienceTenant
	}
	return ""
}

// refusedHere is the error for p, a valid token of the other family, on audience's
// routes.
func refusedHere(audience string, p *Principal) error {
	if audience == AudienceTenant {
		return &RefusedError{Principal: p, err: ErrOpsTokenRefused}
	}
	return &RefusedError{Principal: p, err: ErrTenantTokenRefused}
}

func (s *Service) verifyFull(ctx context.Context, parser *jwt.Parser, token, audience string) (*Principal, error) {
	key, err := checkHeader(token, s.keys.set.Load())
	if errors.Is(err, errUnknownKID) && s.keys.reloadForUnknown(ctx) {
		// A key just rotated on another node signs tokens before this node's poll
		// sees it.
		key, err = checkHeader(token, s.keys.set.Load())
	}
	if err != nil {
		return nil, err
	}
	var c claims
	_, err = parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return key.pub, nil })
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, ErrTokenExpired
		}
		return nil, invalid("parse", err)
	}
	if c.Audience != audience {
		return nil, invalid("audience", nil)
	}
	if !ValidSubject(c.Subject) || c.ID == "" || len(c.ID) > 64 || c.IssuedAt == nil || c.NotBefore == nil {
		return nil, invalid("missing or malformed claim", nil)
	}
	p := &Principal{Subject: c.Subject, Role: c.Role, JTI: c.ID, KeyID: key.kid, ExpiresAt: c.ExpiresAt.Time}
	if c.Cnf != nil {
		if c.Cnf.X5tS256 == "" {
			return nil, invalid("empty cnf", nil)
		}
		p.CertThumbprint = c.Cnf.X5tS256
	}
	switch audience {
	case AudienceTenant:
		if c.Tenant == nil || c.TenantID == nil || *c.Tenant == "" || *c.TenantID == "" {
			return nil, invalid("tenant claims missing", nil)
		}
		if _, ok := roleRank[c.Role]; !ok {
			return nil, invalid("role", nil)
		}
		p.Kind, p.Tenant, p.TenantID = KindTenant, *c.Tenant, *c.TenantID
		if c.Paths != nil {
			sc, err := pathscope.Parse(c.Paths)
			if err != nil || sc == nil {
				return nil, invalid("paths", err)
			}
			p.Scope = sc
		}
	case AudienceOps:
		if c.Tenant != nil || c.TenantID != nil || c.Paths != nil || c.Role != RoleOps {
			return nil, invalid("not an ops token shape", nil)
		}
		p.Kind = KindOps
	}
	if err := s.checkRecord(ctx, p); err != nil {
		return nil, err
	}
	if err := s.Check(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// errUnknownKID: the token names no live key this process knows.
var errUnknownKID = errors.New("no live key has this kid")

// checkHeader inspects the JOSE header before any signature work: alg EdDSA, a live
// kid, no key-carrying or critical headers.
func checkHeader(token string, keys *keySet) (*signingKey, error) {
	dot := strings.IndexByte(token, '.')
	if dot <= 0 || strings.Count(token, ".") != 2 {
		return nil, invalid("malformed", nil)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token[:dot])
	if err != nil {
		return nil, invalid("header encoding", err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, invalid("header json", err)
	}
	for _, name := range forbiddenHeaders {
		if _, ok := h[name]; ok {
			return nil, invalid("forbidden header "+name, nil)
		}
	}
	var alg, kid string
	if err := json.Unmarshal(h["alg"], &alg); err != nil || alg != "EdDSA" {
		return nil, invalid("alg", nil)
	}
	if err := json.Unmarshal(h["kid"], &kid); err != nil || kid == "" {
		return nil, invalid("kid missing", nil)
	}
	key := keys.live[kid]
	if key == nil {
		return nil, invalid("unknown or retired kid", errUnknownKID)
	}
	if len(key.pub) != ed25519.PublicKeySize {
		return nil, invalid("bad key", nil)
	}
	return key, nil
}

// checkRecord requires the jti to be recorded with the same claims and not revoked.
func (s *Service) checkRecord(ctx context.Context, p *Principal) error {
	r, err := s.store.Token(ctx, p.JTI)
	if errors.Is(err, ErrNoRecord) {
		return invalid("jti not recorded", nil)
	}
	if err != nil {
		return internal("token record", err)
	}
	if r.Revoked {
		return ErrTokenRevoked
	}
	if r.Kind != p.Kind || r.Tenant != p.Tenant || r.TenantID != p.TenantID || r.Subject != p.Subject || r.Role != p.Role || r.KeyID != p.KeyID || r.ExpiresAt.Unix() != p.ExpiresAt.Unix() {
		return invalid("claims differ from the record", nil)
	}
	if p.Device = r.Device; p.Device != "" {
		s.Devices().settleAccess(ctx, p.JTI) // its first use ends the grace of the secret that issued it
	}
	return nil
}

// Check reports whether p is still valid now: not expired (leeway applied), not
// revoked, its key not retired, and for tenant principals the tenant still existing
// with the same id. It reads in-memory state only (plus the TenantLookup cache), so
// the WebSocket hub may call it often; revocations made by other processes reach it
// through Run within a second. Errors: ErrTokenExpired, ErrTokenRevoked,
// ErrTokenInvalid, or an internal *protocol.Error if the tenant lookup failed.
func (s *Service) Check(ctx context.Context, p *Principal) error {
	if p == nil || p.JTI == "" {
		return ErrTokenInvalid
	}
	if !s.now().Add(-s.cfg.Leeway).Before(p.ExpiresAt) {
		return ErrTokenExpired
	}
	if s.revoked.has(p.JTI) {
		return ErrTokenRevoked
	}
	if s.keys.set.Load().live[p.KeyID] == nil {
		return ErrTokenRevoked
	}
	if p.Kind == KindOps {
		return nil
	}
	if p.Kind != KindTenant {
		return ErrTokenInvalid
	}
	id, err := s.tenants.LookupTenant(ctx, p.Tenant)
	if err != nil {
		if protocol.CodeOf(err) == protocol.CodeNotFound {
			return ErrTokenRevoked
		}
		return internal("tenant lookup", err)
	}
	if id != p.TenantID {
		return ErrTokenRevoked
	}
	return nil
}

// defaultCacheSize bounds the verified-token cache.
const defaultCacheSize = 10000

type cacheEntry struct {
	p   *Principal
	aud string
	// signed is the token up to and including its last '.' (a JWT's header and
	// payload, which authenticate nothing without the signature): a hit needs it
	// equal as well as the signature's SHA-256, so only the very token verified.
	signed string
}

// tokenCache maps a verified token to its principal until the token's exp, by the
// SHA-256 of its signature (the part after its last '.') and its signed part kept
// in clear (the cache holds no bearer secret: no signature). It is bounded: when
// full, expired entries go first, then arbitrary ones. An entry only saves the
// signature and the record lookup: Verify still runs Check (expiry, revocation, key,
// tenant) on a hit.
type tokenCache struct {
	mu  sync.RWMutex
	m   map[[sha256.Size]byte]cacheEntry
	max int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{m: make(map[[sha256.Size]byte]cacheEntry), max: max}
}

// splitToken cuts token after its last '.': its signed part (empty when it has no
// '.') and its signature. Every token is signed + sig in exactly one way.
func splitToken(token string) (signed, sig string) {
	i := strings.LastIndexByte(token, '.') + 1
	return token[:i], token[i:]
}

// tokenKey is the cache's key of a token whose signature is sig: its SHA-256,
// hashed from a copy on the stack (an EdDSA signature is 86 characters) that is
// cleared after use; a longer one is copied to the heap and cleared likewise.
func tokenKey(sig string) [sha256.Size]byte {
	var buf [128]byte
	b := append(buf[:0], sig...)
	k := sha256.Sum256(b)
	clear(b) // no signature stays behind
	return k
}

func (c *tokenCache) get(token string) (cacheEntry, bool) {
	signed, sig := splitToken(token)
	k := tokenKey(sig)
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || e.signed != signed {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *tokenCache) put(token string, e cacheEntry, now time.Time) {
	signed, sig := splitToken(token)
	k := tokenKey(sig)
	e.signed = strings.Clone(signed) // not a slice of the token, which holds the signature
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for k, v := range c.m {
			if !now.Before(v.p.ExpiresAt) {
				delete(c.m, k)
			}
		}
		for k := range c.m { // map order is random: drops arbitrary entries
			if len(c.m) < c.max*9/10 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[k] = e
}

func (c *tokenCache) pruneExpired(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.m {
		if !now.Before(v.p.ExpiresAt) {
			delete(c.m, k)
		}
	}
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
