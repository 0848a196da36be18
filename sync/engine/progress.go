package engine

// Thresholds above which a pass shows progress (when Options.Progress is set).
const (
	progressMinFiles = 20
	progressMinBytes = 16 << 20
)

// Progress follows the transfers of one pass; realtime-sync-client draws it as bars
// on a terminal. Its methods are called from several goroutines at once.
type Progress interface {
	// Add counts n bytes moved.
	Add(n int64)
	// FileDone counts one finished (or failed) transfer.
	FileDone()
	// Finish ends the pass's progress (after the last FileDone); it may wait for a
	// last render.
	Finish()
}

// progress is the engine's handle on the Progress of one pass. A nil *progress does
// nothing.
type progress struct{ p Progress }

// newProgress returns the progress of a pass of n transfers and size bytes, or nil
// when the pass is small (unless force) or no Options.Progress was given.
func (e *Engine) newProgress(n int, size int64, force bool) *progress {
	if e.opts.Progress == nil || n == 0 || (!force && n < progressMinFiles && size < progressMinBytes) {
		return nil
	}
	p := e.opts.Progress(n, size)
	if p == nil {
		return nil
	}
	return &progress{p: p}
}

// add counts n bytes moved.
func (pr *progress) add(n int64) {
	if pr != nil && n > 0 {
		pr.p.Add(n)
	}
}

// fileDone counts one finished (or failed) transfer.
func (pr *progress) fileDone() {
	if pr != nil {
		pr.p.FileDone()
	}
}

// finish ends the pass's progress.
func (pr *progress) finish() {
	if pr != nil {
		pr.p.Finish()
	}
}

// countWriter counts the bytes written through it into a progress.
type countWriter struct{ pr *progress }

func (c countWriter) Write(b []byte) (int, error) {
	c.pr.add(int64(len(b)))
	return len(b), nil
}
