package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"time"
)

// Redeem exchanges a device's refresh secret for a new access token and a new
// secret (SPEC §7.3, OAuth 2.0 refresh-token rotation with reuse detection). addr is
// the client address (recorded as the device's last); peer the TLS client certificate
// of the connection (nil if none): a certificate-bound device redeems only on a
// connection presenting its certificate.
//
// A secret is redeemed once. Until its successor or the access token issued with it is
// first used, for at most RefreshGrace, it stays redeemable and returns the very same
// answer (a client that crashed before saving the new secret recovers; racing retries
// agree). Presented again after that, the whole device is revoked (every token, live
// sockets closed 4005) and the reuse audited. Refusals are *GrantError; store failures
// internal *protocol.Error.
func (dv *Devices) Redeem(ctx context.Context, secret, addr string, peer *x509.Certificate) (TokenGrant, error) {
	s := dv.s
	if !validSecretShape(secret) {
		return TokenGrant{}, invalidGrant("malformed refresh token")
	}
	hash := hashSecret(secret)
	rec, err := s.store.RefreshSecret(ctx, hash)
	if errors.Is(err, ErrNoRecord) {
		return TokenGrant{}, invalidGrant("unknown refresh token")
	}
	if err != nil {
		return TokenGrant{}, internal("refresh secret", err)
	}
	d, err := dv.live(ctx, rec.DeviceID, peer)
	if err != nil {
		return TokenGrant{}, err
	}
	if rec.UsedAt == nil {
		g, err := dv.rotate(ctx, secret, rec, d, addr)
		if !errors.Is(err, ErrSecretUsed) {
			return g, err
		}
		// A racing redemption of the same secret won: answer as it did.
		if rec, err = s.store.RefreshSecret(ctx, hash); err != nil {
			return TokenGrant{}, internal("refresh secret", err)
		}
	}
	return dv.redeemUsed(ctx, secret, rec, d, addr)
}

// RefreshPruneInterval is how often Run deletes the refresh records no redemption
// needs any more (Prune).
const RefreshPruneInterval = 10 * time.Minute

// Prune deletes the refresh records no redemption needs any more and returns how
// many: those of revoked or expired devices, whose secrets are refused whatever they
// hold, and the secrets spent more than auth.device_ttl ago. A spent secret is
// recognised, and revokes its device when presented again, for auth.device_ttl after
// it was spent: longer than any credential holding it stays valid unused (device_ttl
// after its last use); after that it is an unknown secret (invalid_grant, no
// revocation). The device's current secret is never deleted while the device lives.
func (dv *Devices) Prune(ctx context.Context) (int64, error) {
	s := dv.s
	now := s.now()
	n, err := s.store.PruneRefresh(ctx, now, now.Add(-s.cfg.DeviceTTL))
	if err != nil {
		return n, internal("prune refresh secrets", err)
	}
	if n > 0 {
		s.log.Info("pruned spent refresh secrets", "records", n)
	}
	return n, nil
}

// live returns device id if it may redeem now: not revoked, not expired, its
// tenant still the same, and the connection presenting its certificate when bound.
func (dv *Devices) live(ctx context.Context, id string, peer *x509.Certificate) (DeviceRecord, error) {
	s := dv.s
	d, err := s.store.Device(ctx, id)
	if err != nil {
		return d, internal("device", err)
	}
	now := s.now()
	switch {
	case d.RevokedAt != nil:
		return d, invalidGrant("device revoked")
	case !now.Before(d.ExpiresAt):
		return d, invalidGrant("device credential expired")
	case d.CertThumbprint != "" && (peer == nil || Thumbprint(peer.Raw) != d.CertThumbprint):
		return d, invalidGrant("this device must present its client certificate")
	}
	if tid, err := s.tenants.LookupTenant(ctx, d.Tenant); err != nil || tid != d.TenantID {
		return d, invalidGrant("tenant no longer exists")
	}
	return d, nil
}

