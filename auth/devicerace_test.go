package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	. "github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/sync/protocol"
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

// Revoking a subject revokes what it holds now, device credentials included: a
// member removed with `team revoke --subject` must not come back minutes later by
// redeeming its device's refresh secret (the client does that on its own after 4005).
func TestRevokeSubjectRevokesItsDevices(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sAlice, dAlice := enroll(t, f, "laptop", "")
	sBob, _, err := f.svc.Devices().Enroll(ctx, "acme", "bob", RoleWrite, "desktop", "")
	if err != nil {
		t.Fatal(err)
	}
	sBeta, _, err := f.svc.Devices().Enroll(ctx, "beta", "alice", RoleWrite, "laptop", "")
	if err != nil {
		t.Fatal(err)
	}
	g, err := f.svc.Devices().Redeem(ctx, sAlice, "192.0.2.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := mustIssue(t, f.svc, "acme", "alice", RoleRead)
	n, err := f.svc.RevokeSubject(ctx, "acme", "alice")
	if err != nil || n != 2 {
		t.Fatalf("RevokeSubject: %d, %v; want 2 (the plain token and the device's access token)", n, err)
	}
	for _, tok := range []string{plain, g.AccessToken} {
		if _, err := f.svc.Verify(ctx, tok, AudienceTenant); !errors.Is(err, ErrTokenRevoked) {
			t.Fatalf("a revoked subject's token: %v", err)
		}
	}
	if _, err := f.svc.Devices().Redeem(ctx, g.RefreshToken, "192.0.2.1", nil); !isGrantErr(err) {
		t.Fatalf("a revoked subject's device redeemed its secret: %v", err)
	}
	devs, _ := f.svc.Devices().List(ctx, "acme")
	for _, d := range devs {
		if (d.RevokedAt != nil) != (d.ID == dAlice.ID) {
			t.Fatalf("only alice's device on acme is revoked: %+v", devs)
		}
	}
	// Other subjects, and the subject on other tenants, keep theirs.
	if _, err := f.svc.Devices().Redeem(ctx, sBob, "192.0.2.2", nil); err != nil {
		t.Fatalf("bob's device: %v", err)
	}
	if _, err := f.svc.Devices().Redeem(ctx, sBeta, "192.0.2.3", nil); err != nil {
		t.Fatalf("alice's device on another tenant: %v", err)
	}
}

// Enrolments of one device name racing, in this process and in a second one on the
// same SQLite file (syncctl's local mode): exactly one succeeds, every other gets
// the refusal a later enrolment gets (bad_request, "already has a live device").
func TestDeviceNameRace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	svcs := []*Service{f.svc, f.second(t)}
	const racers = 16
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, _, errs[i] = svcs[i%2].Devices().Enroll(ctx, "acme", "alice", RoleWrite, "laptop", "")
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case protocol.CodeOf(err) != protocol.CodeBadRequest || !strings.Contains(err.Error(), "already has a live device named"):
			t.Errorf("racing enrolment: %v", err)
		}
	}
	if devs, err := f.svc.Devices().List(ctx, "acme"); wins != 1 || err != nil || len(devs) != 1 {
		t.Fatalf("racing enrolments of one name: %d succeeded, %d devices recorded (%v); want 1 and 1", wins, len(devs), err)
	}
}
