package guard

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// stallChunk is the most one write may carry under one deadline: a large write is cut
// into pieces of this size, each with the deadline pushed ahead, so that a big but
// steadily read answer is never cut while a stopped reader is.
const stallChunk = 64 << 10

// writer wraps an answer's http.ResponseWriter: before the header goes out it applies
// the close-instead-of-drain rule, and each write pushes the connection's write
// deadline Stall ahead (at most once per refresh, which bounds the timer updates of
// many small writes; a write may thus be cut after Stall-refresh without progress).
// Flush and deadlines reach the wrapped writer through Unwrap; io.ReaderFrom is
// kept, so that file downloads still use sendfile.
type writer struct {
	http.ResponseWriter
	rc          http.ResponseController
	stall       time.Duration
	refresh     time.Duration
	last        time.Time
	body        *bodyReader // nil without a request body
	ctx         context.Context
	http1       bool
	wroteHeader bool
	hijacked    bool // the connection was handed over (Hijack): deadlines are not ours
}

// Hijack hands the connection over (a WebSocket upgrade); the middleware then leaves
// its deadlines alone.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = true
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// beforeHeader closes the connection after this answer if the request body was not
// read whole: the rest of it is never read (see bodyReader.abandon).
func (w *writer) beforeHeader() {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if w.body != nil && w.body.abandon() && w.http1 {
		w.Header().Set("Connection", "close")
		markLinger(w.ctx)
	}
}

// push moves the write deadline Stall ahead, unless it was moved within refresh.
func (w *writer) push() {
	now := time.Now()
	if now.Sub(w.last) < w.refresh {
		return
	}
	w.last = now
	_ = w.rc.SetWriteDeadline(now.Add(w.stall))
}

func (w *writer) WriteHeader(code int) {
	if code >= 200 {
		w.beforeHeader()
	}
	w.push()
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(p []byte) (int, error) {
	w.beforeHeader()
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), stallChunk)]
		w.push()
		n, err := w.ResponseWriter.Write(chunk)
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(chunk):]
	}
	return written, nil
}

// FlushError flushes under the write deadline (http.ResponseController calls it).
func (w *writer) FlushError() error {
	w.beforeHeader()
	w.push()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (w *writer) Flush() { _ = w.FlushError() }

// ReadFrom copies src through the wrapped writer's ReadFrom when it has one: a regular
// file (alone or in a *io.LimitedReader, what http.ServeContent passes) in one call
// watched from the side (readFromFile), anything else in pieces of stallChunk, each
// under a pushed deadline. A *io.LimitedReader (what io.CopyN passes) is re-cut at
// its own level, so that a file inside it still reaches sendfile.
func (w *writer) ReadFrom(src io.Reader) (int64, error) {
	w.beforeHeader()
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.CopyBuffer(writerOnly{w}, src, make([]byte, 32<<10))
	}
	if f, pos, ok := fileSource(src); ok {
		return w.readFromFile(rf, src, f, pos)
	}
	var total int64
	outer, limited := src.(*io.LimitedReader)
	for {
		var piece *io.LimitedReader
		if limited {
			if outer.N <= 0 {
				return total, nil
			}
			piece = &io.LimitedReader{R: outer.R, N: min(outer.N, stallChunk)}
		} else {
			piece = &io.LimitedReader{R: src, N: stallChunk}
		}
		want := piece.N
		w.push()
		n, err := rf.ReadFrom(piece)
		total += n
		if limited {
			outer.N -= n
		}
		if err != nil || n < want {
			// An error, or the source ended before the piece was full.
			return total, err
		}
	}
}

// writerOnly hides ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }
