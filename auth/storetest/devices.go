package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
)

func device(id, tenant string, created time.Time) auth.DeviceRecord {
	return auth.DeviceRecord{ID: id, Name: "dev-" + id, Tenant: tenant, TenantID: "tid-" + tenant, Subject: "alice",
		Role: auth.RoleWrite, CertThumbprint: "thumb", CreatedAt: created, ExpiresAt: created.Add(time.Hour)}
}

// testDevices: devices and their refresh secrets, rotation once only (also under a
// race), grace settling, device revocation and revoking a device's tokens.
func testDevices(t *testing.T, st auth.Store) {
	ctx := context.Background()
	d := device("d1", "acme", base)
	if err := st.AddDevice(ctx, d, auth.RefreshRecord{Hash: "h1", DeviceID: "d1", IssuedAt: base}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddDevice(ctx, device("d2", "beta", base.Add(time.Second)), auth.RefreshRecord{Hash: "h9", DeviceID: "d2", IssuedAt: base}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddDevice(ctx, device("d1", "acme", base), auth.RefreshRecord{Hash: "hx", DeviceID: "d1", IssuedAt: base}); err == nil {
		t.Fatal("a device id recorded twice must be an error")
	}
	got, err := st.Device(ctx, "d1")
	if err != nil || got.Name != d.Name || got.CertThumbprint != "thumb" || !got.CreatedAt.Equal(d.CreatedAt) || got.RevokedAt != nil || got.LastUsedAt != nil {
		t.Fatalf("Device: %+v %v", got, err)
	}
	if _, err := st.Device(ctx, "nope"); !errors.Is(err, auth.ErrNoRecord) {
		t.Fatalf("unknown device: %v", err)
	}
	if all, _ := st.Devices(ctx, ""); len(all) != 2 || all[0].ID != "d1" {
		t.Fatalf("Devices(all): %+v", all)
	}
	if one, _ := st.Devices(ctx, "beta"); len(one) != 1 || one[0].ID != "d2" {
		t.Fatalf("Devices(beta): %+v", one)
	}
	testRotate(t, st)
}

// testRotate: rotation once only under a race, the device's use recorded, grace
// settling, revoking a device and its tokens (on device d1 with secret h1).
func testRotate(t *testing.T, st auth.Store) {
	ctx := context.Background()
	r, err := st.RefreshSecret(ctx, "h1")
	if err != nil || r.DeviceID != "d1" || r.UsedAt != nil || r.Sealed != nil {
		t.Fatalf("RefreshSecret: %+v %v", r, err)
	}
	use := auth.DeviceUse{At: base.Add(time.Minute), Address: "192.0.2.7", ExpiresAt: base.Add(2 * time.Hour)}
	// Racing rotations of one secret: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, used := 0, 0
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := auth.RefreshRecord{Hash: "h2-" + string(rune('a'+i)), DeviceID: "d1", IssuedAt: use.At}
			err := st.Rotate(ctx, "h1", next, "jti-1", []byte("sealed"), use)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, auth.ErrSecretUsed):
				used++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || used != 5 {
		t.Fatalf("racing rotations: %d won, %d saw used", wins, used)
	}
	r, _ = st.RefreshSecret(ctx, "h1")
	if r.UsedAt == nil || string(r.Sealed) != "sealed" || r.AccessJTI != "jti-1" || r.Successor == "" {
		t.Fatalf("rotated record: %+v", r)
	}
	if err := st.Rotate(ctx, "nope", auth.RefreshRecord{Hash: "z", DeviceID: "d1"}, "", nil, use); !errors.Is(err, auth.ErrNoRecord) {
		t.Fatalf("rotating an unknown secret: %v", err)
	}
	got, _ := st.Device(ctx, "d1")
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(use.At) || got.LastAddress != "192.0.2.7" || !got.ExpiresAt.Equal(use.ExpiresAt) {
		t.Fatalf("device use not recorded: %+v", got)
	}
	// Using the successor settles h1's grace.
	winner := r.Successor
	if err := st.Rotate(ctx, winner, auth.RefreshRecord{Hash: "h3", DeviceID: "d1", IssuedAt: use.At}, "jti-2", []byte("s2"), use); err != nil {
		t.Fatal(err)
	}
	if r, _ = st.RefreshSecret(ctx, "h1"); r.Sealed != nil {
		t.Fatal("using the successor must clear the predecessor's sealed answer")
	}
	if err := st.SettleAccess(ctx, "jti-2"); err != nil {
		t.Fatal(err)
	}
	if r, _ = st.RefreshSecret(ctx, winner); r.Sealed != nil || r.AccessJTI != "jti-2" {
		t.Fatal("SettleAccess must clear the sealed answer")
	}
	testRevokeDevice(t, st)
}

// testRevokeDevice: device d1's tokens revoked by device, then the device itself.
func testRevokeDevice(t *testing.T, st auth.Store) {
	ctx := context.Background()
	// Device tokens are revoked by device.
	tok := token("dev-jti", auth.KindTenant, "acme", "alice", base)
	tok.Device = "d1"
	addTokens(t, st, tok, token("other-jti", auth.KindTenant, "acme", "alice", base))
	if rt, _ := st.Token(ctx, "dev-jti"); rt.Device != "d1" {
		t.Fatalf("token device not kept: %+v", rt)
	}
	hits, err := st.Revoke(ctx, auth.TokenMatch{Device: "d1"}, base.Add(time.Hour))
	if err != nil || len(hits) != 1 || hits[0].JTI != "dev-jti" {
		t.Fatalf("revoke by device: %+v %v", hits, err)
	}
	if ok, err := st.RevokeDevice(ctx, "d1", base.Add(time.Hour)); !ok || err != nil {
		t.Fatalf("RevokeDevice: %v %v", ok, err)
	}
	if ok, err := st.RevokeDevice(ctx, "d1", base.Add(2*time.Hour)); ok || err != nil {
		t.Fatalf("RevokeDevice again: %v %v", ok, err)
	}
	if _, err := st.RevokeDevice(ctx, "nope", base); !errors.Is(err, auth.ErrNoRecord) {
		t.Fatalf("RevokeDevice unknown: %v", err)
	}
	if got, _ := st.Device(ctx, "d1"); got.RevokedAt == nil || !got.RevokedAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("revoked device: %+v", got)
	}
}

