package hub

import (
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Returning memory after connection storms.
//
// A burst of connections (clients reconnecting after a restart or a network cut)
// leaves behind the garbage of thousands of handshakes. The Go runtime keeps freed
// heap up to its next GC goal and gives it back to the OS only slowly, so an idle
// server would sit at twice its live heap for minutes. Once the number of
// connections has moved by stormSize and then held still for stormQuiet, the hub
// returns freed memory at once (debug.FreeOSMemory: one GC, then the scavenger). It
// happens at most once per storm, never while connections keep arriving.
const (
	stormSize  = 1000
	stormQuiet = 2 * time.Second
)

// memRelease decides when a storm has settled. It is used by the sweeper only.
type memRelease struct {
	released  int       // connections at the last release (or at start)
	count     int       // connections at the last observation
	changedAt time.Time // when count last moved
	running   atomic.Bool
	free      func() // debug.FreeOSMemory; tests replace it
}

// observe records the connection count at now and reports whether to release.
func (m *memRelease) observe(now time.Time, count int) bool {
	if count != m.count {
		m.count, m.changedAt = count, now
		return false
	}
	d := count - m.released
	if (d >= stormSize || d <= -stormSize) && now.Sub(m.changedAt) >= stormQuiet {
		m.released = count
		return true
	}
	return false
}

// release runs free in the background unless a release is still running.
func (m *memRelease) release() {
	if !m.running.CompareAndSwap(false, true) {
		return
	}
	free := m.free
	if free == nil {
		free = debug.FreeOSMemory
	}
	go func() {
		defer m.running.Store(false)
		free()
	}()
}
