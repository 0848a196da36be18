// Flusher: merging the concurrent fsyncs of many files on one file system.

package fsys

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// Flusher merges concurrent flushes on one file system, like a group commit: while a
// flush is in progress, new requests queue, and the next flush serves all of them at
// once. A request alone is an fsync of its file; several are one syncfs(2) of the file
// system (Linux), which makes every file's data and every directory entry on it durable
// in one journal commit and one device flush. Uploads of many tenants, each fsyncing
// its own temp file and directories, then share flushes instead of paying one each.
//
// Elsewhere (no syncfs) a Flusher is plain Sync. After a failed syncfs, which cannot
// tell whose data failed, the Flusher stops merging: that round's files are fsynced
// one by one (each gets its own file's error), and so is everything after.
//
// Batching rule: a caller with several files to flush at once (the directory flushes
// of every tenant's group commit that shares an index transaction) queues them all
// (Queue) before it waits for any (Flush.Wait), and one round takes them all. For
// Sync, whose requests come from goroutines of their own: a leader whose previous
// round served several requests yields once (runtime.Gosched) before it takes the
// round, so that requests already runnable join it instead of waiting for a round of
// their own. The flag outlives an
// idle spell, since the first of the flushes started together is the one that must let
// the others in: a lone request after a shared round yields once, and requests that
// keep coming one at a time (one tenant's batches) never yield.
//
// The cost: syncfs also writes back whatever else is dirty on the file system (other
// uploads still being received, other programs' files), which a file system given to
// syncd alone keeps small. A nil *Flusher is plain Sync.
type Flusher struct {
	fs  *os.File // a directory on the file system, kept open for syncfs
	dev uint64   // its device number (Device)

	mu      sync.Mutex
	pending []*flushReq
	busy    bool // a leader is flushing

	noMerge atomic.Bool // a syncfs failed: fsync each file from now on
	merged  atomic.Int64

	shared bool // the last round served more than one request (under mu)
}

// flushReq is one file waiting for a flush.
type flushReq struct {
	fl   *Flusher
	f    *os.File
	lead bool // queued while no flush was in progress: leads the next round
	err  error
	wake chan bool // true: lead the next round; false: done (err set)
}

// NewFlusher opens dir (any directory on the file system to flush) for a Flusher. It
// returns nil (plain Sync) where syncfs(2) cannot serve: outside Linux, and on a
// kernel before Linux 5.8, whose syncfs does not report write-back errors.
func NewFlusher(dir string) (*Flusher, error) {
	if !canSyncFS() {
		return nil, nil
	}
	dev, err := Device(dir)
	if err != nil {
		return nil, err
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	return &Flusher{fs: d, dev: dev}, nil
}

// For returns fl if every one of devs (Device numbers of the directories whose files
// the caller flushes) is fl's file system, else nil (plain Sync): one syncfs flushes
// one file system, and a directory mounted from another would be left unflushed.
func (fl *Flusher) For(devs ...uint64) *Flusher {
	if fl == nil {
		return nil
	}
	for _, d := range devs {
		if d != fl.dev {
			return nil
		}
	}
	return fl
}

// Close releases the directory. Nothing may be flushing.
func (fl *Flusher) Close() error {
	if fl == nil {
		return nil
	}
	return fl.fs.Close()
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
// done, with its error.
func (fl *Flusher) Sync(f *os.File) error {
	if fl == nil || fl.noMerge.Load() {
		return Sync(f)
	}
	return fl.queue(f).wait(true)
}

// Flush is a request queued by Queue: Wait waits for it.
type Flush struct {
	f *os.File
	r *flushReq // the queued request (nil: Wait is a plain Sync of f)
}

// Queue queues f for a flush without waiting, and returns the request, which the
// caller must Wait for, exactly once: the first request queued while no flush is in
// progress leads the next round, and that round starts only when its Wait is called,
// with every request queued by then. So a caller that queues several files (of one
// batch or of several) before it waits for any gets them all served by one flush,
// however its goroutines are scheduled; Sync's requests, queued one goroutine each,
// may not all be runnable before the round is taken. A caller that waits for several
// requests from one goroutine must wait in the order it queued them (a request
// queued after a leader that is not yet waited for is served only by that leader's
// round); from separate goroutines any order is safe. A nil *Flusher's Flush is plain
// Sync.
func (fl *Flusher) Queue(f *os.File) *Flush {
	if fl == nil || fl.noMerge.Load() {
		return &Flush{f: f}
	}
	return &Flush{f: f, r: fl.queue(f)}
}

// Wait makes the queued file durable (leading a round if its turn comes) and returns
// its error.
func (q *Flush) Wait() error {
	if q.r == nil {
		return Sync(q.f)
	}
	return q.r.wait(false)
}

// queue adds a request for f; it leads the next round (lead set) if no flush is in
// progress.
func (fl *Flusher) queue(f *os.File) *flushReq {
	r := &flushReq{fl: fl, f: f, wake: make(chan bool, 1)}
	fl.mu.Lock()
	fl.pending = append(fl.pending, r)
	if !fl.busy {
		fl.busy, r.lead = true, true
	}
	fl.mu.Unlock()
	return r
}

// wait waits for r's flush, leading a round when r's turn comes. yield: let the
// requests of other goroutines join the round first when the last round was shared
// (see Flusher's batching rule).
func (r *flushReq) wait(yield bool) error {
	fl := r.fl
	if !r.lead {
		if lead := <-r.wake; !lead {
			return r.err
		}
		// Promoted: lead the next round, which holds r.
	}
	fl.mu.Lock()
	if yield && fl.shared {
		// Requests of several callers are arriving concurrently: let the ones
		// already runnable make theirs before this round is taken, so that one
		// flush serves them too instead of a round of their own just after.
		fl.mu.Unlock()
		runtime.Gosched()
		fl.mu.Lock()
	}
	round := fl.pending
	fl.pending = nil
	fl.shared = len(round) > 1
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
	flushRounds.Add(1)
	flushRequests.Add(int64(len(round)))
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
