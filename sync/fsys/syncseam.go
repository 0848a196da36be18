// The fsync seam: counting, hooking (tests) and slowing down (benchmarks) the
// flushes of the server's file store and index.

package fsys

import (
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// SyncDelayEnv names the environment variable that turns the slow-disk simulation on
// at start: a Go duration ("5ms") that every Sync and Flushed first waits on a
// simulated device flushing one request at a time. Unset (the default, and the only
// sensible setting in production) means no delay at all.
const SyncDelayEnv = "SYNCSPACE_FSYNC_DELAY"

var (
	syncDelay atomic.Int64 // nanoseconds; 0 = off
	device    sync.Mutex   // the simulated device: one flush at a time
	syncCount atomic.Int64
	hook      atomic.Pointer[func(name string) error]

	// For FlushStats.
	flushRounds, flushRequests, libraryFlushes atomic.Int64
)

func init() {
	if v := os.Getenv(SyncDelayEnv); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			syncDelay.Store(int64(d))
		}
	}
}

// SetSyncDelay sets the simulated flush delay (0 turns it off) and returns the one it
// replaces. With a delay d, each flush (Sync, a Flusher's merged flush, Flushed) holds
// a process-wide "device" for d before it goes on: concurrent flushes queue, as on a
// disk that serves one cache flush at a time and merges none. It is for benchmarks
// (syncbench's slow-disk rows) and tests; see SyncDelayEnv.
func SetSyncDelay(d time.Duration) time.Duration {
	return time.Duration(syncDelay.Swap(int64(max(d, 0))))
}

// SyncCount returns how many flushes have been made through this package since the
// process started (Sync, a Flusher's merged flush counting once, Flushed).
func SyncCount() int64 { return syncCount.Load() }

// FlushStats returns, since the process started, how many rounds the Flushers made
// and how many requests those rounds served, and how many flushes libraries reported
// (Flushed: SQLite's WAL commits). For benchmarks that show how flushes are shared.
func FlushStats() (rounds, requests, library int64) {
	return flushRounds.Load(), flushRequests.Load(), libraryFlushes.Load()
}

// SetSyncHook sets fn (nil: none) to be called with the file's name before each fsync
// made through Sync or a Flusher, and before Flushed returns. An error from fn fails
// that fsync (it is not made); Flushed ignores it (the flush already happened). For
// tests that inject faults or check what is durable before an answer (fn may block);
// fn must be safe for concurrent use. It returns the hook it replaces.
func SetSyncHook(fn func(name string) error) func(name string) error {
	var p *func(string) error
	if fn != nil {
		p = &fn
	}
	if old := hook.Swap(p); old != nil {
		return *old
	}
	return nil
}

// Sync fsyncs f (a file or a directory; F_FULLFSYNC on macOS, FlushFileBuffers on
// Windows), after the simulated delay if one is set, and counts it.
func Sync(f *os.File) error {
	if err := callHook(f.Name()); err != nil {
		return err
	}
	flushDelay()
	return syncFile(f)
}

// Flushed accounts for a flush made by a library on its own (SQLite's commit of its
// write-ahead log, name): it calls the hook, waits the simulated delay if one is set
// and counts it. Call it once the flush has succeeded.
func Flushed(name string) {
	libraryFlushes.Add(1)
	_ = callHook(name)
	flushDelay()
}

// flushDelay counts a flush and waits the simulated delay on the device, if any.
func flushDelay() {
	syncCount.Add(1)
	if d := time.Duration(syncDelay.Load()); d > 0 {
		device.Lock()
		time.Sleep(d)
		device.Unlock()
	}
}

func callHook(name string) error {
	if p := hook.Load(); p != nil {
		return (*p)(name)
	}
	return nil
}
