// Delta transfer (SPEC §7.4): the chunk lists of stored contents and the delta
// upload, which rebuilds a file from its current content and an op stream
// (sync/delta) and then takes the ordinary upload path.

package tenants

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/delta"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// chunkRecorder collects the chunk list of an upload as its body streams in, so that
// the stored content's list is never computed by re-reading it. A body that derives
// its own list (a delta rebuilt against the base's list: derivedList) is not cut
// again: the recorder takes the body's list at the end.
type chunkRecorder struct {
	c    *chunk.Chunker
	list []protocol.ChunkRef
	from *delta.Reader // the body listing itself; c is nil then
}

// derivedList is an upload body that lists its own chunks (delta.Reader.ListChunks).
type derivedList struct{ *delta.Reader }

// newChunkRecorder returns a recorder for body, of declared size (-1: unknown), or
// nil when the body is too small for deltas.
func newChunkRecorder(body io.Reader, size int64) *chunkRecorder {
	if size >= 0 && size < chunk.MinDeltaSize {
		return nil
	}
	if d, ok := body.(derivedList); ok {
		return &chunkRecorder{from: d.Reader}
	}
	r := &chunkRecorder{}
	r.c = chunk.New(func(c chunk.Chunk) error {
		r.list = append(r.list, protocol.ChunkRef{Hash: c.Hash, Size: c.Size})
		return nil
	})
	return r
}

// writer is what the body's bytes must be fed to: nil when the body lists itself.
func (r *chunkRecorder) writer() io.Writer {
	if r == nil || r.from != nil {
		return nil
	}
	return r.c
}

// done returns the list of a body of size bytes if that is MinDeltaSize or more, nil
// otherwise (or for a nil recorder).
func (r *chunkRecorder) done(size int64) []protocol.ChunkRef {
	switch {
	case r == nil || size < chunk.MinDeltaSize:
		return nil
	case r.from != nil:
		return r.from.Chunks()
	case r.c.Close() != nil:
		return nil
	}
	return r.list
}

// encodeChunks is the index's form of a list: per chunk its SHA-256 and its size as
// a uvarint.
func encodeChunks(l []protocol.ChunkRef) []byte {
	b := make([]byte, 0, len(l)*(32+3))
	for _, c := range l {
		b = append(b, c.Hash[:]...)
		b = binary.AppendUvarint(b, uint64(c.Size))
	}
	return b
}

// decodeChunks reads encodeChunks' form; ok is false if b is damaged or its sizes do
// not add up to size.
func decodeChunks(b []byte, size int64) (l []protocol.ChunkRef, ok bool) {
	var sum int64
	for len(b) > 0 {
		var c protocol.ChunkRef
		if len(b) < 33 {
			return nil, false
		}
		copy(c.Hash[:], b[:32])
		n, k := binary.Uvarint(b[32:])
		if k <= 0 || n == 0 || n > chunk.MaxSize {
			return nil, false
		}
		c.Size = int64(n)
		sum += c.Size
		l = append(l, c)
		b = b[32+k:]
	}
	return l, sum == size
}

// Delta is a space's delta transfer (SPEC §7.4): chunk lists and delta uploads. The
// zero value is unusable; get one from NewDelta.
type Delta struct{ s *Space }

// NewDelta returns sp's delta transfer.
func NewDelta(sp *Space) Delta { return Delta{s: sp} }

// keep stores the chunk list of a committed upload under its hash and forgets
// the list of the content it replaced unless another file has that content. A
// failure costs a re-read later, or a list left for the sweep, nothing more: it is
// logged, not returned.
func (d Delta) keep(ctx context.Context, u *upload, replaced string) {
	s := d.s
	if u.chunks != nil {
		if err := s.reg.index.PutChunkList(ctx, s.id, u.hash, encodeChunks(u.chunks)); err != nil {
			s.log.Warn("store chunk list", "err", err)
		}
	}
	if replaced != "" && replaced != u.hash {
		if err := s.reg.index.DropChunkList(ctx, s.id, replaced); err != nil {
			s.log.Warn("drop chunk list", "err", err)
		}
	}
}

