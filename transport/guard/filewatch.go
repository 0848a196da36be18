package guard

import (
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"
)

// A file copied to the answer (a download through sendfile) goes out in one ReadFrom,
// not in pieces of stallChunk: each piece is a sendfile system call and a pass through
// net/http's ReadFrom, 4,096 of them for 256 MiB where net/http alone makes one loop
// of sendfile calls as large as the socket takes. The write deadline is then pushed
// from the side: a watch looks at the file's position every refresh (sendfile and
// read both move it by what was sent) and pushes the deadline Stall ahead whenever it
// moved, so a stopped reader is still cut once Stall passes without progress, and a
// slow but steady one never is.

// fileSource returns the regular file whose bytes src copies, src itself or inside a
// *io.LimitedReader, and its position; ok is false for any other source (and where a
// position cannot be read beside a running copy: only Linux's lseek does not wait
// for the file's other I/O, and only its sendfile moves the position).
func fileSource(src io.Reader) (f *os.File, pos int64, ok bool) {
	if runtime.GOOS != "linux" {
		return nil, 0, false
	}
	if lr, isLimited := src.(*io.LimitedReader); isLimited {
		if lr.N <= stallChunk {
			return nil, 0, false
		}
		src = lr.R
	}
	f, ok = src.(*os.File)
	if !ok {
		return nil, 0, false
	}
	// Only a regular file's position counts what was sent (a device's may stay put).
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, 0, false
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, 0, false
	}
	return f, pos, true
}

// readFromFile copies src, which reads f, through rf in one call while a fileWatch
// pushes the write deadline.
func (w *writer) readFromFile(rf io.ReaderFrom, src io.Reader, f *os.File, pos int64) (int64, error) {
	w.push()
	fw := &fileWatch{f: f, pos: pos, rc: &w.rc, stall: w.stall, refresh: w.refresh, last: w.last}
	fw.mu.Lock()
	fw.timer = time.AfterFunc(w.refresh, fw.tick)
	fw.mu.Unlock()
	n, err := rf.ReadFrom(src)
	w.last = fw.stop()
	return n, err
}

// fileWatch pushes a write deadline while a file's position moves.
type fileWatch struct {
	mu      sync.Mutex
	f       *os.File
	pos     int64
	rc      *http.ResponseController
	stall   time.Duration
	refresh time.Duration
	last    time.Time // the last push
	timer   *time.Timer
	stopped bool
}

// tick pushes the deadline Stall ahead if the file's position moved since the last
// tick, and comes again after refresh. The deadline thus passes between Stall and
// Stall+refresh after the last progress.
func (fw *fileWatch) tick() {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.stopped {
		return
	}
	if pos, err := fw.f.Seek(0, io.SeekCurrent); err == nil && pos != fw.pos {
		fw.pos = pos
		fw.last = time.Now()
		_ = fw.rc.SetWriteDeadline(fw.last.Add(fw.stall))
	}
	fw.timer.Reset(fw.refresh)
}

// stop ends the watch; no push happens after it returns. It returns the last push.
func (fw *fileWatch) stop() time.Time {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.stopped = true
	fw.timer.Stop()
	return fw.last
}
