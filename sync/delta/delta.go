// Package delta is the wire format of a delta upload (POST /api/delta): a stream of
// ops that rebuilds the new content of a file from its base (the content the server
// holds) and literal bytes. All integers are big-endian:
//
//	'C' u64 offset u64 length   copy length bytes of the base from offset (length ≥ 1)
//	'D' u32 length bytes        literal data, 1..MaxData bytes
//	'H' 32 bytes                the new content's SHA-256; at most once, right before 'E'
//	'E'                         end; nothing may follow
//
// The 'H' op lets a client send the ops while it still reads its file: the whole-file
// hash, known only at the end, travels after them instead of in a request header.
//
// Reader decodes a stream into the new content as it is read, so the server can feed
// it to the ordinary upload path; Writer encodes one. A malformed stream (unknown op,
// a length out of range, a copy beyond the base, a missing 'E', bytes after it, an
// 'H' not right before 'E') fails with protocol code bad_delta.
package delta

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/syncspace/syncspace/sync/protocol"
)

// ContentType is the media type of a delta body.
const ContentType = "application/vnd.syncspace.delta"

// MaxData is the largest literal of one 'D' op.
const MaxData = 4 << 20

// The op bytes.
const (
	OpCopy = 'C'
	OpData = 'D'
	OpHash = 'H'
	OpEnd  = 'E'
)

func malformed(format string, args ...any) error {
	return protocol.Errorf(protocol.CodeBadDelta, format, args...)
}

// IsMalformed reports whether err is a malformed-stream error of a Reader.
func IsMalformed(err error) bool {
	return protocol.CodeOf(err) == protocol.CodeBadDelta
}

// Reader is the new content a delta stream describes. Read returns the content; it
// returns io.EOF only after the 'E' op and the end of the stream. Errors reading the
// base are returned as they are (wrapped); errors reading the ops stream other than
// its early end too. Not safe for concurrent use.
type Reader struct {
	base     io.ReaderAt
	baseSize int64
	ops      *bufio.Reader
	op       byte  // op in progress: OpCopy, OpData, 0 (between ops) or OpEnd (done)
	off      int64 // next base offset of a copy
	left     int64 // bytes left in the op in progress
	at       int64 // bytes of the ops stream consumed, for messages
	err      error
	list     *lister // nil unless ListChunks
	hash     [32]byte
	hashed   bool      // an 'H' op was read: hash is its value
	declared *[32]byte // the hash the request declared apart from the stream (RequireHash)
	require  bool      // RequireHash was called: the stream or declared must give a hash
}

// NewReader decodes ops against base, whose size is baseSize.
func NewReader(base io.ReaderAt, baseSize int64, ops io.Reader) *Reader {
	return &Reader{base: base, baseSize: baseSize, ops: bufio.NewReaderSize(ops, 64<<10)}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for r.left == 0 {
		if r.op == OpEnd {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			r.err = err
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	p = p[:min(int64(len(p)), r.left)]
	var n int
	var err error
	if r.op == OpCopy {
		n, err = r.base.ReadAt(p, r.off)
		if n < len(p) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			err = fmt.Errorf("delta: read base at %d: %w", r.off, err)
		} else {
			err = nil
		}
		r.off += int64(n)
	} else {
		n, err = io.ReadFull(r.ops, p)
		r.at += int64(n)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = malformed("the stream ends inside a 'D' op")
		}
	}
	if r.list != nil && err == nil {
		r.list.add(p[:n], r.op == OpCopy, r.off-int64(n), r.left)
	}
	r.left -= int64(n)
	if err != nil {
		r.err = err
	}
	return n, err
}

// RequireHash makes r require the new content's SHA-256: declared, the hash the
// request gave apart from the stream (nil: none), or an 'H' op. An 'H' that differs
// from declared is malformed. Call
// it before the first Read. A stream without either fails at its 'E' with
// bad_request (not bad_delta: the stream itself is well formed).
func (r *Reader) RequireHash(declared *[32]byte) { r.declared, r.require = declared, true }

// Hash returns the new content's SHA-256 the stream or the request declared, once
// Read has returned io.EOF (ok false before, or when neither gave one). It is what
// the client claims, to be checked against the content.
func (r *Reader) Hash() (sum [32]byte, ok bool) {
	if r.op != OpEnd || r.err != nil {
		return sum, false
	}
	if r.hashed {
		return r.hash, true
	}
	if r.declared != nil {
		return *r.declared, true
	}
	return sum, false
}

// ListChunks makes r derive the chunk list (sync/chunk) of its content as it is read,
// for Chunks, from base: the chunk list of the base, which must describe it exactly
// (the server's own list). Chunks of the base that the content copies whole, where
// its own chunking starts a chunk, keep their sizes and hashes; only the rest is
// chunked and hashed. Call it before the first Read.
func (r *Reader) ListChunks(base []protocol.ChunkRef) { r.list = newLister(base) }

// Chunks returns the chunk list of the content once Read has returned io.EOF: the
// list sync/chunk would cut from the content. It is nil before that, after an
// error, or without ListChunks.
func (r *Reader) Chunks() []protocol.ChunkRef {
	if r.list == nil || r.err != nil || r.op != OpEnd || r.left != 0 {
		return nil
	}
	return r.list.done()
}

