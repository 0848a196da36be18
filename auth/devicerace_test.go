package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	. "github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
)

// pausingStore is the real SQLite store with one injected fault: the first Device
// read runs afterRead before answering, so that something (a revocation by another
// process) happens between a redemption's check of the device and its issue of the
// access token.
type pausingStore struct {
	Store
	afterRead func()
}

func (s *pausingStore) Device(ctx context.Context, id string) (DeviceRecord, error) {
	d, err := s.Store.Device(ctx, id)
	if h := s.afterRead; h != nil {
		s.afterRead = nil
		h()
	}
	return d, err
}

// A device revoked (here by syncctl in local mode, a second process on the same
// store) while a redemption of its secret is under way must not come out of it with
// a working access token: the revocation swept the device's tokens before that one
// was recorded.
func TestDeviceRevokedDuringRedeem(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	st, err := sqlitestore.New(ctx, f.db)
	if err != nil {
		t.Fatal(err)
	}
	ps := &pausingStore{Store: st}
	svc, err := Open(ctx, ps, Config{KeyDir: filepath.Join(f.dir, "keys")}, f.tenants, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret, d, err := svc.Devices().Enroll(ctx, "acme", "alice", RoleWrite, "laptop", "")
	if err != nil {
		t.Fatal(err)
	}
	ctl := f.second(t)
	ps.afterRead = func() {
		if err := ctl.Devices().Revoke(ctx, d.ID); err != nil {
			t.Errorf("revoke: %v", err)
		}
	}
	g, err := svc.Devices().Redeem(ctx, secret, "192.0.2.1", nil)
	if err == nil {
		// Whatever this process has seen, the token must not verify anywhere.
		if err := svc.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]*Service{"redeeming process": svc, "another process": f.second(t)} {
			if _, verr := s.Verify(ctx, g.AccessToken, AudienceTenant); verr == nil {
				t.Errorf("%s: the access token of a device revoked during its redemption verifies", name)
			}
		}
		return
	}
	if !isGrantErr(err) {
		t.Fatalf("redemption racing a revocation: %v, want invalid_grant", err)
	}
	recs, err := svc.ListTokens(ctx, TokenFilter{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Device == d.ID && !r.Revoked {
			t.Fatalf("an access token of the revoked device is left unrevoked: %+v", r)
		}
	}
	if _, err := svc.Devices().Redeem(ctx, secret, "192.0.2.1", nil); !errors.As(err, new(*GrantError)) {
		t.Fatalf("revoked device redeemed again: %v", err)
	}
}

// A tenant deleted and created again under the same name starts with no devices:
// the old tenant's live device of a name does not block enrolling that name (its
// tenant admin could neither list nor revoke it: it is another tenant's).
func TestDeviceNameFreeInRecreatedTenant(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	enroll(t, f, "laptop", "")
	f.tenants.set("acme", "tid-acme-2")
	if _, _, err := f.svc.Devices().Enroll(ctx, "acme", "alice", RoleWrite, "laptop", ""); err != nil {
		t.Fatalf("enrolling a name only the deleted tenant used: %v", err)
	}
	if _, _, err := f.svc.Devices().Enroll(ctx, "acme", "bob", RoleRead, "laptop", ""); err == nil {
		t.Fatal("a second live device of one name in the same tenant must be refused")
	}
}