// testPruneRefresh: PruneRefresh deletes the secrets spent before its cutoff and
// every secret of a revoked or expired device, and keeps the rest: a live device's
// current secret and its recently spent ones (whose reuse must still be recognised).
func testPruneRefresh(t *testing.T, st auth.Store) {
	ctx := context.Background()
	add := func(d auth.DeviceRecord, hash string) {
		t.Helper()
		if err := st.AddDevice(ctx, d, auth.RefreshRecord{Hash: hash, DeviceID: d.ID, IssuedAt: d.CreatedAt}); err != nil {
			t.Fatal(err)
		}
	}
	add(device("live", "acme", base), "l1")
	add(device("gone", "acme", base), "r1")
	old := device("old", "acme", base)
	old.ExpiresAt = base.Add(20 * time.Minute)
	add(old, "e1")
	// live: l1 spent at +1m, l2 at +30m, l3 current.
	for i, at := range []time.Duration{time.Minute, 30 * time.Minute} {
		use := auth.DeviceUse{At: base.Add(at), ExpiresAt: base.Add(2 * time.Hour)}
		from, to := "l"+string(rune('1'+i)), "l"+string(rune('2'+i))
		if err := st.Rotate(ctx, from, auth.RefreshRecord{Hash: to, DeviceID: "live", IssuedAt: use.At}, "jti-"+to, []byte("s"), use); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RevokeDevice(ctx, "gone", base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, err := st.PruneRefresh(ctx, base.Add(40*time.Minute), base.Add(5*time.Minute))
	if err != nil || n != 3 {
		t.Fatalf("PruneRefresh: %d deleted, %v; want 3", n, err)
	}
	for _, h := range []string{"l1", "r1", "e1"} {
		if _, err := st.RefreshSecret(ctx, h); !errors.Is(err, auth.ErrNoRecord) {
			t.Errorf("%s kept: %v", h, err)
		}
	}
	for _, h := range []string{"l2", "l3"} {
		if r, err := st.RefreshSecret(ctx, h); err != nil || r.DeviceID != "live" {
			t.Errorf("%s lost: %+v %v", h, r, err)
		}
	}
	if r, _ := st.RefreshSecret(ctx, "l2"); r.UsedAt == nil {
		t.Error("a kept spent secret must stay spent")
	}
	for _, id := range []string{"live", "gone", "old"} {
		if _, err := st.Device(ctx, id); err != nil {
			t.Errorf("device %s lost: %v", id, err)
		}
	}
	if n, err := st.PruneRefresh(ctx, base.Add(40*time.Minute), base.Add(5*time.Minute)); err != nil || n != 0 {
		t.Fatalf("PruneRefresh again: %d, %v", n, err)
	}
}
