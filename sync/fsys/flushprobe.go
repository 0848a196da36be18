// The Flusher's device probe: does this file system merge concurrent directory fsyncs?

package fsys

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Probe sizes: probeDirs directories fsynced at once, probeTrials rounds (medians).
const (
	probeDirs   = 16
	probeTrials = 7
)

// fsProbe is the probe of one file system: its state, shared by every Flusher on it.
type fsProbe struct{ state atomic.Int32 }

const (
	probeNone    int32 = iota // not made yet
	probeRunning              // being made by a request
	probeMerges               // concurrent fsyncs are merged: fsync directly
	probeSerial               // they are not (or the probe failed): merge with syncfs
)

// fsProbes holds the probe of each file system seen, by device number.
var fsProbes sync.Map // uint64 → *fsProbe

// probeOf returns the probe of d's file system (a Flusher's own where the device
// number is unknown).
func probeOf(d *os.File) *fsProbe {
	dev, ok := deviceOf(d)
	if !ok {
		return &fsProbe{}
	}
	p, _ := fsProbes.LoadOrStore(dev, &fsProbe{})
	return p.(*fsProbe)
}

// merges reports whether concurrent fsyncs on the file system are merged by it. The
// first call makes the probe, in dir (any directory on it); calls meanwhile get false.
// The probe's fsyncs are raw, past the seam: they test the real file system, are not
// the store's flushes (neither counted nor hooked), and an error leaves the answer
// false.
func (p *fsProbe) merges(dir string) bool {
	switch p.state.Load() {
	case probeMerges:
		return true
	case probeNone:
		if p.state.CompareAndSwap(probeNone, probeRunning) {
			ok, err := concurrentSyncsMerge(dir, probeDirs, probeSync)
			if err == nil && ok {
				p.state.Store(probeMerges)
				return true
			}
			p.state.Store(probeSerial)
		}
	}
	return false
}

// probeSync is the fsync the probe times (a variable for tests to fake a device).
var probeSync = syncFile

// probeName is the probe's scratch directory, in the directory given to NewFlusher
// (removed after the probe; one left by a crash is removed by the next probe).
const probeName = ".flushprobe"

// concurrentSyncsMerge reports whether the file system of dir serves n concurrent
// directory fsyncs at about the cost of one, as journaling file systems do (ext4 and
// XFS put every directory's change into the running journal transaction and commit it
// once for all the fsyncs waiting on it). A device that serves one flush at a time
// takes n times one fsync for them. Each of probeTrials rounds makes one directory
// dirty (a new entry) and times its fsync alone, then makes n directories dirty and
// times their fsyncs issued together; the file system merges when the median of the
// rounds' ratios (together / alone) is at most 3n/4. Pairing the two timings of a
// round and taking the median keeps other programs' flushes on a shared disk from
// deciding: on this project's machines (ext4 on virtio, load 13–16) the ratio for
// n = 16 was 4–6 in the median, single rounds 0.4–45. syncDir is the fsync to time
// (probeSync). The probe works in dir/.flushprobe and removes it.
func concurrentSyncsMerge(dir string, n int, syncDir func(*os.File) error) (bool, error) {
	scratch := filepath.Join(dir, probeName)
	if err := os.RemoveAll(scratch); err != nil {
		return false, err
	}
	if err := os.Mkdir(scratch, 0o700); err != nil {
		return false, err
	}
	defer os.RemoveAll(scratch)
	ds := make([]*os.File, n)
	for i := range ds {
		p := filepath.Join(scratch, fmt.Sprint(i))
		if err := os.Mkdir(p, 0o700); err != nil {
			return false, err
		}
		d, err := os.Open(p)
		if err != nil {
			return false, err
		}
		defer d.Close()
		ds[i] = d
	}
	entry := 0
	dirty := func(ds []*os.File) error {
		for _, d := range ds {
			entry++
			if err := os.WriteFile(filepath.Join(d.Name(), fmt.Sprint(entry)), nil, 0o600); err != nil {
				return err
			}
		}
		return nil
	}
	var ratios []float64
	for range probeTrials {
		if err := dirty(ds[:1]); err != nil {
			return false, err
		}
		t := time.Now()
		if err := syncDir(ds[0]); err != nil {
			return false, err
		}
		one := time.Since(t)

		if err := dirty(ds); err != nil {
			return false, err
		}
		t = time.Now()
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, d := range ds {
			wg.Go(func() { errs[i] = syncDir(d) })
		}
		wg.Wait()
		ratios = append(ratios, float64(time.Since(t))/float64(max(one, time.Microsecond)))
		for _, err := range errs {
			if err != nil {
				return false, err
			}
		}
	}
	slices.Sort(ratios)
	return ratios[len(ratios)/2] <= float64(3*n)/4, nil
}
