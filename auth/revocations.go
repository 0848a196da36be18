package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// revocations is the revocation job: it writes revocations to the store and keeps
// this process's view of the store's revocation log (jti → exp), read by Check.
type revocations struct {
	store  TokenStore
	leeway time.Duration
	now    func() time.Time

	mu      sync.RWMutex
	revoked map[string]time.Time // jti → exp, for revocations seen by this process
	cursor  int64                // Seq of the last log entry read
}

func newRevocations(store TokenStore, leeway time.Duration, now func() time.Time) *revocations {
	return &revocations{store: store, leeway: leeway, now: now, revoked: make(map[string]time.Time)}
}

// revoke revokes the matching unrevoked tokens in the store (which logs each for every
// process to poll) and notes them here at once.
func (r *revocations) revoke(ctx context.Context, m TokenMatch) ([]Revocation, error) {
	hits, err := r.store.Revoke(ctx, m, r.now())
	if err != nil {
		return nil, internal("revoke", err)
	}
	r.mu.Lock()
	for _, h := range hits {
		r.revoked[h.JTI] = h.ExpiresAt
	}
	r.mu.Unlock()
	return hits, nil
}

// poll loads revocations recorded since the last poll (by any process).
func (r *revocations) poll(ctx context.Context) error {
	r.mu.RLock()
	cursor := r.cursor
	r.mu.RUnlock()
	hits, err := r.store.RevocationsSince(ctx, cursor)
	if err != nil {
		return internal("poll revocations", err)
	}
	if len(hits) == 0 {
		return nil
	}
	cutoff := r.now().Add(-r.leeway).Unix()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hits {
		if h.Seq > r.cursor {
			r.cursor = h.Seq
		}
		if h.ExpiresAt.Unix() >= cutoff {
			r.revoked[h.JTI] = h.ExpiresAt
		}
	}
	return nil
}

// prune forgets revocations of tokens that have expired anyway.
func (r *revocations) prune() {
	cutoff := r.now().Add(-r.leeway)
	r.mu.Lock()
	defer r.mu.Unlock()
	for jti, exp := range r.revoked {
		if exp.Before(cutoff) {
			delete(r.revoked, jti)
		}
	}
}

func (r *revocations) has(jti string) bool {
	r.mu.RLock()
	_, ok := r.revoked[jti]
	r.mu.RUnlock()
	return ok
}

// RevokeJTI revokes one token. Unknown jti: not_found; already revoked: no-op. Every
// process running Run sees it within a second; this one at once.
func (s *Service) RevokeJTI(ctx context.Context, jti string) error {
	hits, err := s.revoked.revoke(ctx, TokenMatch{JTI: jti})
	if err != nil {
		return err
	}
	logRevoked(s.log, hits)
	if len(hits) == 0 {
		if _, err := s.GetToken(ctx, jti); err != nil {
			return err
		}
	}
	return nil
}

// RevokeSubject revokes every unrevoked token subject holds now on tenant (tenant ""
// = subject's ops tokens) and returns how many were revoked. On a tenant, the
// subject's device credentials are revoked too (first, so that none mints a token
// the sweep would miss); their access tokens are the subject's, revoked and counted
// by the one sweep.
func (s *Service) RevokeSubject(ctx context.Context, tenant, subject string) (int, error) {
	if subject == "" {
		return 0, protocol.Errorf(protocol.CodeBadRequest, "subject is required")
	}
	m := TokenMatch{Kind: KindOps, Subject: subject}
	if tenant != "" {
		m = TokenMatch{Kind: KindTenant, Tenant: tenant, Subject: subject}
		if err := s.Devices().revokeSubject(ctx, tenant, subject); err != nil {
			return 0, err
		}
	}
	hits, err := s.revoked.revoke(ctx, m)
	if err != nil {
		return 0, err
	}
	logRevoked(s.log, hits)
	return len(hits), nil
}

func logRevoked(log *slog.Logger, hits []Revocation) {
	for _, h := range hits {
		log.Info("token revoked", "jti", h.JTI)
	}
}
