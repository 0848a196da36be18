package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/syncspace/syncspace/sync/protocol"
)

// Device credential defaults and bounds (SPEC §7.3).
const (
	DefaultDeviceTTL = 90 * 24 * time.Hour
	DefaultAccessTTL = 15 * time.Minute
	MinAccessTTL     = 10 * time.Second
	// RefreshGrace is how long a redeemed refresh secret stays redeemable (returning
	// the same answer) until its successor or the access token issued with it is used.
	RefreshGrace = 60 * time.Second
	// MaxDeviceName bounds a device name, in bytes.
	MaxDeviceName = 128
	// refreshPrefix marks refresh secrets, so that a leaked one is recognisable.
	refreshPrefix = "ssr_"
)

func deviceDefaults(cfg *Config) error {
	if cfg.DeviceTTL == 0 {
		cfg.DeviceTTL = DefaultDeviceTTL
	}
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = DefaultAccessTTL
	}
	switch {
	case cfg.DeviceTTL < 0:
		return errors.New("auth.device_ttl: must be positive")
	case cfg.AccessTTL < MinAccessTTL:
		return fmt.Errorf("auth.access_ttl: must be at least %s", MinAccessTTL)
	}
	return nil
}

// GrantError is Devices.Redeem's refusal of a refresh secret: RFC 6749 §5.2's
// invalid_grant, with a description safe to show; Err is for logs only.
type GrantError struct {
	Description string
	Err         error
}

func (e *GrantError) Error() string {
	if e.Err != nil {
		return "invalid_grant: " + e.Description + ": " + e.Err.Error()
	}
	return "invalid_grant: " + e.Description
}

func (e *GrantError) Unwrap() error { return e.Err }

func invalidGrant(desc string) error { return &GrantError{Description: desc} }

// Devices manages device credentials (SPEC §7.3) on a Service: enrolment, listing,
// revocation and the redemption of refresh secrets. Get it with Service.Devices.
type Devices struct{ s *Service }

// Devices returns the device credential manager of s.
func (s *Service) Devices() *Devices { return &Devices{s: s} }

// TokenGrant is the answer of POST /api/token: a short-lived access token and the
// device's next refresh secret.
type TokenGrant struct {
	AccessToken  string    `json:"access_token"`
	ExpiresAt    time.Time `json:"expires_at"`
	RefreshToken string    `json:"refresh_token"`
}

// Thumbprint returns RFC 8705's x5t#S256 of a DER certificate: the base64url
// (unpadded) SHA-256 of its DER bytes.
func Thumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// CertMatches reports whether p may be used on a connection whose TLS peer presented
// peer (nil: no client certificate): always for an unbound token, and for a
// certificate-bound one only when peer's thumbprint is the token's cnf.
func (p *Principal) CertMatches(peer *x509.Certificate) bool {
	if p == nil || p.CertThumbprint == "" {
		return p != nil
	}
	return peer != nil && Thumbprint(peer.Raw) == p.CertThumbprint
}

// ValidDeviceName reports whether name is acceptable: 1 to 128 bytes of printable text.
func ValidDeviceName(name string) bool {
	return len(name) <= MaxDeviceName && ValidSubject(name)
}

// Enroll enrolls device name for subject on tenant with role and returns its
// first refresh secret (shown once; the store keeps its hash). thumb, when not "",
// binds the device's access tokens to that certificate (Thumbprint). Errors:
// bad_request (role, subject, name, or a live device of that name on the tenant),
// not_found (tenant).
func (dv *Devices) Enroll(ctx context.Context, tenant, subject, role, name, thumb string) (string, DeviceRecord, error) {
	s := dv.s
	switch {
	case roleRank[role] == 0:
		return "", DeviceRecord{}, protocol.Errorf(protocol.CodeBadRequest, "role must be read, write or admin")
	case !ValidSubject(subject):
		return "", DeviceRecord{}, protocol.Errorf(protocol.CodeBadRequest, "subject must be 1 to %d bytes of printable text", MaxSubjectLen)
	case !ValidDeviceName(name):
		return "", DeviceRecord{}, protocol.Errorf(protocol.CodeBadRequest, "device name must be 1 to %d bytes of printable text", MaxDeviceName)
	}
	tid, err := s.tenants.LookupTenant(ctx, tenant)
	if err != nil {
		if protocol.CodeOf(err) == protocol.CodeNotFound {
			return "", DeviceRecord{}, protocol.Errorf(protocol.CodeNotFound, "no such tenant: %s", tenant)
		}
		return "", DeviceRecord{}, err
	}
	now := s.now().UTC()
	secret, hash := newRefreshSecret()
	d := DeviceRecord{ID: uuid.NewString(), Name: name, Tenant: tenant, TenantID: tid, Subject: subject, Role: role,
		CertThumbprint: thumb, CreatedAt: now, ExpiresAt: now.Add(s.cfg.DeviceTTL)}
	// The store refuses a name live on this tenant (atomically: racing enrolments of
	// one name, one wins). A device of an earlier tenant of this name (another tid) is
	// dead (live refuses it) and invisible to this tenant's admin: it holds no name.
	if err := s.store.AddDevice(ctx, d, RefreshRecord{Hash: hash, DeviceID: d.ID, IssuedAt: now}); errors.Is(err, ErrDeviceNameTaken) {
		return "", DeviceRecord{}, protocol.Errorf(protocol.CodeBadRequest, "tenant %s already has a live device named %q (revoke it first)", tenant, name)
	} else if err != nil {
		return "", DeviceRecord{}, internal("add device", err)
	}
	s.log.Info("device enrolled", "device", d.ID, "name", name, "tenant", tenant, "subject", subject, "bound", thumb != "")
	return secret, d, nil
}

