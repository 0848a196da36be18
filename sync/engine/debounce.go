package engine

import "time"

// batcher is the watcher's debounce: which changed paths to send, and when.
//
// Every event makes its path pending; pending paths are sent after Debounce of quiet,
// or 4 × Debounce after the first event of a burst (the trailing edge, which lets an
// editor that writes a file in several steps finish first).
//
// The leading edge: a burst of events that begins after leadQuiet without any event,
// while the engine is idle (not working on an earlier batch), may send at once the
// files known to be complete: closed after writing (the hints of fsys.DoneWatcher,
// Linux only). The lead is taken once per burst, leadSettle after the first such
// file, so that files closed together travel together; the rest of the burst, and
// whatever changes while the engine works on a batch, coalesces on the trailing edge.
//
// A file still open for writing is not complete, so a write in several steps is sent
// once, when its writer closes it; the upload re-checks the content anyway (stat
// before and after hashing, SHA-256 verified by the server). Deletes, renames and new
// directories never lead: the quiet period keeps both halves of a rename in one pass
// (one server move), lets a tree being copied in settle, and gives the
// vanished-folder check its chance before files that seem deleted are acted on.
type batcher struct {
	leadQuiet time.Duration
	pending   map[string]bool // changed, not yet sent
	ready     map[string]bool // complete files of a leading burst, not yet sent
	lastEvent time.Time
	leadOK    bool // the current burst began after leadQuiet and has not led yet
}

// leadSettle is how long a leading batch waits after the first complete file.
const leadSettle = time.Millisecond

func newBatcher(debounce time.Duration) *batcher {
	return &batcher{leadQuiet: debounce / 10, pending: map[string]bool{}, ready: map[string]bool{}}
}

// touch notes an event at now: a new burst when the previous event is leadQuiet old.
func (b *batcher) touch(now time.Time) {
	if b.lastEvent.IsZero() || now.Sub(b.lastEvent) >= b.leadQuiet {
		b.leadOK = true
	}
	b.lastEvent = now
}

// changed records an event of the path r (begun, not known to be complete).
func (b *batcher) changed(r string, now time.Time) {
	b.touch(now)
	b.pending[r] = true
}

// done records that the file r is complete (closed after writing); it reports whether r may lead: the engine is
// idle and the burst began after a quiet period and has not led yet.
func (b *batcher) done(r string, now time.Time, idle bool) bool {
	b.touch(now)
	b.pending[r] = true
	if !idle {
		b.dropLead()
	}
	if !b.leadOK {
		return false
	}
	b.ready[r] = true
	return true
}

// dropLead ends the burst's lead without sending: its changes wait for the trailing
// edge.
func (b *batcher) dropLead() {
	b.leadOK = false
	b.ready = map[string]bool{}
}

// takeLead returns the leading batch and ends the burst's lead.
func (b *batcher) takeLead() []string {
	b.leadOK = false
	batch := make([]string, 0, len(b.ready))
	for p := range b.ready {
		batch = append(batch, p)
		delete(b.pending, p)
	}
	b.ready = map[string]bool{}
	return batch
}

// takeAll returns every pending path (the trailing edge).
func (b *batcher) takeAll() []string {
	batch := make([]string, 0, len(b.pending))
	for p := range b.pending {
		batch = append(batch, p)
	}
	b.pending, b.ready = map[string]bool{}, map[string]bool{}
	return batch
}
