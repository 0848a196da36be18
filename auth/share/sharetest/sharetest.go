// Package sharetest is the behaviour every share.Store adapter shows, run through
// share.Service: Run(t, newStore) from the adapter's tests.
package sharetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth/share"
	"github.com/syncspace/syncspace/sync/protocol"
)

// Run runs the suite; newStore returns an empty store of its own.
func Run(t *testing.T, newStore func(t *testing.T) share.Store) {
	t.Run("Lifecycle", func(t *testing.T) { lifecycle(t, share.New(newStore(t), nil)) })
	t.Run("PasswordAndLimits", func(t *testing.T) { passwordAndLimits(t, share.New(newStore(t), nil)) })
	t.Run("Creator", func(t *testing.T) { creator(t, newStore(t)) })
}

// creator: the store keeps the creating token's jti, and a link whose creator is
// revoked (or not recorded) resolves as a revoked link, before its password, and is
// listed as revoked; a link without a jti (made before session 25) is asked about
// by its tenant id and subject.
func creator(t *testing.T, st share.Store) {
	ctx := t.Context()
	revoked, broken := map[string]bool{"gone": true}, true
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := share.New(st, func(_ context.Context, jti, tenant, tid, subject string, _ time.Time) (*time.Time, error) {
		if jti == "broken" && broken {
			return nil, errors.New("store down")
		}
		if jti == "" && (tenant != "a" || tid != "t" || subject != "bob") {
			return nil, errors.New("legacy link asked about the wrong creator")
		}
		if revoked[jti] {
			return &at, nil
		}
		return nil, nil
	})
	mk := func(jti, pw string) string {
		id, _, err := s.Create(ctx, share.NewRequest{Tenant: "a", TenantID: "t", Path: "p", CreatedBy: "bob", CreatorJTI: jti, ExpiresIn: time.Hour, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	live, gone, legacy, failing := mk("live", ""), mk("gone", "pw"), mk("", ""), mk("broken", "")
	if rec, err := s.Resolve(ctx, live, ""); err != nil || rec.CreatorJTI != "live" {
		t.Fatalf("live creator: %+v %v", rec, err)
	}
	for _, pw := range []string{"pw", "", "wrong"} {
		if _, err := s.Resolve(ctx, gone, pw); !errors.Is(err, share.ErrGone) {
			t.Fatalf("revoked creator, password %q: %v", pw, err)
		}
	}
	if _, err := s.Resolve(ctx, legacy, ""); err != nil {
		t.Fatalf("a link without a recorded creator: %v", err)
	}
	if _, err := s.Resolve(ctx, failing, ""); protocol.CodeOf(err) != protocol.CodeInternal {
		t.Fatalf("check failing: %v", err)
	}
	revoked["live"] = true
	if _, err := s.Resolve(ctx, live, ""); !errors.Is(err, share.ErrGone) {
		t.Fatalf("creator revoked later: %v", err)
	}
	revoked[""] = true // the legacy link's subject revoked
	if _, err := s.Resolve(ctx, legacy, ""); !errors.Is(err, share.ErrGone) {
		t.Fatalf("legacy link, creator revoked: %v", err)
	}
	if _, err := s.List(ctx, "t"); protocol.CodeOf(err) != protocol.CodeInternal {
		t.Fatalf("list while the check fails: %v", err)
	}
	broken = false
	checkListedRevoked(t, s, at, map[string]bool{live: true, gone: true, legacy: true, failing: false})
}

// checkListedRevoked: List shows the links of tenant id "t" whose creator is
// revoked (want[id]) as revoked at that revocation, and the others as live.
func checkListedRevoked(t *testing.T, s *share.Service, at time.Time, want map[string]bool) {
	t.Helper()
	list, err := s.List(t.Context(), "t")
	if err != nil || len(list) != len(want) {
		t.Fatalf("list: %+v %v", list, err)
	}
	for id, dead := range want {
		for _, r := range list {
			if r.Key != share.KeyOf(id) {
				continue
			}
			if got := r.RevokedAt != nil && r.RevokedAt.Equal(at) && r.CreatorRevoked; got != dead || !dead && r.RevokedAt != nil {
				t.Errorf("link of %s listed revoked_at %v creator_revoked %v; want revoked %v", r.CreatorJTI, r.RevokedAt, r.CreatorRevoked, dead)
			}
		}
	}
}

func lifecycle(t *testing.T, s *share.Service) {
	ctx := t.Context()
	id, rec, err := s.Create(ctx, share.NewRequest{Tenant: "acme", TenantID: "tid1", Path: "docs", CreatedBy: "alice", ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !share.ParseID(id) || rec.Key != share.KeyOf(id) || strings.Contains(rec.Key, id) {
		t.Fatalf("id %q key %q", id, rec.Key)
	}
	got, err := s.Resolve(ctx, id, "")
	if err != nil || got.Path != "docs" || got.Tenant != "acme" || got.TenantID != "tid1" || got.CreatedBy != "alice" {
		t.Fatalf("resolve: %+v %v", got, err)
	}
	list, err := s.List(ctx, "tid1")
	if err != nil || len(list) != 1 || list[0].Key != rec.Key {
		t.Fatalf("list: %+v %v", list, err)
	}
	if l, _ := s.List(ctx, "tid2"); len(l) != 0 {
		t.Fatalf("another tenant's list: %+v", l)
	}
	// attacks: another tenant revoking, a key that is not hex, an id of the wrong shape
	for _, c := range []struct{ tid, ref string }{{"tid2", id}, {"tid1", "zz"}, {"tid1", strings.ToUpper(rec.Key)}, {"tid1", id + "A"}} {
		if _, err := s.Lookup(ctx, c.tid, c.ref); !errors.Is(err, share.ErrGone) {
			t.Fatalf("Lookup(%q, %q) = %v", c.tid, c.ref, err)
		}
	}
	if _, err := s.Lookup(ctx, "tid1", rec.Key); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, rec.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, id, ""); !errors.Is(err, share.ErrGone) {
		t.Fatalf("revoked link: %v", err)
	}
	if err := s.Revoke(ctx, strings.Repeat("0", 64)); !errors.Is(err, share.ErrGone) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func passwordAndLimits(t *testing.T, s *share.Service) {
	ctx := t.Context()
	id, rec, err := s.Create(ctx, share.NewRequest{Tenant: "a", TenantID: "t", Path: "p", ExpiresIn: time.Hour, Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if !rec.HasPassword || !strings.HasPrefix(rec.PasswordHash, "argon2id$") || strings.Contains(rec.PasswordHash, "correct") {
		t.Fatalf("stored password %q", rec.PasswordHash)
	}
	for _, pw := range []string{"", "correct hors", "correct horse ", strings.Repeat("x", share.MaxPasswordLen+1)} {
		if _, err := s.Resolve(ctx, id, pw); !errors.Is(err, share.ErrPassword) {
			t.Fatalf("password %q: %v", pw, err)
		}
	}
	if _, err := s.Resolve(ctx, id, "correct horse"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, -time.Second, share.MaxExpiresIn + time.Second} {
		if _, _, err := s.Create(ctx, share.NewRequest{Path: "p", ExpiresIn: d}); protocol.CodeOf(err) != protocol.CodeBadRequest {
			t.Fatalf("expires_in %s: %v", d, err)
		}
	}
	if _, _, err := s.Create(ctx, share.NewRequest{Path: "p", ExpiresIn: time.Hour, Password: strings.Repeat("x", share.MaxPasswordLen+1)}); protocol.CodeOf(err) != protocol.CodeBadRequest {
		t.Fatalf("long password: %v", err)
	}
	// Ids are 128 random bits: no two alike.
	seen := map[string]bool{}
	for range 100 {
		id, _, err := s.Create(ctx, share.NewRequest{Path: "p", ExpiresIn: time.Hour})
		if err != nil || seen[id] {
			t.Fatalf("id %q repeated or %v", id, err)
		}
		seen[id] = true
	}
}
