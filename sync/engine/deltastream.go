// The streamed delta upload: the file is read once, and each chunk's op goes out as
// soon as the chunk is cut and hashed, so the server rebuilds while the client reads.

package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"sync/atomic"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/delta"
	"github.com/syncspace/syncspace/sync/protocol"
)

// streamRun is the longest run of adjacent copies held back to be merged into one op:
// a longer run is sent, so the server starts copying it while the client reads on.
// It also keeps the body moving: one 17-byte op per 256 to 512 KiB read holds the
// server's request-body rate floor (1 KiB/s over a minute by default) for reads of
// about 15 MB/s and more; a slower read of unchanged bytes may see the delta cut as
// too slow, and the file then goes whole (deltaFallback). The ops cost about 0.007 %
// of the file on the wire.
const streamRun = chunk.MaxSize

// Why a streamed upload stopped before its end (the request is then broken off and
// the server discards it).
var (
	errTooLiteral  = errors.New("delta: the literals passed the share a delta may send")
	errChangedHash = errors.New("delta: the file no longer has the hash it was planned with")
	errSameContent = errors.New("delta: the file holds the base's content")
)

// streamed is the outcome of streamUpload.
type streamed struct {
	meta protocol.Metadata
	err  error // the request's error (nil: uploaded)
	// hash and list describe the content read (set when the whole file was read),
	// prints are list's Prints; reused is how many of list's hashes were taken from
	// the base's (same size and Print) rather than computed, which makes list
	// trustworthy only once the server has accepted the content. whole reports that
	// the literals passed the share a delta may send (the request was broken off:
	// upload whole).
	hash   string
	list   []chunk.Chunk
	prints []chunk.Print
	reused int
	whole  bool
	// same reports that the content read is the base's (a file touched or rewritten
	// unchanged): the request was broken off, there is nothing to upload.
	same bool
	// changed reports that the content read does not have o.SHA256 (broken off).
	changed bool
	// readErr is an error reading the file.
	readErr error
}

// streamUpload uploads the first size bytes of f to path as a delta against base (the
// chunks of the server's content o.IfMatch) in one read of f: chunk.Sum cuts and
// hashes it on its goroutines, each chunk becomes a copy (the base has it) or a
// literal written at once into the request body, and the whole-file SHA-256 goes last
// as an 'H' op. basePrints, when known (the base's list was cut by this client),
// spare the SHA-256 of every chunk whose size and Print are a base chunk's: its hash
// is taken from the base. Should a Print match other bytes, the chunk goes as a copy
// of the base's bytes, the content the server builds fails its check against 'H'
// (which hashes every byte read), and the upload is refused: never a wrong commit. If o.SHA256 is set the content must have it (else the request is
// broken off: the file changed since it was hashed). When the literals pass
// maxLiteralShare of size the request is broken off too, without changing anything on
// the server, and whole is set; so it is, with same set, when the content read is
// the base's (o.IfMatch).
func streamUpload(ctx context.Context, d Deltaer, path string, f io.ReaderAt, size int64, base []chunk.Chunk, basePrints []chunk.Print, o UploadOptions) streamed {
	pr, pw := io.Pipe()
	answer := make(chan streamed, 1)
	// The request starts at the body's first byte: while the content read so far is
	// the base's own prefix, nothing is sent (a file touched or rewritten unchanged
	// makes no request and costs the server nothing).
	body := &startOnWrite{w: pw, start: func() {
		go func() {
			meta, _, err := d.UploadDelta(ctx, path, pr, o)
			pr.CloseWithError(errAnswered) // unblock the writer if the body was not read
			answer <- streamed{meta: meta, err: err}
		}()
	}}
	em := newEmitter(body, f, base, int64(maxLiteralShare*float64(size)))
	s := chunk.NewSumFunc(chunk.NewKnown(base, basePrints), em.chunk)
	_, rerr := s.ReadFrom(&stoppable{r: io.NewSectionReader(f, 0, size), stop: &em.stop})
	sum, list := s.Finish()
	var out streamed
	out.hash = hex.EncodeToString(sum[:])
	err := em.failed()
	switch {
	case rerr != nil:
		out.readErr, err = rerr, rerr
	case err == nil && s.Size() != size:
		out.readErr = io.ErrUnexpectedEOF // the file shrank: it changed
		err = out.readErr
	case err == nil && o.SHA256 != "" && out.hash != o.SHA256:
		err = errChangedHash
	case err == nil && out.hash == o.IfMatch:
		err, out.same = errSameContent, true // the server need not rebuild and commit it
	case err == nil:
		if err = em.w.Hash(sum); err == nil {
			err = em.w.End()
		}
	}
	out.whole, out.changed = errors.Is(err, errTooLiteral), errors.Is(err, errChangedHash)
	pw.CloseWithError(err) // nil: the body ends; else the request is broken off
	if body.started.Load() {
		a := <-answer
		out.meta, out.err = a.meta, a.err
	}
	if (err == nil || out.same) && out.readErr == nil {
		out.list, out.prints, out.reused = list, s.Prints(), s.Reused()
	}
	if out.same {
		out.err = nil
	}
	if out.err == nil && err != nil && !errors.Is(err, errAnswered) {
		// The body failed but the server answered as if it had not seen the end
		// (cannot happen with an 'H' op required): never take it for an upload.
		out.err = err
	}
	return out
}

