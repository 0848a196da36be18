// Package auth issues and verifies syncspace's tokens (SPEC §2): Ed25519 signing keys
// with a kid, kept in a key directory or sealed in the store under a key-encryption
// key (kek.go, cluster mode), and listed in the store (rotation and retirement),
// tenant and ops JWTs with a recorded jti, revocation by jti or by subject, a cache
// of verified tokens that still honours revocation, the JWKS document, and the
// append-only audit log of admin actions.
//
// A Service keeps its records in a Store (store.go): auth holds no SQL; the SQLite
// adapter on syncd.db is auth/sqlitestore, and auth/storetest is the behaviour every
// adapter shows. Several processes may share one store: syncd runs Service.Run, which
// polls it so that keys, tokens and revocations written by another process (syncctl
// in local mode, another node) take effect within a second.
//
// auth does not import tenants: it asks a TenantLookup (implemented by
// *tenants.Registry) for a tenant's immutable id.
package auth

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/sync/singleflight"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/syncspace/syncspace/sync/pathscope"
	"github.com/syncspace/syncspace/sync/protocol"
)

// Roles. A tenant token carries one of RoleRead, RoleWrite or RoleAdmin; an ops token
// carries RoleOps.
const (
	RoleRead  = "read"
	RoleWrite = "write"
	RoleAdmin = "admin"
	RoleOps   = "ops"
)

// Audiences: the aud claim of tenant tokens (/api, /ws) and of ops tokens (/admin,
// /metrics).
const (
	AudienceTenant = "syncspace"
	AudienceOps    = "syncspace-admin"
)

// Token kinds, as in Principal.Kind and TokenRecord.Kind.
const (
	KindTenant = "tenant"
	KindOps    = "ops"
)

// Defaults and bounds of Config.
const (
	DefaultIssuer    = "syncd"
	DefaultMaxTTL    = 8760 * time.Hour
	DefaultMaxOpsTTL = 24 * time.Hour
	DefaultLeeway    = 15 * time.Second
	MaxLeeway        = 30 * time.Second
	// MaxTokenSize is the largest token accepted; longer ones are refused unread.
	MaxTokenSize = 4096
	// PollInterval is how often Run reads the store for changes made by other
	// processes.
	PollInterval = 200 * time.Millisecond
)

// Errors returned by Verify and Check. They are *protocol.Error values with code
// unauthenticated, and are returned as these very pointers, so errors.Is(err,
// ErrTokenRevoked) tells a revoked token (WebSocket close 4005) from an expired one
// (4004).
var (
	ErrTokenExpired = &protocol.Error{Code: protocol.CodeUnauthenticated, Message: "token expired"}
	ErrTokenRevoked = &protocol.Error{Code: protocol.CodeUnauthenticated, Message: "token revoked"}
	ErrTokenInvalid = &protocol.Error{Code: protocol.CodeUnauthenticated, Message: "invalid token"}
)

// Errors for a token that verifies, but for the other route family (SPEC §2: an ops
// token is refused on /api and /ws, a tenant token on /admin). They have code
// forbidden: the caller is authenticated, the token just gives no right here
// (HTTP 403, WebSocket close 4003), and the failed-auth limiter does not count them.
// Verify returns them wrapped in a *RefusedError naming the token's principal, so
// test with errors.Is.
var (
	ErrOpsTokenRefused    = &protocol.Error{Code: protocol.CodeForbidden, Message: "ops tokens are refused on /api and /ws"}
	ErrTenantTokenRefused = &protocol.Error{Code: protocol.CodeForbidden, Message: "tenant tokens are refused on /admin and /metrics"}
)

// RefusedError is Verify's error for a token that fully verifies, but for the other
// route family. It unwraps to ErrOpsTokenRefused or ErrTenantTokenRefused (code
// forbidden) and carries the token's principal, so that the refusal can be audited
// with who it was (subject, jti) rather than as anonymous. The principal gives no
// right on the route that refused it.
type RefusedError struct {
	Principal *Principal
	err       *protocol.Error
}

func (e *RefusedError) Error() string { return e.err.Error() }
func (e *RefusedError) Unwrap() error { return e.err }

