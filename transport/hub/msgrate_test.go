package hub

import (
	"testing"
	"time"
)

func TestMsgBucket(t *testing.T) {
	const rate, burst = 100, 200
	var b msgBucket
	now := time.Hour // any time: the first message finds the bucket full
	for i := 0; i < burst; i++ {
		if !b.allowAt(now, rate, burst) {
			t.Fatalf("message %d of the first burst refused", i+1)
		}
	}
	if b.allowAt(now, rate, burst) {
		t.Fatal("message past the burst allowed")
	}
	// 10 ms refill one message at 100/s.
	now += 10 * time.Millisecond
	if !b.allowAt(now, rate, burst) || b.allowAt(now, rate, burst) {
		t.Fatal("after 10 ms: want exactly one more message")
	}
	// A clock that goes back refills nothing and does not stall the next refill.
	if b.allowAt(now-time.Second, rate, burst) {
		t.Fatal("allowed after the clock went back")
	}
	now += 20 * time.Millisecond
	first, second, third := b.allowAt(now, rate, burst), b.allowAt(now, rate, burst), b.allowAt(now, rate, burst)
	if !first || !second || third {
		t.Fatal("after 20 more ms: want exactly two more messages")
	}
	// A long pause refills up to the burst, not beyond.
	now += time.Hour
	n := 0
	for b.allowAt(now, rate, burst) {
		n++
	}
	if n != burst {
		t.Fatalf("after an hour: %d messages allowed, want the burst %d", n, burst)
	}
}

func TestPingDue(t *testing.T) {
	const s = int64(time.Second)
	every := 30 * time.Second
	start := 1000 * s
	// Sweeps every 250 ms over 95 s: a ping at the first sweep at or after 30, 60, 90 s.
	var at []int64
	prev := start - s/4
	for now := start; now <= start+95*s; now += s / 4 {
		if pingDue(start, prev, now, every) {
			at = append(at, (now-start)/s)
		}
		prev = now
	}
	if len(at) != 3 || at[0] != 30 || at[1] != 60 || at[2] != 90 {
		t.Fatalf("pings at %v s, want [30 60 90]", at)
	}
	// A sweep delayed past several intervals pings once.
	if !pingDue(start, start+s, start+100*s, every) {
		t.Fatal("no ping after a long stall")
	}
	// A connection made after the previous sweep is not pinged in its first one.
	if pingDue(start, start-s, start+s, every) {
		t.Fatal("pinged in its first sweep")
	}
	// An interval shorter than the sweep period: a ping every sweep.
	for now := start + s; now < start+3*s; now += s / 4 {
		if !pingDue(start, now-s/4, now, 100*time.Millisecond) {
			t.Fatalf("no ping at %v with a 100 ms interval", time.Duration(now-start))
		}
	}
}
