package auth

import (
	"context"
	"errors"
	"time"
)

// ShareCreatorRevokedAt reports since when the credential that made a share link is
// revoked (nil: it is not; a revoked credential's links die with it). It reads the
// store (PostgreSQL in cluster mode), not this process's cache, so every node answers
// alike, after any expiry too.
//
// A link made since session 25 names its creator's jti: that token's record decides
// (revoked alone, with its subject or with its device; a jti not recorded at all opens
// nothing and counts as revoked when the link was made). A link made before names
// only its tenant (name and id tid), subject and creation time made: its creator is
// one of the write or admin tenant tokens subject held in tid at made (issued by then
// and not yet expired, give or take MaxLeeway). Such a link is revoked once every one of
// them is (since the last of those revocations), or when none is recorded: revoking
// the subject ends its old links, and revoking one token ends them when it was the
// only one that could have made them.
func (s *Service) ShareCreatorRevokedAt(ctx context.Context, jti, tenant, tid, subject string, made time.Time) (*time.Time, error) {
	if jti != "" {
		r, err := s.store.Token(ctx, jti)
		if errors.Is(err, ErrNoRecord) {
			return &made, nil
		}
		if err != nil {
			return nil, internal("get token", err)
		}
		return r.RevokedAt, nil
	}
	rs, err := s.store.Tokens(ctx, TokenQuery{Kind: KindTenant, Tenant: tenant, TenantID: tid, Subject: subject, ExpiresAfter: made.Add(-MaxLeeway - time.Second)})
	if err != nil {
		return nil, internal("list tokens", err)
	}
	last := made
	for _, r := range rs {
		if !couldHaveMade(r, made) {
			continue
		}
		if r.RevokedAt == nil {
			return nil, nil // a live token that could have made it
		}
		last = maxTime(last, *r.RevokedAt)
	}
	return &last, nil
}

// couldHaveMade reports whether token r could have made a share link at made: a
// tenant token of role write or admin, valid then (within MaxLeeway).
func couldHaveMade(r TokenRecord, made time.Time) bool {
	return (r.Role == RoleWrite || r.Role == RoleAdmin) &&
		!r.IssuedAt.After(made.Add(MaxLeeway)) && !r.ExpiresAt.Before(made.Add(-MaxLeeway))
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
