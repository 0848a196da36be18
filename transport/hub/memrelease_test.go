package hub

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestMemReleaseAfterStorm(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	for _, c := range []struct {
		name  string
		steps []struct {
			at    float64
			count int
			want  bool
		}
	}{
		{"storm then quiet releases once", []struct {
			at    float64
			count int
			want  bool
		}{{0, 10, false}, {0.25, 600, false}, {0.5, 1500, false}, {1, 1500, false}, {2.4, 1500, false}, {2.6, 1500, true}, {3, 1500, false}, {10, 1500, false}}},
		{"small changes never release", []struct {
			at    float64
			count int
			want  bool
		}{{0, 100, false}, {1, 900, false}, {5, 900, false}, {10, 900, false}}},
		{"arrivals keep it waiting", []struct {
			at    float64
			count int
			want  bool
		}{{0, 2000, false}, {1.5, 2001, false}, {3, 2002, false}, {4.5, 2003, false}, {6.6, 2003, true}}},
		{"a mass disconnect releases too", []struct {
			at    float64
			count int
			want  bool
		}{{0, 5000, false}, {2.1, 5000, true}, {3, 100, false}, {5.1, 100, true}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var m memRelease
			for i, s := range c.steps {
				if got := m.observe(at(s.at), s.count); got != s.want {
					t.Fatalf("step %d (%vs, %d conns): release %v, want %v", i, s.at, s.count, got, s.want)
				}
			}
		})
	}
}

func TestMemReleaseNoOverlap(t *testing.T) {
	var calls atomic.Int32
	block := make(chan struct{})
	m := memRelease{free: func() { calls.Add(1); <-block }}
	m.release()
	m.release() // still running: skipped
	for m.running.Load() && calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(block)
	for m.running.Load() {
		time.Sleep(time.Millisecond)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d releases, want 1", n)
	}
}