// rotate redeems an unused secret: a new access token and secret, sealed under the old
// secret for the grace, recorded atomically. ErrSecretUsed: a racing redemption won
// (the access token issued here is revoked again).
func (dv *Devices) rotate(ctx context.Context, secret string, rec RefreshRecord, d DeviceRecord, addr string) (TokenGrant, error) {
	s := dv.s
	tr := TokenRecord{Kind: KindTenant, Tenant: d.Tenant, TenantID: d.TenantID, Subject: d.Subject, Role: d.Role, Device: d.ID}
	access, tr, err := s.issue(ctx, tr, AudienceTenant, s.cfg.AccessTTL, d.CertThumbprint)
	if err != nil {
		return TokenGrant{}, err
	}
	if err := dv.stillLive(ctx, d.ID, tr.JTI); err != nil {
		return TokenGrant{}, err
	}
	next, nextHash := newRefreshSecret()
	g := TokenGrant{AccessToken: access, ExpiresAt: tr.ExpiresAt, RefreshToken: next}
	sealed, err := seal(secret, g)
	if err != nil {
		return TokenGrant{}, internal("seal grant", err)
	}
	now := s.now().UTC()
	use := DeviceUse{At: now, Address: addr, ExpiresAt: now.Add(s.cfg.DeviceTTL)}
	err = s.store.Rotate(ctx, rec.Hash, RefreshRecord{Hash: nextHash, DeviceID: d.ID, IssuedAt: now}, tr.JTI, sealed, use)
	if err != nil {
		if _, rerr := s.revoked.revoke(ctx, TokenMatch{JTI: tr.JTI}); rerr != nil {
			s.log.Warn("revoke orphan access token", "jti", tr.JTI, "err", rerr)
		}
		if errors.Is(err, ErrSecretUsed) {
			return TokenGrant{}, err
		}
		return TokenGrant{}, internal("rotate refresh secret", err)
	}
	s.log.Info("device token refreshed", "device", d.ID, "jti", tr.JTI)
	return g, nil
}

// stillLive reads device id again once the access token jti is recorded: a
// revocation of the device that committed after Redeem's first read swept the
// device's tokens before jti existed, so jti is revoked here and the redemption
// refused. A revocation committing after this read sweeps jti itself.
func (dv *Devices) stillLive(ctx context.Context, id, jti string) error {
	s := dv.s
	d, err := s.store.Device(ctx, id)
	if err == nil && d.RevokedAt == nil {
		return nil
	}
	if _, rerr := s.revoked.revoke(ctx, TokenMatch{JTI: jti}); rerr != nil {
		s.log.Warn("revoke orphan access token", "jti", jti, "err", rerr)
	}
	if err != nil {
		return internal("device", err)
	}
	return invalidGrant("device revoked")
}

// redeemUsed answers a secret already redeemed: the same answer within its grace,
// else the device is revoked as compromised.
func (dv *Devices) redeemUsed(ctx context.Context, secret string, rec RefreshRecord, d DeviceRecord, addr string) (TokenGrant, error) {
	s := dv.s
	if rec.UsedAt != nil && rec.Sealed != nil && s.now().Before(rec.UsedAt.Add(RefreshGrace)) {
		g, err := unseal(secret, rec.Sealed)
		if err != nil {
			return TokenGrant{}, internal("unseal grant", err)
		}
		return g, nil
	}
	if err := dv.Revoke(ctx, d.ID); err != nil {
		return TokenGrant{}, err
	}
	s.log.Warn("refresh token reuse: device revoked", "device", d.ID, "tenant", d.Tenant, "subject", d.Subject, "addr", addr)
	aerr := s.Audit(ctx, AuditEntry{Time: s.now(), Actor: "tenant:" + d.Tenant + ":" + d.Subject, Address: addr,
		Action: "device.refresh_reuse", Target: "device:" + d.ID + " " + d.Name, Outcome: OutcomeDenied})
	if aerr != nil {
		s.log.Error("audit refresh reuse", "err", aerr)
	}
	return TokenGrant{}, invalidGrant("refresh token already used; the device is revoked")
}
