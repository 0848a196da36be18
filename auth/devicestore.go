package auth

import (
	"context"
	"errors"
	"time"
)

// ErrSecretUsed is DeviceStore.Rotate's answer when the secret was redeemed already
// (by a racing redemption, or earlier): the caller reads the record again.
var ErrSecretUsed = errors.New("auth store: refresh secret already used")

// ErrDeviceNameTaken is DeviceStore.AddDevice's refusal when the tenant already has a
// live device of that name.
var ErrDeviceNameTaken = errors.New("auth store: the tenant has a live device of that name")

// DeviceRecord is what the store keeps of an enrolled device. ExpiresAt slides: each
// redemption moves it to that moment plus auth.device_ttl. CertThumbprint is the
// base64url SHA-256 of the DER certificate the device was enrolled with ("" when its
// tokens are not certificate-bound). RevokedAt is nil while the device is live.
type DeviceRecord struct {
	ID             string     `json:"id"`
	Name           string     `json:"device"`
	Tenant         string     `json:"tenant"`
	TenantID       string     `json:"tid"`
	Subject        string     `json:"subject"`
	Role           string     `json:"role"`
	CertThumbprint string     `json:"x5t#S256,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresAt      time.Time  `json:"expires_at"`
	LastUsedAt     *time.Time `json:"last_used_at,omitempty"`
	LastAddress    string     `json:"last_address,omitempty"`
	RevokedAt      *time.Time `json:"revoked_at,omitempty"`
}

// RefreshRecord is one refresh secret of a device, kept only as Hash (hex SHA-256 of
// the secret). Once redeemed, UsedAt is set, Successor names the hash of the secret
// issued in exchange, and Sealed holds that answer encrypted under a key derived from
// this record's secret (so only a holder of the old secret can read it back) for as
// long as the grace lasts; Settled clears Sealed when the grace ends early (the new
// secret or its access token was used). AccessJTI is the jti of the access token in
// Sealed.
type RefreshRecord struct {
	Hash      string
	DeviceID  string
	IssuedAt  time.Time
	UsedAt    *time.Time
	Successor string
	AccessJTI string
	Sealed    []byte
}

// DeviceUse is what a redemption records on its device: when, from where, and the new
// sliding expiry.
type DeviceUse struct {
	At        time.Time
	Address   string
	ExpiresAt time.Time
}

// DeviceStore keeps enrolled devices and their refresh secrets (hashes only).
type DeviceStore interface {
	// AddDevice records d and its first refresh secret in one transaction. An ID or
	// hash already recorded is an error. A live device name is unique per tenant: if a
	// device of d.TenantID named d.Name is unrevoked and expires after d.CreatedAt,
	// nothing is recorded and the error is ErrDeviceNameTaken. The check and the
	// insert are atomic, between processes too (concurrent enrolments of one name:
	// one wins).
	AddDevice(ctx context.Context, d DeviceRecord, first RefreshRecord) error
	// Device returns the record of id, or ErrNoRecord.
	Device(ctx context.Context, id string) (DeviceRecord, error)
	// Devices returns the devices of tenant (every tenant when ""), oldest first.
	Devices(ctx context.Context, tenant string) ([]DeviceRecord, error)
	// RefreshSecret returns the record of a secret's hash, or ErrNoRecord.
	RefreshSecret(ctx context.Context, hash string) (RefreshRecord, error)
	// Rotate redeems the secret old, in one transaction: if it is not yet used, it is
	// marked used at use.At with next.Hash as successor, accessJTI and sealed; next is
	// recorded; the predecessor whose successor is old loses its Sealed (its grace
	// ends); and the device records use. If old was used already, nothing changes and
	// the error is ErrSecretUsed; an unknown old is ErrNoRecord.
	Rotate(ctx context.Context, old string, next RefreshRecord, accessJTI string, sealed []byte, use DeviceUse) error
	// SettleAccess clears Sealed on the record whose AccessJTI is jti (no-op if none):
	// the access token it issued was used, so the grace of that secret is over.
	SettleAccess(ctx context.Context, jti string) error
	// RevokeDevice marks the device revoked at at; revoked is false if it was already
	// revoked. Unknown id: ErrNoRecord. The device's tokens are revoked apart
	// (TokenStore.Revoke with TokenMatch.Device).
	RevokeDevice(ctx context.Context, id string, at time.Time) (revoked bool, err error)
	// PruneRefresh deletes the refresh records no redemption needs any more: every
	// record of a device revoked, or expired at now, and the records spent (UsedAt)
	// before spentBefore. A device's unspent secret is kept while the device lives. It
	// returns how many records it deleted.
	PruneRefresh(ctx context.Context, now, spentBefore time.Time) (int64, error)
}
