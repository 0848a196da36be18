package auth

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// Hooks for the external tests (package auth_test, which may import the SQLite
// adapter; package auth may not without an import cycle).

// SignerKID returns the kid of s's current signing key ("" if none).
func SignerKID(s *Service) string {
	if k := s.keys.set.Load().signer; k != nil {
		return k.kid
	}
	return ""
}

// SignerKey returns s's current signing key's private half (nil if none).
func SignerKey(s *Service) ed25519.PrivateKey {
	if k := s.keys.set.Load().signer; k != nil {
		return k.priv
	}
	return nil
}

// SetNow replaces s's clock.
func SetNow(s *Service, now func() time.Time) { s.now = now }

// CacheLen is the number of verified tokens cached.
func CacheLen(s *Service) int { return s.cache.len() }

// PruneCache drops the cached tokens expired at s's now.
func PruneCache(s *Service) { s.cache.pruneExpired(s.now()) }

// Misses is the number of full verifications done.
func Misses(s *Service) int64 { return s.misses.Load() }

// OpenPrivateKey opens a sealed private half.
func OpenPrivateKey(kek []byte, kid string, sealed []byte, pub ed25519.PublicKey) (ed25519.PrivateKey, error) {
	return openPrivateKey(kek, kid, sealed, pub)
}

// SetAuditScanPage sets how many entries ListAuditOf reads at a time, until the test
// ends.
func SetAuditScanPage(t testing.TB, n int) {
	old := auditScanPage
	auditScanPage = n
	t.Cleanup(func() { auditScanPage = old })
}