// forget drops the chunk lists of deleted files, of those contents that no other file
// has (their content now lives only as a version; a restore is an upload and records
// its list again). Like keep, a failure is logged: a list left behind is only a cache
// entry, never served for a missing path, and the sweep takes it later.
func (d Delta) forget(ctx context.Context, files []*entry) {
	for _, f := range files {
		if f.IsDir || f.Size < chunk.MinDeltaSize {
			continue // no list is kept for these
		}
		if err := d.s.reg.index.DropChunkList(ctx, d.s.id, f.Hash); err != nil {
			d.s.log.Warn("drop chunk list", "err", err)
		}
	}
}

// chunkSweepEvery is how often the registry sweeps the chunk lists (on the leader, with
// the pruning): the drops after a delete or an overwrite take the common case at once,
// and a sweep the rest.
const chunkSweepEvery = time.Hour

// chunkSweepPage is how many lists one SweepChunkLists call examines.
const chunkSweepPage = 1000

// chunkSweeper is the registry's sweep of unused chunk lists; the zero value has
// never swept. Not safe for concurrent use (Registry.Run's goroutine owns it).
type chunkSweeper struct{ at time.Time } // the last sweep's start

// sweep drops the chunk lists that no file uses (of every tenant), at most every
// chunkSweepEvery, page by page. A list becomes unused when the last file with
// its content goes: deleted, overwritten, replaced by a move, or changed on disk
// (reconciled). The delete and overwrite paths drop it at once (keep, forget) unless
// another file has the content; the sweep takes what those leave: the contents left
// by a reconcile or a move over a file, a drop that failed or never ran (a crash after
// the commit), an overwrite whose check saw an older content (concurrent PUTs), a list
// stored just as its file went (a delete racing keep or compute). Versions keep no
// list (a restore records it again), so pruning them drops none.
func (c *chunkSweeper) sweep(ctx context.Context, x index.Chunks, log *slog.Logger) {
	if !c.at.IsZero() && time.Since(c.at) < chunkSweepEvery {
		return
	}
	c.at = time.Now()
	var from index.ChunkKey
	total := 0
	for {
		next, n, err := x.SweepChunkLists(ctx, from, chunkSweepPage)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("sweep chunk lists", "err", err)
			}
			return
		}
		if next == (index.ChunkKey{}) {
			break
		}
		from = next
	}
	if total > 0 {
		log.Info("unused chunk lists dropped", "lists", total)
	}
}

// Chunks returns the chunk list of the file at path (GET /api/chunks): from the index
// when the content arrived through an upload, else computed once from the content
// and stored (a file of MinDeltaSize or more). not_found for a missing path or a
// directory. If the content on disk no longer matches the index (an edit outside
// syncd not yet seen), the list describes the content read and carries its hash.
func (d Delta) Chunks(ctx context.Context, path string) (protocol.ChunkList, error) {
	s := d.s
	m, err := s.Stat(ctx, path)
	if err != nil {
		return protocol.ChunkList{}, err
	}
	if m.IsDirectory {
		return protocol.ChunkList{}, protocol.Errorf(protocol.CodeNotFound, "no such file")
	}
	b, err := s.reg.index.ChunkList(ctx, s.id, m.Hash)
	if err != nil {
		return protocol.ChunkList{}, internal("read chunk list", err)
	}
	if l, ok := decodeChunks(b, m.Size); b != nil && ok {
		return protocol.ChunkList{Hash: m.Hash, Size: m.Size, Seq: m.Seq, Chunks: l}, nil
	}
	return d.compute(ctx, path)
}

// compute reads the file at path once, chunking and hashing it.
func (d Delta) compute(ctx context.Context, path string) (protocol.ChunkList, error) {
	s := d.s
	f, m, err := s.Open(ctx, path)
	if err != nil {
		return protocol.ChunkList{}, err
	}
	defer f.Close()
	out := protocol.ChunkList{Seq: m.Seq, Chunks: []protocol.ChunkRef{}}
	h := sha256.New()
	err = chunk.Split(ctx, io.TeeReader(f, h), func(c chunk.Chunk) error {
		out.Chunks = append(out.Chunks, protocol.ChunkRef{Hash: c.Hash, Size: c.Size})
		out.Size += c.Size
		return nil
	})
	if err != nil {
		return protocol.ChunkList{}, internal("read content", err)
	}
	out.Hash = hex.EncodeToString(h.Sum(nil))
	if out.Hash == m.Hash && out.Size >= chunk.MinDeltaSize {
		if err := s.reg.index.PutChunkList(ctx, s.id, out.Hash, encodeChunks(out.Chunks)); err != nil {
			s.log.Warn("store chunk list", "err", err)
		}
	}
	return out, nil
}

