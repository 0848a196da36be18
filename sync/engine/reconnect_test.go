package engine

import (
	"testing"
	"time"
)

// The retry schedule of SPEC §1: exponential with jitter capped at 30 s; after a close
// with 1001 or 1012, every second (jitter ≤ 0.5 s) for 60 s first.
func TestReconnectSchedule(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, jit := range []struct {
		name string
		f    func(n int64) int64
	}{{"low", func(int64) int64 { return 0 }}, {"high", func(n int64) int64 { return n }}} {
		t.Run(jit.name, func(t *testing.T) {
			// Plain failures: 0.5 s, 1, 2, 4, 8, 16, 30, 30 … (the jitter takes up to half).
			r := newReconnect(0)
			r.jitter = jit.f
			want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
			for i, w := range want {
				d := r.next(now)
				if d < w/2 || d > w {
					t.Fatalf("attempt %d: wait %v, want within [%v, %v]", i+1, d, w/2, w)
				}
			}

			// A close with 1001 (or 1012): every second ± 0.5 s for a minute, even
			// after a long backoff.
			for _, code := range []int{1001, 1012} {
				r.connected(time.Second, code, now)
				var total time.Duration
				n := 0
				for total < 59*time.Second {
					d := r.next(now.Add(total))
					if d < 500*time.Millisecond || d > 1500*time.Millisecond {
						t.Fatalf("code %d: fast retry %d waits %v", code, n, d)
					}
					total += d
					n++
				}
				if n < 39 {
					t.Fatalf("code %d: only %d fast retries in a minute", code, n)
				}
				// After the window: the usual backoff, from its start.
				after := now.Add(61 * time.Second)
				if d := r.next(after); d > 500*time.Millisecond {
					t.Fatalf("code %d: first wait after the window %v", code, d)
				}
				if d := r.next(after); d < 500*time.Millisecond || d > time.Second {
					t.Fatalf("code %d: second wait after the window %v", code, d)
				}
			}

			// Other closes (4008 slow consumer, an abnormal end) keep the backoff.
			r = newReconnect(0)
			r.jitter = jit.f
			for i := 0; i < 5; i++ {
				r.next(now)
			}
			r.connected(time.Second, 4008, now)
			if d := r.next(now); d < 8*time.Second {
				t.Fatalf("4008 reset the backoff: %v", d)
			}
			// A connection that lived a while resets it.
			r.connected(time.Minute, 0, now)
			if d := r.next(now); d > 500*time.Millisecond {
				t.Fatalf("a long-lived connection did not reset the backoff: %v", d)
			}
		})
	}
}