// Config configures a Service. Zero fields take defaults: Issuer "syncd", MaxTTL
// 8760h, MaxOpsTTL 24h, Leeway 15s. Leeway above 30s is an error.
//
// KEK is the key-encryption key (KEKSize bytes, from ReadKEKFile on auth.kek_file).
// With it, private halves of signing keys live in the store, sealed under it, so every
// process sharing the store signs and verifies with the same keys and no key directory
// is used (KeyDir is ignored). Without it (nil), KeyDir is required (syncd passes
// data_dir/keys unless auth.key_dir says otherwise) and holds the private halves.
type Config struct {
	Issuer    string
	MaxTTL    time.Duration
	MaxOpsTTL time.Duration
	KeyDir    string
	Leeway    time.Duration
	// DeviceTTL is how long a device credential stays valid after its last use
	// (auth.device_ttl, default 90 days); AccessTTL the lifetime of the access tokens
	// POST /api/token issues (auth.access_ttl, default 15 min, at least 10 s).
	DeviceTTL time.Duration
	AccessTTL time.Duration
	KEK       []byte
}

// TenantLookup maps a tenant name to its immutable random id; it returns a
// *protocol.Error with code not_found when the tenant does not exist. It is called on
// every Check, so it must be fast (cached).
type TenantLookup interface {
	LookupTenant(ctx context.Context, name string) (id string, err error)
}

// Principal is who a verified token speaks for. Kind is KindTenant or KindOps; an ops
// principal has empty Tenant and TenantID.
type Principal struct {
	Kind      string
	Tenant    string
	TenantID  string
	Subject   string
	Role      string
	JTI       string
	KeyID     string
	ExpiresAt time.Time
	// Scope is a tenant token's path scope (the paths claim); nil for the whole
	// tenant.
	Scope *pathscope.Scope
	// Device is the device id of an access token issued by POST /api/token ("" for
	// other tokens); CertThumbprint its cnf x5t#S256 when it is certificate-bound: a
	// transport must then accept it only on a connection presenting that certificate
	// (CertMatches).
	Device         string
	CertThumbprint string
}

// roleRank orders tenant roles: read < write < admin. Ops is outside the order.
var roleRank = map[string]int{RoleRead: 1, RoleWrite: 2, RoleAdmin: 3}

