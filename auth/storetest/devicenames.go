package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
)

// testDeviceNames: a live device name is unique per tenant (id), atomically: of
// enrolments of one name racing, exactly one is recorded and the others get
// ErrDeviceNameTaken; a revoked or expired device, or one of another tenant id,
// holds no name.
func testDeviceNames(t *testing.T, st auth.Store) {
	ctx := context.Background()
	const racers = 8
	var wg sync.WaitGroup
	errs := make([]error, racers)
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := device(fmt.Sprint("race-", i), "acme", base)
			d.Name = "laptop"
			<-start
			errs[i] = st.AddDevice(ctx, d, auth.RefreshRecord{Hash: fmt.Sprint("rh-", i), DeviceID: d.ID, IssuedAt: base})
		}()
	}
	close(start)
	wg.Wait()
	wins, taken := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, auth.ErrDeviceNameTaken):
			taken++
		default:
			t.Errorf("racing enrolment: %v", err)
		}
	}
	if all, _ := st.Devices(ctx, "acme"); wins != 1 || taken != racers-1 || len(all) != 1 {
		t.Fatalf("racing enrolments of one name: %d recorded, %d refused, %d devices; want 1, %d, 1", wins, taken, len(all), racers-1)
	}
	testDeadNamesFree(t, st)
}

// testDeadNamesFree: after testDeviceNames left one live "laptop" on tid-acme, the
// name is free on another tenant id, once that device is expired, and once revoked;
// a refused enrolment records neither device nor secret.
func testDeadNamesFree(t *testing.T, st auth.Store) {
	ctx := context.Background()
	add := func(id, tenant string, at time.Time) error {
		d := device(id, tenant, at)
		d.Name = "laptop"
		return st.AddDevice(ctx, d, auth.RefreshRecord{Hash: "h-" + id, DeviceID: id, IssuedAt: at})
	}
	if err := add("other-tenant", "beta", base); err != nil {
		t.Fatalf("the name on another tenant: %v", err)
	}
	if err := add("refused", "acme", base.Add(time.Minute)); !errors.Is(err, auth.ErrDeviceNameTaken) {
		t.Fatalf("the name while live: %v", err)
	}
	if _, err := st.RefreshSecret(ctx, "h-refused"); !errors.Is(err, auth.ErrNoRecord) {
		t.Fatalf("a refused enrolment left its secret: %v", err)
	}
	// device() expires an hour after creation: at +1h the racer's device is dead.
	if err := add("after-expiry", "acme", base.Add(time.Hour)); err != nil {
		t.Fatalf("the name of an expired device: %v", err)
	}
	if _, err := st.RevokeDevice(ctx, "after-expiry", base.Add(time.Hour+time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := add("after-revoke", "acme", base.Add(time.Hour+2*time.Second)); err != nil {
		t.Fatalf("the name of a revoked device: %v", err)
	}
}
