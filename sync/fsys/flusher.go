// Flusher: merging the concurrent fsyncs of many files on one file system.

package fsys

import (
	"os"
	"sync"
	"sync/atomic"
)

// Flusher merges concurrent flushes on one file system, like a group commit: while a
// flush is in progress, new requests queue, and the next flush serves all of them at
// once. A request alone is an fsync of its file; several are one syncfs(2) of the file
// system (Linux), which makes every file's data and every directory entry on it durable
// in one journal commit and one device flush. Uploads of many tenants, each fsyncing
// its own directories, then share flushes instead of paying one each.
//
// Where the file system already merges concurrent fsyncs (ext4 and XFS commit their
// journal once for every fsync waiting on it), the Flusher passes each request straight
// to its own fsync instead: no queueing behind the round in progress, and no write-back
// of everything else dirty on the file system, which syncfs also does. Which of the two
// it is, a probe decides once per file system and process (concurrentSyncsMerge: n
// concurrent directory fsyncs against one), made by the first request of any Flusher
// on it before its own fsync; while it runs, and if it fails, requests merge. The
// slow-disk simulation of this package's seam (SetSyncDelay) is a device that merges
// none: while it is on, requests merge.
//
// Elsewhere (no syncfs) a Flusher is plain Sync. After a failed syncfs, which cannot
// tell whose data failed, the Flusher stops merging: that round's files are fsynced
// one by one (each gets its own file's error), and so is everything after.
//
// The cost of merging: syncfs also writes back whatever else is dirty on the file
// system (other uploads still being received, other programs' files), which a file
// system given to syncd alone keeps small. A nil *Flusher is plain Sync.
type Flusher struct {
	fs *os.File // a directory on the file system, kept open for syncfs

	mu      sync.Mutex
	pending []*flushReq
	busy    bool // a leader is flushing

	noMerge atomic.Bool // a syncfs failed: fsync each file from now on
	merged  atomic.Int64

	probe *fsProbe // of fs's file system
}

// FlushMode is how every Flusher of the process chooses between merged rounds and
// direct fsyncs (SetFlushMode).
type FlushMode int32

const (
	FlushProbe  FlushMode = iota // by its probe of the file system (the default)
	FlushMerged                  // always merged rounds (syncfs)
	FlushDirect                  // always each request's own fsync
)

var flushMode atomic.Int32

// SetFlushMode makes every Flusher use m (FlushProbe: its probe's answer, the default)
// and returns the mode it replaces. For tests, which must cover both ways whatever the
// probe of their machine's disk says, and for benchmarks comparing them.
func SetFlushMode(m FlushMode) FlushMode { return FlushMode(flushMode.Swap(int32(m))) }

// flushReq is one file waiting for a flush.
type flushReq struct {
	f    *os.File
	err  error
	wake chan bool // true: lead the next round; false: done (err set)
}

// NewFlusher opens dir (any directory on the file system to flush) for a Flusher.
func NewFlusher(dir string) (*Flusher, error) {
	if !canSyncFS {
		return nil, nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	return &Flusher{fs: d, probe: probeOf(d)}, nil
}

// Close releases the directory. Nothing may be flushing.
func (fl *Flusher) Close() error {
	if fl == nil {
		return nil
	}
	return fl.fs.Close()
}

// Direct reports whether requests go straight to their own fsyncs now (not merged);
// like a request, the first call on a file system makes its probe.
func (fl *Flusher) Direct() bool { return fl == nil || fl.noMerge.Load() || fl.direct() }

// direct reports whether this request should be its own fsync rather than join a
// merged round (the first request on a file system probes it: fsProbe.merges).
func (fl *Flusher) direct() bool {
	if syncDelay.Load() > 0 {
		return false // the simulated device merges nothing
	}
	switch FlushMode(flushMode.Load()) {
	case FlushMerged:
		return false
	case FlushDirect:
		return true
	}
	return fl.probe.merges(fl.fs.Name())
}

// Merged returns how many syncfs flushes served more than one file (tests).
func (fl *Flusher) Merged() int64 {
	if fl == nil {
		return 0
	}
	return fl.merged.Load()
}

// Sync makes f (a file or a directory on the Flusher's file system) durable, in a
// flush shared with the other files queued meanwhile. It returns once f's flush is
// done, with its error. Where the file system merges concurrent fsyncs itself (see
// Flusher), it is f's own fsync, made at once.
func (fl *Flusher) Sync(f *os.File) error {
	if fl == nil || fl.noMerge.Load() || fl.direct() {
		return Sync(f)
	}
	r := &flushReq{f: f, wake: make(chan bool, 1)}
	fl.mu.Lock()
	fl.pending = append(fl.pending, r)
	if fl.busy {
		fl.mu.Unlock()
		if lead := <-r.wake; !lead {
			return r.err
		}
		// Promoted: lead the next round, which holds r.
		fl.mu.Lock()
	}
	fl.busy = true
	round := fl.pending
	fl.pending = nil
	fl.mu.Unlock()

	fl.flush(round)

	fl.mu.Lock()
	var next *flushReq
	if len(fl.pending) > 0 {
		next = fl.pending[0]
	} else {
		fl.busy = false
	}
	fl.mu.Unlock()
	for _, m := range round {
		if m != r {
			m.wake <- false
		}
	}
	if next != nil {
		next.wake <- true
	}
	return r.err
}

// flush makes every file of round durable and sets each one's err.
func (fl *Flusher) flush(round []*flushReq) {
	if len(round) == 1 || fl.noMerge.Load() {
		syncEach(round)
		return
	}
	var live []*flushReq
	for _, m := range round {
		if m.err = callHook(m.f.Name()); m.err == nil {
			live = append(live, m)
		}
	}
	if len(live) == 0 {
		return
	}
	flushDelay()
	if err := syncFS(fl.fs); err == nil {
		fl.merged.Add(1)
		return
	}
	// Whose data failed is unknown: fsync each file (its own error), and stop merging.
	fl.noMerge.Store(true)
	syncEach(live)
}

// syncEach fsyncs the files of round concurrently, each with its own error.
func syncEach(round []*flushReq) {
	if len(round) == 1 {
		round[0].err = Sync(round[0].f)
		return
	}
	var wg sync.WaitGroup
	for _, m := range round {
		wg.Go(func() { m.err = Sync(m.f) })
	}
	wg.Wait()
}