// Can reports whether p holds role (or a role above it): read < write < admin for
// tenant principals; RoleOps only for ops principals. A nil principal can do nothing.
func (p *Principal) Can(role string) bool {
	if p == nil {
		return false
	}
	if role == RoleOps || p.Role == RoleOps {
		return p.Kind == KindOps && p.Role == RoleOps && role == RoleOps
	}
	need, ok := roleRank[role]
	have := roleRank[p.Role]
	return ok && p.Kind == KindTenant && have >= need
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// IsContextKey reports whether key is the one NewContext stores a principal under
// (and FromContext asks for): a context type that carries a principal itself
// (transport/authmw's, which keeps it beside other per-request state) answers that
// key's Value with its *Principal.
func IsContextKey(key any) bool {
	_, ok := key.(principalKey)
	return ok
}

// FromContext returns the principal stored by NewContext, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// Service issues, verifies and revokes tokens and keeps the signing keys and the audit
// log. It is safe for concurrent use. Create it with Open.
type Service struct {
	store   Store
	cfg     Config
	tenants TenantLookup
	log     *slog.Logger
	now     func() time.Time

	keys    *keyring               // live keys, current signer, JWKS
	revoked *revocations           // this process's view of the revocation log
	parsers map[string]*jwt.Parser // by audience

	cache  *tokenCache
	flight singleflight.Group // concurrent first verifications of one token
	misses atomic.Int64       // full verifications done (cache misses that did the work)
}

// Open checks the key directory (created 0700 if missing;
// refused if it or a file in it is readable by group or others), loads the keys and
// creates the first signing key if there is none. With a KEK it uses no key directory,
// and refuses to start when the store's live keys are sealed under another KEK. It
// does not start polling: call Run in the server.
// sqlitestore.OpenService does the same over a *sql.DB.
func Open(ctx context.Context, store Store, cfg Config, tenants TenantLookup, logger *slog.Logger) (*Service, error) {
	if store == nil {
		return nil, errors.New("auth: nil store")
	}
	if tenants == nil {
		return nil, errors.New("auth: nil tenant lookup")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{
		store:   store,
		cfg:     cfg,
		tenants: tenants,
		log:     logger.With("component", "auth"),
		now:     time.Now,
		cache:   newTokenCache(defaultCacheSize),
	}
	clock := func() time.Time { return s.now() }
	s.keys = &keyring{store: store, dir: cfg.KeyDir, kek: cfg.KEK, log: s.log, now: clock}
	s.revoked = newRevocations(store, cfg.Leeway, clock)
	s.parsers = map[string]*jwt.Parser{
		AudienceTenant: s.newParser(AudienceTenant),
		AudienceOps:    s.newParser(AudienceOps),
	}
	if cfg.KEK == nil {
		if err := prepareKeyDir(cfg.KeyDir); err != nil {
			return nil, err
		}
	}
	if err := s.keys.load(ctx); err != nil {
		return nil, err
	}
	if set := s.keys.set.Load(); set.signer == nil && set.unopened > 0 {
		return nil, fmt.Errorf("auth.kek_file: none of the %d live signing keys in the store opens under this key-encryption key; every node needs the same kek_file", set.unopened)
	}
	if s.keys.set.Load().signer == nil {
		if _, err := s.keys.rotate(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.revoked.poll(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// withDefaults returns cfg with zero fields set to their defaults, KeyDir made
// absolute (or cleared when there is a KEK) and KEK copied, or the first field at
// fault.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.MaxOpsTTL == 0 {
		cfg.MaxOpsTTL = DefaultMaxOpsTTL
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if err := deviceDefaults(&cfg); err != nil {
		return cfg, err
	}
	switch {
	case cfg.MaxTTL < 0:
		return cfg, errors.New("auth.max_ttl: must be positive")
	case cfg.MaxOpsTTL < 0:
		return cfg, errors.New("auth.max_ops_ttl: must be positive")
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return cfg, fmt.Errorf("auth: leeway must be between 0 and %s", MaxLeeway)
	case cfg.KEK != nil && len(cfg.KEK) != KEKSize:
		return cfg, fmt.Errorf("auth.kek_file: the key-encryption key is %d bytes, want %d", len(cfg.KEK), KEKSize)
	case cfg.KEK == nil && cfg.KeyDir == "":
		return cfg, errors.New("auth.key_dir: required")
	}
	if cfg.KEK != nil {
		cfg.KEK, cfg.KeyDir = append([]byte(nil), cfg.KEK...), ""
	} else if dir, err := filepath.Abs(cfg.KeyDir); err != nil {
		return cfg, fmt.Errorf("auth.key_dir: %w", err)
	} else {
		cfg.KeyDir = dir
	}
	return cfg, nil
}

func (s *Service) newParser(aud string) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(s.cfg.Issuer),
		jwt.WithAudience(aud),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(s.cfg.Leeway),
		jwt.WithTimeFunc(func() time.Time { return s.now() }),
		jwt.WithStrictDecoding(),
	)
}

// Issuer returns the iss claim this service issues and expects.
func (s *Service) Issuer() string { return s.cfg.Issuer }

// MaxTTL returns the cap on tenant token lifetimes (auth.max_ttl).
func (s *Service) MaxTTL() time.Duration { return s.cfg.MaxTTL }

// MaxOpsTTL returns the cap on ops token lifetimes (auth.max_ops_ttl).
func (s *Service) MaxOpsTTL() time.Duration { return s.cfg.MaxOpsTTL }

// Run polls the store every PollInterval for revocations and key changes made by any
// process, and prunes the verified-token cache, until ctx ends. Every
// RefreshPruneInterval it deletes the refresh records no redemption needs any more
// (Devices.Prune; every node of a cluster does, which is harmless).
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	prune := 0
	lastRefreshPrune := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("auth poll failed", "err", err)
		}
		if prune++; prune%50 == 0 {
			s.cache.pruneExpired(s.now())
			s.revoked.prune()
		}
		if time.Since(lastRefreshPrune) >= RefreshPruneInterval {
			lastRefreshPrune = time.Now()
			if _, err := s.Devices().Prune(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("pruning refresh secrets failed", "err", err)
			}
		}
	}
}

// Refresh reads revocations and keys changed by any process since the last call. Run
// calls it periodically; tests and tools may call it directly.
func (s *Service) Refresh(ctx context.Context) error {
	if err := s.revoked.poll(ctx); err != nil {
		return err
	}
	return s.keys.load(ctx)
}

// internal wraps a store failure as an internal *protocol.Error (detail for logs only),
// or an unavailable one when the store did not answer in time or could not be reached
// (protocol.StoreFailure).
func internal(what string, err error) error {
	e := protocol.StoreFailure("internal error", fmt.Errorf("%s: %w", what, err))
	if e.Code == protocol.CodeUnavailable {
		e.Message = "the token store does not answer"
	}
	return e
}
