// Package share is syncspace's share links (SPEC §7.5): an opaque 128-bit id that
// gives anonymous, read-only access to one file or one folder of a tenant until the
// link expires or is revoked. The id is shown once, at creation; the store keeps only
// its SHA-256 (the link's key), so a copy of the store opens no link. An optional
// password is kept as an argon2id hash and checked in constant time, a few checks at a
// time (each costs memory). Unknown, expired and revoked links are one answer:
// not_found.
//
// Records live in a Store: SQLite (auth/share/sqliteshare, in syncd.db) on a single
// node, PostgreSQL (auth/share/pgshare, the table of tenants/pgschema) in cluster mode;
// auth/share/sharetest is the behaviour both show.
package share

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/syncspace/syncspace/sync/protocol"
)

// Limits of a link.
const (
	MaxExpiresIn   = 30 * 24 * time.Hour
	MaxPasswordLen = 1024
	// IDLen is the length of an id: 16 random bytes, base64url without padding.
	IDLen = 22
)

// ErrNoRecord is what a Store returns for an unknown key.
var ErrNoRecord = errors.New("share: no such record")

// Record is what the store keeps of a link (never its id).
type Record struct {
	Key          string     `json:"key"` // hex SHA-256 of the id
	Tenant       string     `json:"tenant"`
	TenantID     string     `json:"-"`
	Path         string     `json:"path"`
	CreatedBy    string     `json:"created_by"`
	CreatorJTI   string     `json:"-"` // the jti of the token that made it ("" before session 25)
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    time.Time  `json:"expires_at"`
	PasswordHash string     `json:"-"`
	HasPassword  bool       `json:"has_password"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	// CreatorRevoked: the link died with the credential that made it (List sets it,
	// and RevokedAt to that credential's revocation; the store keeps neither).
	CreatorRevoked bool `json:"creator_revoked,omitempty"`
}

// Store keeps share records. Implementations: auth/share/sqliteshare, auth/share/pgshare.
type Store interface {
	AddShare(ctx context.Context, r Record) error
	// Share returns the record of key, or ErrNoRecord.
	Share(ctx context.Context, key string) (Record, error)
	// Shares lists the records of a tenant incarnation (tenant id), newest first.
	Shares(ctx context.Context, tenantID string) ([]Record, error)
	// RevokeShare marks key revoked at at; ErrNoRecord if unknown.
	RevokeShare(ctx context.Context, key string, at time.Time) error
}

// Service creates, lists, revokes and resolves links.
type Service struct {
	store   Store
	now     func() time.Time
	slow    chan struct{} // bounds concurrent password hashes
	revoked RevokedFunc
}

// RevokedFunc reports since when the credential that made a link is revoked (nil: it
// is not): the token jti, or for a link made before session 25 (jti ""), the write
// tokens subject held in tenant (name, id tid) when the link was made (syncd's is
// auth.Service.ShareCreatorRevokedAt). A link its credential made then answers as a
// revoked link does.
type RevokedFunc func(ctx context.Context, jti, tenant, tid, subject string, made time.Time) (*time.Time, error)

// New returns a Service over store. revoked (nil: no check) is asked at every
// Resolve and List about the credential that made the link: a revoked credential's
// links die with it (its jti revoked, alone or with every token of its subject or
// device). A link outlives the mere expiry of that token.
func New(store Store, revoked RevokedFunc) *Service {
	return &Service{store: store, now: time.Now, slow: make(chan struct{}, 4), revoked: revoked}
}

// NewRequest is what Create makes a link of.
type NewRequest struct {
	Tenant, TenantID, Path, CreatedBy string
	CreatorJTI                        string // the creating token's jti
	ExpiresIn                         time.Duration
	Password                          string
}

// Create makes a link and returns its id (shown once) and record. Errors: bad_request
// for an expiry not in (0, 30 days] or a password over MaxPasswordLen bytes.
func (s *Service) Create(ctx context.Context, r NewRequest) (string, Record, error) {
	if r.ExpiresIn <= 0 || r.ExpiresIn > MaxExpiresIn {
		return "", Record{}, protocol.Errorf(protocol.CodeBadRequest, "expires_in must be a positive duration of at most %s", MaxExpiresIn)
	}
	if len(r.Password) > MaxPasswordLen {
		return "", Record{}, protocol.Errorf(protocol.CodeBadRequest, "password over %d bytes", MaxPasswordLen)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Record{}, err
	}
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now().UTC().Truncate(time.Second)
	rec := Record{
		Key: KeyOf(id), Tenant: r.Tenant, TenantID: r.TenantID, Path: r.Path, CreatedBy: r.CreatedBy,
		CreatorJTI: r.CreatorJTI, CreatedAt: now, ExpiresAt: now.Add(r.ExpiresIn),
	}
	if r.Password != "" {
		h, err := s.hash(ctx, r.Password, nil)
		if err != nil {
			return "", Record{}, err
		}
		rec.PasswordHash, rec.HasPassword = h, true
	}
	if err := s.store.AddShare(ctx, rec); err != nil {
		return "", Record{}, internal("add share", err)
	}
	return id, rec, nil
}

// ParseID checks that s has the shape of an id (22 base64url characters, 16 bytes).
func ParseID(s string) bool {
	if len(s) != IDLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 16
}

// KeyOf is the stored key of id: hex SHA-256.
func KeyOf(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// Errors of Resolve. ErrGone covers unknown, malformed, expired and revoked links
// alike; ErrPassword a missing or wrong password (counted as a failed authentication).
var (
	ErrGone     = &protocol.Error{Code: protocol.CodeNotFound, Message: "no such link"}
	ErrPassword = &protocol.Error{Code: protocol.CodeUnauthenticated, Message: "this link needs its password (X-Share-Password)"}
)

// Resolve returns the live record of id, checking password when the link has one.
func (s *Service) Resolve(ctx context.Context, id, password string) (Record, error) {
	if !ParseID(id) {
		return Record{}, ErrGone
	}
	rec, err := s.store.Share(ctx, KeyOf(id))
	if errors.Is(err, ErrNoRecord) {
		return Record{}, ErrGone
	}
	if err != nil {
		return Record{}, internal("get share", err)
	}
	if rec.RevokedAt != nil || !s.now().Before(rec.ExpiresAt) {
		return Record{}, ErrGone
	}
	if err := s.checkCreator(ctx, rec); err != nil {
		return Record{}, err
	}
	if rec.PasswordHash == "" {
		return rec, nil
	}
	if password == "" || len(password) > MaxPasswordLen {
		return Record{}, ErrPassword
	}
	ok, err := s.verify(ctx, rec.PasswordHash, password)
	if err != nil {
		return Record{}, err
	}
	if !ok {
		return Record{}, ErrPassword
	}
	return rec, nil
}

// checkCreator answers ErrGone when the credential that made rec is revoked.
func (s *Service) checkCreator(ctx context.Context, rec Record) error {
	at, err := s.creatorRevokedAt(ctx, rec)
	if err != nil {
		return err
	}
	if at != nil {
		return ErrGone
	}
	return nil
}

// creatorRevokedAt is since when the credential that made rec is revoked (nil: it
// is not, or there is no check).
func (s *Service) creatorRevokedAt(ctx context.Context, rec Record) (*time.Time, error) {
	if s.revoked == nil {
		return nil, nil
	}
	at, err := s.revoked(ctx, rec.CreatorJTI, rec.Tenant, rec.TenantID, rec.CreatedBy, rec.CreatedAt)
	if err != nil {
		return nil, internal("check the link's creator", err)
	}
	return at, nil
}

// List returns a tenant's links, newest first. A link whose creating credential is
// revoked is listed as revoked (RevokedAt, CreatorRevoked), as it answers; an
// expired link is listed as it is (its creator is not looked up).
func (s *Service) List(ctx context.Context, tenantID string) ([]Record, error) {
	rs, err := s.store.Shares(ctx, tenantID)
	if err != nil {
		return nil, internal("list shares", err)
	}
	if rs == nil {
		rs = []Record{}
	}
	now := s.now()
	for i := range rs {
		if rs[i].RevokedAt != nil || !now.Before(rs[i].ExpiresAt) {
			continue
		}
		at, err := s.creatorRevokedAt(ctx, rs[i])
		if err != nil {
			return nil, err
		}
		if at != nil {
			t := at.UTC().Truncate(time.Second)
			rs[i].RevokedAt, rs[i].CreatorRevoked = &t, true
		}
	}
	return rs, nil
}

// Lookup returns the tenant's link named by its id or its key; another tenant's
// link, or an unknown one, is not_found (ErrGone).
func (s *Service) Lookup(ctx context.Context, tenantID, idOrKey string) (Record, error) {
	key := idOrKey
	if ParseID(idOrKey) {
		key = KeyOf(idOrKey)
	} else if len(key) != 64 || strings.Trim(key, "0123456789abcdef") != "" {
		return Record{}, ErrGone
	}
	rec, err := s.store.Share(ctx, key)
	if errors.Is(err, ErrNoRecord) || err == nil && rec.TenantID != tenantID {
		return Record{}, ErrGone
	}
	if err != nil {
		return Record{}, internal("get share", err)
	}
	return rec, nil
}

// Revoke revokes the link of key (from Lookup): it answers 404 from now on.
func (s *Service) Revoke(ctx context.Context, key string) error {
	err := s.store.RevokeShare(ctx, key, s.now().UTC())
	if errors.Is(err, ErrNoRecord) {
		return ErrGone
	}
	if err != nil {
		return internal("revoke share", err)
	}
	return nil
}

// argon2id parameters (RFC 9106's second recommendation, lighter on memory).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

// hash returns "argon2id$<salt hex>$<key hex>" of password (with salt, or a new one).
func (s *Service) hash(ctx context.Context, password string, salt []byte) (string, error) {
	select {
	case s.slow <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.slow }()
	if salt == nil {
		salt = make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return "", err
		}
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return "argon2id$" + hex.EncodeToString(salt) + "$" + hex.EncodeToString(key), nil
}

func (s *Service) verify(ctx context.Context, stored, password string) (bool, error) {
	parts := strings.Split(stored, "$")
	if len(parts) != 3 || parts[0] != "argon2id" {
		return false, internal("password hash", fmt.Errorf("unknown hash format"))
	}
	salt, err := hex.DecodeString(parts[1])
	if err != nil {
		return false, internal("password hash", err)
	}
	got, err := s.hash(ctx, password, salt)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(stored)) == 1, nil
}

func internal(what string, err error) error {
	return &protocol.Error{Code: protocol.CodeInternal, Message: "internal error", Err: fmt.Errorf("%s: %w", what, err)}
}
