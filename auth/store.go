package auth

import (
	"context"
	"errors"
	"time"
)

// Store is everything auth keeps outside the process: key records, token records, the
// revocation log, the audit log and the recorded settings. auth holds no SQL; an
// adapter implements Store on an engine (auth/sqlitestore on syncd.db today; a
// PostgreSQL adapter in cluster mode), and auth/storetest is the behaviour every
// adapter must show.
//
// Several processes or nodes may share one store at once: each Service polls it
// (Keys, RevocationsSince) so that what any of them wrote takes effect everywhere
// within a second. Methods must be safe for concurrent use. Errors other than
// ErrNoRecord and ErrLastLiveKey are treated as internal failures.
type Store interface {
	KeyStore
	TokenStore
	AuditLog
	SettingsStore
	DeviceStore
}

// Errors an adapter returns for the cases auth tells apart.
var (
	// ErrNoRecord: the key or token asked for is not recorded.
	ErrNoRecord = errors.New("auth store: no such record")
	// ErrLastLiveKey: retiring this key would leave no live key.
	ErrLastLiveKey = errors.New("auth store: the only live key")
)

// KeyRecord is what the store keeps of a signing key: its id and public half, and,
// when the Service has a key-encryption key (Config.KEK, cluster mode), its private
// half sealed under that key (AES-GCM, kid as additional data; see SealPrivateKey).
// The store never sees a private half in the clear; without a KEK, Sealed is nil and
// auth keeps the private half in the key directory (0600). RetiredAt is nil while
// the key is live.
type KeyRecord struct {
	KID       string
	PublicKey []byte
	Sealed    []byte
	CreatedAt time.Time
	RetiredAt *time.Time
}

// KeyStore keeps the key records. A key added or retired by one process is seen by
// every other on its next Keys call (key rotation visible to every node).
type KeyStore interface {
	// Keys returns every key record, retired ones included, ordered by CreatedAt then
	// KID.
	Keys(ctx context.Context) ([]KeyRecord, error)
	// AddKey records a new live key, Sealed included (nil or empty: none). Its
	// CreatedAt is recorded as given, or just after the newest recorded key's if that
	// is not earlier, so that creation order is strict even when clocks stall or
	// differ. RetiredAt is ignored.
	AddKey(ctx context.Context, k KeyRecord) error
	// RetireKey marks kid retired at at and drops its Sealed half, atomically with the
	// check that another live key remains (else ErrLastLiveKey). Unknown kid:
	// ErrNoRecord. A key already retired is left as it is and retired is false.
	RetireKey(ctx context.Context, kid string, at time.Time) (retired bool, err error)
}

// TokenQuery selects token records for TokenStore.Tokens. Empty fields match any
// value; a zero ExpiresAfter includes expired tokens.
type TokenQuery struct {
	Kind         string
	Tenant       string
	TenantID     string
	Subject      string
	ExpiresAfter time.Time // only tokens whose ExpiresAt is strictly later
}

// TokenMatch selects the tokens TokenStore.Revoke revokes. Empty fields match any
// value, but JTI, Subject or Device must be set.
type TokenMatch struct {
	JTI     string
	Kind    string
	Tenant  string
	Subject string
	Device  string // the device id of tokens issued by POST /api/token
}

// Revocation is one entry of the revocation log. Seq is its position in the log:
// positive, strictly increasing, and visible in order (once a reader has seen Seq n,
// no entry below n appears later), so that a poller keeping the last Seq it read
// misses nothing. An adapter on an engine whose sequences commit out of order must
// number the log in the revoking transaction itself.
type Revocation struct {
	Seq       int64
	JTI       string
	ExpiresAt time.Time
	RevokedAt time.Time
}

// TokenStore keeps the record of every issued token (never the token) and the
// revocation log that every process polls.
type TokenStore interface {
	// AddToken records an issued token. IssuedAt and ExpiresAt are kept to the
	// second; Revoked and RevokedAt are ignored. A JTI already recorded is an error.
	AddToken(ctx context.Context, r TokenRecord) error
	// Token returns the record of jti, or ErrNoRecord.
	Token(ctx context.Context, jti string) (TokenRecord, error)
	// Tokens returns the records matching q, ordered by IssuedAt then JTI.
	Tokens(ctx context.Context, q TokenQuery) ([]TokenRecord, error)
	// Revoke marks every matching token not yet revoked as revoked at at and appends
	// one Revocation for each to the log, all in one transaction, and returns those
	// entries. A token already revoked is neither changed nor logged again.
	Revoke(ctx context.Context, m TokenMatch, at time.Time) ([]Revocation, error)
	// RevocationsSince returns the log entries with Seq > after, in Seq order.
	RevocationsSince(ctx context.Context, after int64) ([]Revocation, error)
}

// AuditLog is the append-only audit log: entries are added and read, never changed
// or removed (the adapter refuses it where the engine allows, e.g. with triggers).
type AuditLog interface {
	// AppendAudit adds e (ID ignored) and gives it the next ID.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// AuditTail returns the newest limit entries (every entry if limit <= 0), oldest
	// first.
	AuditTail(ctx context.Context, limit int) ([]AuditEntry, error)
	// AuditBefore returns the newest limit entries (limit > 0) whose ID is below
	// before, oldest first: the page of the log that precedes ID before.
	AuditBefore(ctx context.Context, before int64, limit int) ([]AuditEntry, error)
}

// Settings are the token settings a running syncd uses. syncd records them in the
// store at start-up, so that syncctl in local mode, which knows only the data dir
// (`--data DIR`), issues tokens syncd accepts: same issuer, same TTL caps, same key
// directory (auth.key_dir may live outside the data dir).
type Settings struct {
	Issuer    string
	MaxTTL    time.Duration
	MaxOpsTTL time.Duration
	KeyDir    string        // absolute; "" = the data dir's keys/
	DeviceTTL time.Duration // auth.device_ttl; 0 = the default (recorded before devices)
}

// SettingsStore keeps the one Settings record of the syncd using the store.
type SettingsStore interface {
	// SaveSettings records s, replacing any earlier record.
	SaveSettings(ctx context.Context, s Settings) error
	// LoadSettings returns the last recorded settings; ok is false when there are none.
	LoadSettings(ctx context.Context) (s Settings, ok bool, err error)
}
