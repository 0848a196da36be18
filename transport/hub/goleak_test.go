package hub

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakWait is how long verifyNoLeaks waits for goroutines to end. goleak.VerifyNone
// alone gives them about 0.4 s (20 retries, at most 100 ms apart): on a loaded machine
// a connection's goroutines can take longer to be scheduled and return after their
// socket closed. A goroutine that leaks never ends, so the check still fails for it.
const leakWait = 20 * time.Second

// verifyNoLeaks registers a cleanup that fails t if goroutines started since the call
// (other than the testing package's) are still running leakWait after t's later
// cleanups ran. Call it first in a test, so that its cleanup runs last.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		t.Helper()
		if err := waitNoLeaks(leakWait, before); err != nil {
			t.Errorf("goroutines still running %v after the test: %v", leakWait, err)
		}
	})
}

// waitNoLeaks calls goleak.Find with opts until it finds nothing or d has passed, and
// returns its last error.
func waitNoLeaks(d time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(d)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWaitNoLeaks: a goroutine that ends later than goleak's own retries allow is not
// a leak; one that never ends still is.
func TestWaitNoLeaks(t *testing.T) {
	before := goleak.IgnoreCurrent()
	slow := make(chan struct{})
	go func() { <-slow }()
	time.AfterFunc(time.Second, func() { close(slow) })
	if err := waitNoLeaks(10*time.Second, before); err != nil {
		t.Fatalf("a goroutine that ends after 1 s: %v", err)
	}
	stuck := make(chan struct{})
	defer close(stuck)
	go func() { <-stuck }()
	if err := waitNoLeaks(200*time.Millisecond, before); err == nil {
		t.Fatal("a goroutine that never ends was not reported")
	}
}
