package fsys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeDevice returns an fsync that takes d; serial: one at a time (a device that
// merges nothing), else every fsync waiting at once is served by the same flush.
func fakeDevice(d time.Duration, serial bool) func(*os.File) error {
	var mu sync.Mutex
	return func(*os.File) error {
		if serial {
			mu.Lock()
			defer mu.Unlock()
		}
		time.Sleep(d)
		return nil
	}
}

// TestConcurrentSyncsMerge: the probe tells a device that serves one flush at a time
// from one that serves concurrent fsyncs together, works on the real file system and
// leaves no scratch directory behind.
func TestConcurrentSyncsMerge(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		serial bool
		want   bool
	}{{true, false}, {false, true}} {
		got, err := concurrentSyncsMerge(dir, 8, fakeDevice(3*time.Millisecond, c.serial))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("serial device %v: merges = %v, want %v", c.serial, got, c.want)
		}
	}
	if _, err := concurrentSyncsMerge(dir, 4, syncFile); err != nil {
		t.Fatalf("probe of the real file system: %v", err)
	}
	if _, err := concurrentSyncsMerge(dir, 4, func(*os.File) error { return errors.New("eio") }); err == nil {
		t.Error("a failing fsync did not fail the probe")
	}
	if _, err := os.Stat(filepath.Join(dir, probeName)); !os.IsNotExist(err) {
		t.Errorf("scratch directory left behind (stat: %v)", err)
	}
}

// TestFlusherProbeDecides: the first request of a Flusher probes its file system
// before it returns, once for every Flusher on that file system; where concurrent
// fsyncs merge, requests go straight to their own fsyncs; where they do not, or while
// the slow-disk simulation is on, they keep merging.
func TestFlusherProbeDecides(t *testing.T) {
	if !canSyncFS {
		t.Skip("no syncfs here: a Flusher is plain Sync")
	}
	defer SetFlushMode(SetFlushMode(FlushProbe))
	orig := probeSync
	defer func() { probeSync = orig; fsProbes.Clear() }()
	for _, serial := range []bool{true, false} {
		probeSync = fakeDevice(2*time.Millisecond, serial)
		dir, fs := flushFiles(t, 1)
		fsProbes.Clear()
		fl, err := NewFlusher(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := fl.Sync(fs[0]); err != nil {
			t.Fatal(err)
		}
		if st := fl.probe.state.Load(); st != probeMerges && st != probeSerial {
			t.Fatalf("probe state %d after the first request", st)
		}
		fl2, err := NewFlusher(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if fl2.probe != fl.probe {
			t.Error("a second Flusher on the same file system has a probe of its own")
		}
		fl2.Close()
		if fl.Direct() == serial {
			t.Errorf("serial device %v: direct = %v", serial, fl.Direct())
		}
		if !serial {
			old := SetSyncDelay(time.Millisecond)
			if fl.Direct() {
				t.Error("direct fsyncs on the simulated device, which merges nothing")
			}
			SetSyncDelay(old)
		}
		if err := fl.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFlusherDirect: in direct mode each request is its own fsync, made through the
// seam (hooked and counted once), and returns only when that fsync is done, without
// waiting for other requests' fsyncs.
func TestFlusherDirect(t *testing.T) {
	if !canSyncFS {
		t.Skip("no syncfs here: a Flusher is plain Sync")
	}
	defer SetFlushMode(SetFlushMode(FlushDirect))
	dir, fs := flushFiles(t, 8)
	fl, err := NewFlusher(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	held, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	hooked := map[string]int{}
	defer restoreSyncHook(SetSyncHook(func(name string) error {
		mu.Lock()
		hooked[name]++
		mu.Unlock()
		if strings.HasSuffix(name, "f3") {
			close(held)
			<-release
		}
		return nil
	}))
	before := SyncCount()
	heldDone := make(chan error, 1)
	go func() { heldDone <- fl.Sync(fs[3]) }()
	<-held
	others := append(append([]*os.File(nil), fs[:3]...), fs[4:]...)
	for i, err := range syncAll(fl, others) {
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	select {
	case err := <-heldDone:
		t.Fatalf("Sync returned (err %v) while its fsync was held", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-heldDone; err != nil {
		t.Fatal(err)
	}
	if n := SyncCount() - before; n != int64(len(fs)) {
		t.Errorf("%d flushes for %d files, want one each", n, len(fs))
	}
	if fl.Merged() != 0 {
		t.Errorf("%d merged flushes in direct mode", fl.Merged())
	}
	for _, f := range fs {
		if hooked[f.Name()] != 1 {
			t.Errorf("%s: hook called %d times, want 1", f.Name(), hooked[f.Name()])
		}
	}
}