// Put stores at path the content that ops (a sync/delta stream) builds from the
// file's current content (POST /api/delta). o.IfMatch is required
// (precondition_required) and must name the current content (precondition_failed).
// The new content's SHA-256 is o.SHA256 (X-Content-SHA256), the stream's 'H' op, or
// both (then equal): a stream with neither, or with an 'H' that differs from
// o.SHA256, is bad_delta. The result then takes Put's way: limits, quota, digest
// (checked once the stream ended, before the commit), the atomic commit, the event;
// a malformed or cut-off stream changes nothing.
func (d Delta) Put(ctx context.Context, path string, ops io.Reader, o PutOptions) (protocol.Metadata, bool, error) {
	s := d.s
	if o.IfMatch == "" {
		return protocol.Metadata{}, false, protocol.Errorf(protocol.CodePreconditionRequired, "a delta upload needs If-Match with the base's hash")
	}
	var declared *[32]byte
	if o.SHA256 != "" {
		b, err := hex.DecodeString(o.SHA256)
		if err != nil || len(b) != 32 {
			return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeBadRequest, "X-Content-SHA256 must be 64 hex digits")
		}
		declared = (*[32]byte)(b)
	}
	if o.IfNoneMatch {
		return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeBadRequest, "a delta upload cannot carry If-None-Match")
	}
	p, err := pathrule.Clean(path)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	base, bm, err := s.Open(ctx, p)
	if errors.Is(err, protocol.ErrNotFound) {
		return protocol.Metadata{}, false, protocol.Errorf(protocol.CodePreconditionFailed, "the current content differs")
	}
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	defer base.Close()
	if !strings.EqualFold(bm.Hash, o.IfMatch) {
		return protocol.Metadata{}, false, protocol.Errorf(protocol.CodePreconditionFailed, "the current content differs")
	}
	o.Size = -1
	rd := delta.NewReader(baseReader(base), bm.Size, ops)
	rd.RequireHash(declared)
	o.SHA256After = func() string {
		sum, _ := rd.Hash() // the stream ended: there is one (RequireHash)
		return hex.EncodeToString(sum[:])
	}
	var body io.Reader = rd
	if l := d.list(ctx, bm); l != nil {
		rd.ListChunks(l) // the result's list without hashing the chunks it copies whole
		body = derivedList{rd}
	}
	m, created, err := s.Put(ctx, p, body, o)
	if protocol.CodeOf(err) == protocol.CodeDigestMismatch {
		// The base may have changed under the read: then the precondition is what
		// failed, as the commit's check would have said.
		if now, serr := s.Stat(ctx, p); serr != nil || !strings.EqualFold(now.Hash, o.IfMatch) {
			return protocol.Metadata{}, false, protocol.Errorf(protocol.CodePreconditionFailed, "the current content differs")
		}
	}
	return m, created, err
}

// list returns the stored chunk list of the base m, nil if there is none: the list of
// the delta's result is then cut from its bytes.
func (d Delta) list(ctx context.Context, m protocol.Metadata) []protocol.ChunkRef {
	b, err := d.s.reg.index.ChunkList(ctx, d.s.id, m.Hash)
	if err != nil || b == nil {
		return nil
	}
	if l, ok := decodeChunks(b, m.Size); ok {
		return l
	}
	return nil
}

// baseReader gives a delta's copies ranged reads of the base: ReadAt where the store's
// reader has it (a local file), else seeks on its stream (an object store opens a
// ranged read per seek). Read failures are internal errors, not the client's.
func baseReader(r io.ReadSeeker) io.ReaderAt {
	ra, ok := r.(io.ReaderAt)
	if !ok {
		ra = &delta.SeekReaderAt{R: r}
	}
	return internalReaderAt{ra}
}

type internalReaderAt struct{ io.ReaderAt }

func (r internalReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.ReaderAt.ReadAt(p, off)
	if err != nil && n < len(p) {
		return n, internal("read the delta's base", err)
	}
	return n, nil
}