// errAnswered closes the request body once the request is over.
var errAnswered = errors.New("delta: the request is over")

// emitter turns chunks into ops on the request body, on chunk.Sum's goroutine.
type emitter struct {
	w     *delta.Writer
	src   io.ReaderAt
	at    map[[32]byte]int64 // base chunk hash → its offset in the base
	limit int64              // the most literal bytes worth a delta
	buf   []byte
	lit   int64
	held  bool        // the content so far is the base's prefix: nothing sent yet
	err   error       // the first failure; set on the Sum's goroutine, read after Finish
	stop  atomic.Bool // tells the reader to stop: the upload cannot go on
}

func newEmitter(w io.Writer, src io.ReaderAt, base []chunk.Chunk, limit int64) *emitter {
	at := make(map[[32]byte]int64, len(base))
	for _, c := range base {
		if _, ok := at[c.Hash]; !ok {
			at[c.Hash] = c.Offset
		}
	}
	return &emitter{w: delta.NewWriter(w), src: src, at: at, limit: limit, held: true}
}

// startOnWrite is the request body: start runs once, before the first write.
type startOnWrite struct {
	w       io.Writer
	start   func()
	started atomic.Bool
}

func (s *startOnWrite) Write(p []byte) (int, error) {
	if !s.started.Load() {
		s.started.Store(true)
		s.start()
	}
	return s.w.Write(p)
}

// chunk emits the op of one chunk of the new content. While every chunk so far is
// the base's chunk at the same offset (held), the copies merge into one op that is not
// written: the request starts at the first chunk that differs.
func (m *emitter) chunk(c chunk.Chunk) {
	if m.err != nil {
		return
	}
	off, ok := m.at[c.Hash]
	if m.held && (!ok || off != c.Offset) {
		m.held = false
		m.fail(m.w.Flush()) // the base's prefix read so far: the server copies it now
	}
	if ok {
		if m.w.Copy(off, c.Size) == nil && !m.held && m.w.Pending() >= streamRun {
			m.w.Flush()
		}
		m.fail(m.w.Copy(0, 0)) // the writer's first error, if any
		return
	}
	m.lit += c.Size
	if m.lit > m.limit {
		m.fail(errTooLiteral)
		return
	}
	if m.buf == nil {
		m.buf = make([]byte, chunk.MaxSize)
	}
	// The literal's bytes are read again (from the page cache): if the file changed
	// meanwhile, the whole-file hash the server checks no longer matches.
	p := m.buf[:c.Size]
	if _, err := m.src.ReadAt(p, c.Offset); err != nil {
		m.fail(err)
		return
	}
	if err := m.w.Data(p); err != nil {
		m.fail(err)
		return
	}
	m.fail(m.w.Flush())
}

func (m *emitter) fail(err error) {
	if err != nil && m.err == nil {
		m.err = err
		m.stop.Store(true)
	}
}

// failed is the first failure, once the Sum is finished.
func (m *emitter) failed() error { return m.err }

// stoppable is a reader that ends early (io.EOF) once stop is set.
type stoppable struct {
	r    io.Reader
	stop *atomic.Bool
}

func (s *stoppable) Read(p []byte) (int, error) {
	if s.stop.Load() {
		return 0, io.EOF
	}
	return s.r.Read(p)
}

// unhashed reports whether l is a file observed without its hash (deferHash): its
// content changed since it was last synced, and the upload will hash it.
func (l localEntry) unhashed() bool { return !l.Dir && l.Hash == "" }

// deferHash reports whether a scan may leave the file at key (stat now, last
// observed as old) unhashed, for its upload to hash in the read that sends it: a
// file large enough for a delta, whose stat changed since old, which was in sync when
// old was taken (old's hash is the base's) and whose server content is still the
// base, so the plan can only upload it, as a delta over the base. Hashing it in the
// scan would read it once more before the upload could start. Not for a file the
// server refused, nor without a full listing of the server.
func (e disk) deferHash(key string, old, now localEntry) bool {
	if e.chunks == nil || now.Size < chunk.MinDeltaSize || old.Hash == "" || old.Path != now.Path || old.sameStat(now) {
		return false
	}
	if _, ok := e.remote.(Deltaer); !ok {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b, bok := e.base[key]
	r, rok := e.remoteM[key]
	_, refused := e.refused[key]
	return e.haveList && bok && rok && !refused && !b.Dir && !r.IsDirectory && b.Hash == old.Hash && r.Hash == b.Hash
}

// plainUpload reports whether the sides of v make an unhashed local file a plain
// upload over the base: the server still holds the content last synced.
func plainUpload(v keyView) bool {
	return v.bOK && v.rOK && !v.b.Dir && !v.r.IsDirectory && v.b.Hash != "" && v.r.Hash == v.b.Hash
}