// List returns the devices of tenant (every tenant when ""), oldest first.
func (dv *Devices) List(ctx context.Context, tenant string) ([]DeviceRecord, error) {
	out, err := dv.s.store.Devices(ctx, tenant)
	if err != nil {
		return nil, internal("list devices", err)
	}
	if out == nil {
		out = []DeviceRecord{}
	}
	return out, nil
}

// Revoke revokes device id and every token issued to it; live sockets on those
// tokens close with 4005 within a second. Unknown id: not_found.
func (dv *Devices) Revoke(ctx context.Context, id string) error {
	_, err := dv.revoke(ctx, id)
	return err
}

// revoke is Revoke returning the tokens it revoked.
func (dv *Devices) revoke(ctx context.Context, id string) ([]Revocation, error) {
	s := dv.s
	if _, err := s.store.RevokeDevice(ctx, id, s.now()); err != nil {
		if errors.Is(err, ErrNoRecord) {
			return nil, protocol.Errorf(protocol.CodeNotFound, "no such device")
		}
		return nil, internal("revoke device", err)
	}
	hits, err := s.revoked.revoke(ctx, TokenMatch{Device: id})
	if err != nil {
		return nil, err
	}
	logRevoked(s.log, hits)
	return hits, nil
}

// revokeSubject marks every unrevoked device subject holds on tenant revoked, so that
// none redeems its refresh secret again (revoking a subject must not leave it one that
// mints new access tokens). Their tokens are the subject's: the caller's sweep of the
// subject's tokens, which follows, revokes them.
func (dv *Devices) revokeSubject(ctx context.Context, tenant, subject string) error {
	devs, err := dv.List(ctx, tenant)
	if err != nil {
		return err
	}
	for _, d := range devs {
		if d.Subject != subject || d.RevokedAt != nil {
			continue
		}
		if _, err := dv.s.store.RevokeDevice(ctx, d.ID, dv.s.now()); err != nil && !errors.Is(err, ErrNoRecord) {
			return internal("revoke device", err)
		}
	}
	return nil
}

func newRefreshSecret() (secret, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret = refreshPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, hashSecret(secret)
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// sealKey derives the key that seals a redemption's answer from the redeemed secret:
// unrelated to the stored hash, so the store alone cannot open it.
func sealKey(secret string) []byte {
	sum := sha256.Sum256([]byte("syncspace refresh grace\x00" + secret))
	return sum[:]
}

func seal(secret string, g TokenGrant) ([]byte, error) {
	plain, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey(secret))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, nil), nil
}

func unseal(secret string, sealed []byte) (TokenGrant, error) {
	var g TokenGrant
	block, err := aes.NewCipher(sealKey(secret))
	if err != nil {
		return g, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return g, err
	}
	if len(sealed) < aead.NonceSize() {
		return g, errors.New("sealed grant too short")
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return g, err
	}
	return g, json.Unmarshal(plain, &g)
}

// settleAccess ends the grace of the secret that issued access token jti, at its
// first use. A failure only leaves the grace to run out by time.
func (dv *Devices) settleAccess(ctx context.Context, jti string) {
	if err := dv.s.store.SettleAccess(ctx, jti); err != nil {
		dv.s.log.Warn("settle refresh grace", "err", err)
	}
}

// validSecretShape rejects at once what cannot be a refresh secret.
func validSecretShape(secret string) bool {
	return strings.HasPrefix(secret, refreshPrefix) && len(secret) == len(refreshPrefix)+43
}

// ThumbprintPEM returns the x5t#S256 of the first certificate in a PEM file's
// content (the device certificate given at enrolment). Errors are bad_request.
func ThumbprintPEM(data []byte) (string, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return "", protocol.Errorf(protocol.CodeBadRequest, "no PEM certificate found")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return "", protocol.Errorf(protocol.CodeBadRequest, "certificate does not parse: %v", err)
		}
		return Thumbprint(b.Bytes), nil
	}
}
