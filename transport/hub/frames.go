package hub

import (
	"errors"
	"sync"
)

// The writer frames messages itself (RFC 6455 §5.2: unmasked, final text frames from
// the server) so that everything queued for a connection goes out in one socket write
// with one write deadline, and so that an event's frame is built once per broadcast
// and shared by every subscriber. Control frames from other goroutines (the close
// frame, pongs) are written through gorilla under conn.wmu, between whole writes.

var errClosing = errors.New("connection closing")

const (
	opText = 0x1
	opPing = 0x9
	finBit = 0x80

	// flushAt is how many bytes of frames the writer gathers before a socket write.
	flushAt = 32 << 10
	// maxPooledBuf bounds the write buffers kept in the pool.
	maxPooledBuf = 256 << 10
)

// appendFrameHeader appends the header of a final, unmasked frame of the opcode with
// n payload bytes.
func appendFrameHeader(b []byte, op byte, n int) []byte {
	switch {
	case n <= 125:
		return append(b, finBit|op, byte(n))
	case n <= 0xFFFF:
		return append(b, finBit|op, 126, byte(n>>8), byte(n))
	default:
		u := uint64(n)
		return append(b, finBit|op, 127, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
			byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	}
}

// prepareFrame makes the queue item of a broadcast message: its complete text frame,
// written as is to subscribers without batch, and its payload for batch frames.
func prepareFrame(msg []byte) outItem {
	var h [10]byte
	hdr := appendFrameHeader(h[:0], opText, len(msg))
	f := make([]byte, len(hdr)+len(msg))
	copy(f, hdr)
	copy(f[len(hdr):], msg)
	return outItem{data: f, hdr: len(hdr)}
}

// wbuf is a writer's scratch space, pooled so that idle connections own none.
type wbuf struct {
	b    []byte   // whole frames ready to write
	pend [][]byte // payloads of the batch frame being packed
}

var wbufPool = sync.Pool{New: func() any { return &wbuf{b: make([]byte, 0, 8<<10)} }}

// frameWriter gathers frames for one connection: one message per frame, or with
// batch as many messages as fit in MaxBatchBytes, one per line. It writes to the
// socket when flushAt bytes are gathered and on flush.
type frameWriter struct {
	c      *conn
	batch  bool
	replay bool // a replay is being written: pings due meanwhile go with each write
	w      *wbuf
	msgs   int // messages in w.b
	pendN  int // payload bytes of the frame being packed
}

func newFrameWriter(c *conn) *frameWriter {
	return &frameWriter{c: c, batch: c.batch.Load(), w: wbufPool.Get().(*wbuf)}
}

// release returns the scratch space to the pool.
func (fw *frameWriter) release() {
	w := fw.w
	fw.w = nil
	clear(w.pend)
	w.pend = w.pend[:0]
	if cap(w.b) > maxPooledBuf || cap(w.pend) > 1024 {
		return
	}
	w.b = w.b[:0]
	wbufPool.Put(w)
}

// ping adds a WebSocket ping frame.
func (fw *frameWriter) ping() {
	fw.closeBatch()
	fw.w.b = append(fw.w.b, finBit|opPing, 0)
}

// add adds one message. The item's bytes must stay unchanged until flush.
func (fw *frameWriter) add(it *outItem) error {
	p := it.payload()
	if fw.batch {
		if len(fw.w.pend) > 0 && fw.pendN+1+len(p) > fw.c.h.opts.MaxBatchBytes {
			fw.closeBatch()
			if err := fw.maybeFlush(); err != nil {
				return err
			}
		}
		if len(fw.w.pend) > 0 {
			fw.pendN++
		}
		fw.pendN += len(p)
		fw.w.pend = append(fw.w.pend, p)
		return nil
	}
	if it.hdr > 0 {
		fw.w.b = append(fw.w.b, it.data...)
	} else {
		fw.w.b = appendFrameHeader(fw.w.b, opText, len(p))
		fw.w.b = append(fw.w.b, p...)
	}
	fw.msgs++
	return fw.maybeFlush()
}

// closeBatch turns the pending batch payloads into one frame.
func (fw *frameWriter) closeBatch() {
	w := fw.w
	if len(w.pend) == 0 {
		return
	}
	w.b = appendFrameHeader(w.b, opText, fw.pendN)
	for i, p := range w.pend {
		if i > 0 {
			w.b = append(w.b, '\n')
		}
		w.b = append(w.b, p...)
	}
	fw.msgs += len(w.pend)
	clear(w.pend)
	w.pend, fw.pendN = w.pend[:0], 0
}

func (fw *frameWriter) maybeFlush() error {
	if len(fw.w.b) < flushAt {
		return nil
	}
	return fw.write()
}

// flush writes everything gathered.
func (fw *frameWriter) flush() error {
	fw.closeBatch()
	return fw.write()
}

func (fw *frameWriter) write() error {
	if len(fw.w.b) == 0 {
		return nil
	}
	if fw.replay && fw.c.q.takePing() { // due while this writer is busy with a replay
		fw.w.b = append(fw.w.b, finBit|opPing, 0)
	}
	err := fw.c.writeRaw(fw.w.b, fw.msgs)
	fw.w.b, fw.msgs = fw.w.b[:0], 0
	return err
}