// next reads the next op header.
func (r *Reader) next() error {
	start := r.at
	op, err := r.ops.ReadByte()
	if err == io.EOF {
		return malformed("the stream ends without an 'E' op")
	}
	if err != nil {
		return err
	}
	r.at++
	if r.hashed && op != OpEnd {
		return malformed("op at byte %d: an 'H' op must come right before 'E'", start-33)
	}
	switch op {
	case OpCopy:
		var h [16]byte
		if err := r.header(h[:]); err != nil {
			return err
		}
		off, n := binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])
		if n == 0 {
			return malformed("op at byte %d: a 'C' op copies nothing", start)
		}
		if off > math.MaxInt64 || n > math.MaxInt64 || off > uint64(r.baseSize) || n > uint64(r.baseSize)-off {
			return malformed("op at byte %d: the copy goes beyond the base (%d bytes)", start, r.baseSize)
		}
		r.op, r.off, r.left = OpCopy, int64(off), int64(n)
	case OpData:
		var h [4]byte
		if err := r.header(h[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(h[:])
		if n == 0 || n > MaxData {
			return malformed("op at byte %d: a 'D' op must carry 1..%d bytes, not %d", start, MaxData, n)
		}
		r.op, r.left = OpData, int64(n)
	case OpHash:
		if err := r.header(r.hash[:]); err != nil {
			return err
		}
		if r.declared != nil && *r.declared != r.hash {
			return malformed("op at byte %d: the 'H' op differs from X-Content-SHA256", start)
		}
		r.hashed = true
	case OpEnd:
		if r.require && !r.hashed && r.declared == nil {
			// The code a request without X-Content-SHA256 always had.
			return protocol.Errorf(protocol.CodeBadRequest, "a delta upload needs X-Content-SHA256 or an 'H' op before 'E'")
		}
		r.op = OpEnd
		if _, err := r.ops.ReadByte(); err != io.EOF {
			if err != nil {
				return err
			}
			return malformed("bytes follow the 'E' op")
		}
	default:
		return malformed("op at byte %d: unknown op %q", start, op)
	}
	return nil
}

func (r *Reader) header(b []byte) error {
	n, err := io.ReadFull(r.ops, b)
	r.at += int64(n)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return malformed("the stream ends inside an op header")
	}
	return err
}

// Writer encodes a delta stream. It merges a copy that continues the previous one and
// splits literals longer than MaxData. Call End once at the end; the first write
// error is returned by every later call.
type Writer struct {
	w         *bufio.Writer
	copyOff   int64 // pending copy, not yet written
	copyLen   int64
	n         int64 // bytes written to the stream
	literal   int64 // literal bytes written
	err       error
	closed    bool
	headerBuf [33]byte
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10)}
}

// Copy adds a copy of n bytes of the base from off (n ≤ 0 adds nothing).
func (w *Writer) Copy(off, n int64) error {
	if w.err != nil || n <= 0 {
		return w.err
	}
	if w.copyLen > 0 && w.copyOff+w.copyLen == off {
		w.copyLen += n
		return nil
	}
	w.flushCopy()
	w.copyOff, w.copyLen = off, n
	return w.err
}

// Data adds p as literal data (split into ops of at most MaxData bytes).
func (w *Writer) Data(p []byte) error {
	w.flushCopy()
	for len(p) > 0 && w.err == nil {
		n := min(len(p), MaxData)
		w.headerBuf[0] = OpData
		binary.BigEndian.PutUint32(w.headerBuf[1:5], uint32(n))
		w.write(w.headerBuf[:5])
		w.write(p[:n])
		w.literal += int64(n)
		p = p[n:]
	}
	return w.err
}

// Hash writes the 'H' op: sum, the new content's SHA-256. Call it once, just before
// End.
func (w *Writer) Hash(sum [32]byte) error {
	w.flushCopy()
	w.headerBuf[0] = OpHash
	copy(w.headerBuf[1:33], sum[:])
	w.write(w.headerBuf[:33])
	return w.err
}

// Flush writes the pending copy and what is buffered to the underlying writer, for a
// stream sent while it is produced (a copy that follows continues in a new op).
func (w *Writer) Flush() error {
	w.flushCopy()
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// End writes the 'E' op and flushes. It does not close the underlying writer.
func (w *Writer) End() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	w.flushCopy()
	w.write([]byte{OpEnd})
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// Pending is the length of the copy not yet written (a following adjacent copy would
// extend it).
func (w *Writer) Pending() int64 { return w.copyLen }

// Size is the number of bytes of the stream so far (a pending copy not counted).
func (w *Writer) Size() int64 { return w.n }

// Literal is the number of literal bytes added so far.
func (w *Writer) Literal() int64 { return w.literal }

func (w *Writer) flushCopy() {
	if w.copyLen == 0 {
		return
	}
	w.headerBuf[0] = OpCopy
	binary.BigEndian.PutUint64(w.headerBuf[1:9], uint64(w.copyOff))
	binary.BigEndian.PutUint64(w.headerBuf[9:17], uint64(w.copyLen))
	w.write(w.headerBuf[:17])
	w.copyLen = 0
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.w.Write(b)
	w.n += int64(n)
	w.err = err
}

// SeekReaderAt adapts a seekable reader to io.ReaderAt for a Reader's sequential
// copies: it seeks only when a read does not continue the previous one (a store that
// opens a ranged stream per seek then streams runs of adjacent copies). Not safe for
// concurrent use.
type SeekReaderAt struct {
	R   io.ReadSeeker
	pos int64
	ok  bool // pos is known
}

// ReadAt implements io.ReaderAt.
func (s *SeekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if !s.ok || s.pos != off {
		if _, err := s.R.Seek(off, io.SeekStart); err != nil {
			s.ok = false
			return 0, err
		}
		s.pos, s.ok = off, true
	}
	n, err := io.ReadFull(s.R, p)
	s.pos += int64(n)
	if err != nil {
		s.ok = false
	}
	return n, err
}
