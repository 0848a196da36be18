package api

import (
	"errors"
	"net/http"
	"time"
)

// progressPiece is the most a streamed answer writes under one write deadline: a
// client must accept at least this much per stall window (32 KiB a minute by default)
// for the stream to go on.
const progressPiece = 32 << 10

// progressWriter writes a streamed answer (GET /api/list, GET /api/archive) in pieces
// of at most progressPiece bytes, each under a write deadline of stall from its start
// (SPEC §3 limits.stream_stall): a client that stops reading ends the stream after
// stall instead of holding the connection, and the handler, forever. Where the
// connection has no deadlines (a test recorder) it writes plainly.
type progressWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
	ok    bool // write deadlines are supported
}

func newProgressWriter(w http.ResponseWriter, stall time.Duration) *progressWriter {
	p := &progressWriter{w: w, rc: http.NewResponseController(w), stall: stall}
	p.ok = p.rc.SetWriteDeadline(time.Now().Add(stall)) == nil
	return p
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		piece := b[:min(len(b), progressPiece)]
		if p.ok {
			if err := p.rc.SetWriteDeadline(time.Now().Add(p.stall)); err != nil {
				return n, err
			}
		}
		m, err := p.w.Write(piece)
		n += m
		if err != nil {
			return n, err
		}
		b = b[m:]
	}
	return n, nil
}

// finish pushes what net/http still buffers to the client under a fresh deadline,
// which also covers the chunked body's last bytes written after the handler returns;
// net/http clears the deadline once the answer is finished, before the connection
// serves its next request.
func (p *progressWriter) finish() error {
	if !p.ok {
		return nil
	}
	if err := p.rc.SetWriteDeadline(time.Now().Add(p.stall)); err != nil {
		return err
	}
	if err := p.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}
