// Hashing an upload's body beside its write: the whole-file SHA-256 (and the chunk
// list being recorded) of a large body runs on a goroutine of its own while the
// next buffer is read and written.

package tenants

import (
	"io"
	"sync"
)

// pipeMin is the smallest declared body hashed on a goroutine of its own (a body of
// unknown length always is): below it the hand-over costs more than it saves.
const pipeMin = 1 << 20

// pipeBufs is how many buffers a hashing goroutine cycles through: one being read
// and written, one being hashed, one waiting.
const pipeBufs = 3

// bodyHash hashes the buffers of a body in order. next returns the buffer to read
// the next bytes into (the same one until add); add hands it over, filled, and it
// must not be used again; wait returns once everything added is hashed (call it
// before reading the sums, and on every path: it may be called again).
type bodyHash interface {
	next() []byte
	add(b []byte)
	wait()
}

// smallBufMax is the largest buffer an inline hash takes from smallBufs: that of a
// body of up to gatherMaxSize (its size and one byte more).
const smallBufMax = gatherMaxSize + 1

// smallBufs holds the buffers of small bodies (cap smallBufMax), so that an upload
// of a few KiB allocates and clears none.
var smallBufs = sync.Pool{New: func() any { b := make([]byte, smallBufMax); return &b }}

// newBodyHash returns a bodyHash feeding w: on the caller's goroutine for a small
// declared body, else on a goroutine of its own.
func newBodyHash(w io.Writer, size int64, bufSize int) bodyHash {
	if size >= 0 && size < pipeMin {
		if bufSize <= smallBufMax {
			pb := smallBufs.Get().(*[]byte)
			return &inlineHash{w: w, buf: (*pb)[:bufSize], pooled: pb}
		}
		return &inlineHash{w: w, buf: make([]byte, bufSize)}
	}
	p := &pipeHash{w: w, todo: make(chan []byte, pipeBufs), free: make(chan []byte, pipeBufs), done: make(chan struct{})}
	for range pipeBufs {
		p.free <- make([]byte, bufSize)
	}
	go p.run()
	return p
}

// inlineHash hashes as it is given, reusing one buffer (from smallBufs when pooled
// is set, given back by wait).
type inlineHash struct {
	w      io.Writer
	buf    []byte
	pooled *[]byte
}

func (h *inlineHash) next() []byte { return h.buf }
func (h *inlineHash) add(b []byte) { h.w.Write(b) }

func (h *inlineHash) wait() {
	if h.pooled != nil {
		smallBufs.Put(h.pooled)
		h.pooled, h.buf = nil, nil
	}
}

// pipeHash hashes on its own goroutine.
type pipeHash struct {
	w          io.Writer
	todo, free chan []byte
	done       chan struct{}
	cur        []byte // the buffer next returned, not yet added
	waited     bool
}

func (p *pipeHash) run() {
	defer close(p.done)
	for b := range p.todo {
		p.w.Write(b)
		p.free <- b[:cap(b)]
	}
}

func (p *pipeHash) next() []byte {
	if p.cur == nil {
		p.cur = <-p.free
	}
	return p.cur
}

func (p *pipeHash) add(b []byte) {
	p.todo <- b
	p.cur = nil
}

func (p *pipeHash) wait() {
	if !p.waited {
		p.waited = true
		close(p.todo)
		<-p.done
	}
}
