package engine

import (
	"context"
	"encoding/binary"
	"io"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/protocol"
)

// Delta transfer (SPEC §7.4): a file of at least chunk.MinDeltaSize whose other side
// holds an earlier version moves only the chunks that side lacks. Downloads fetch the
// missing byte ranges and take the rest from the local file (deltadown.go); uploads
// send copy ops for the chunks the server's version already has and literal data for
// the rest (deltaup.go). Both sides cut content with package chunk, so equal content
// gives equal chunks wherever it sits in the file. The whole-file SHA-256 is checked
// before anything is committed, and every failure of the delta path falls back to a
// whole-file transfer: a delta costs at worst time, never correctness.

// Deltaer is implemented by a Remote that can move parts of files (GET /api/chunks,
// ranged GET /api/files, POST /api/delta). Like Archiver it is kept apart from Remote:
// without it every transfer is whole.
type Deltaer interface {
	// Chunks returns the chunk list of the current content of path.
	Chunks(ctx context.Context, path string) (ChunkList, error)
	// DownloadRanges fetches byte ranges (ascending, not overlapping) of path's
	// content provided it still has hash (If-Range). fn is called once per range, in
	// order, with a reader of exactly its bytes. The metadata is the answer's (Hash
	// from the ETag, Seq, Modified). Content that is no longer hash is an error.
	DownloadRanges(ctx context.Context, path, hash string, ranges []ByteRange, fn func(ByteRange, io.Reader) error) (protocol.Metadata, error)
	// UploadDelta stores at path the content body describes (a stream of delta ops
	// against the content whose hash is o.IfMatch, which is required; size bytes of
	// body) and answers like Upload. o.SHA256 is the new content's hash.
	UploadDelta(ctx context.Context, path string, body io.Reader, size int64, o UploadOptions) (meta protocol.Metadata, created bool, err error)
}

// ChunkList is the server's description of one content: its hash, size, seq and
// chunks in order (each chunk's Offset is the sum of the sizes before it).
type ChunkList struct {
	Hash   string
	Size   int64
	Seq    int64
	Chunks []chunk.Chunk
}

// ByteRange is Len bytes at Off.
type ByteRange struct{ Off, Len int64 }

// maxLiteralShare: a delta whose literal (or missing) bytes exceed this share of the
// file is not worth it; the file travels whole.
const maxLiteralShare = 0.5

// worthDelta reports whether a transfer of size bytes of which literal must travel is
// worth a delta.
func worthDelta(literal, size int64) bool {
	return float64(literal) <= maxLiteralShare*float64(size)
}

// localChunks cuts the first size bytes of r (a local file) into chunks.
func localChunks(ctx context.Context, r io.ReaderAt, size int64) ([]chunk.Chunk, error) {
	return chunk.List(ctx, io.NewSectionReader(r, 0, size))
}

// Delta ops on the wire (POST /api/delta, documented in docs/API.md): all integers
// big-endian.
const (
	opCopy = 'C' // + u64 offset + u64 length: that range of the base content
	opData = 'D' // + u32 length (1..maxLiteral) + the bytes
	opEnd  = 'E' // nothing may follow
	// maxLiteral is the largest literal of one 'D' op.
	maxLiteral = 4 << 20
)

// deltaOp is one op of an upload plan: copy n bytes at off of the base, or send n
// literal bytes at off of the new file.
type deltaOp struct {
	copy   bool
	off, n int64
}

// planUpload turns the base's chunks (the server's) and the new file's chunks into
// ops, adjacent copies and adjacent literals coalesced. literal is the number of
// bytes that must travel as data.
func planUpload(base, local []chunk.Chunk) (ops []deltaOp, literal int64) {
	at := make(map[[32]byte]int64, len(base))
	for _, c := range base {
		if _, ok := at[c.Hash]; !ok {
			at[c.Hash] = c.Offset
		}
	}
	for _, c := range local {
		op := deltaOp{off: c.Offset, n: c.Size}
		if off, ok := at[c.Hash]; ok {
			op = deltaOp{copy: true, off: off, n: c.Size}
		} else {
			literal += c.Size
		}
		if k := len(ops) - 1; k >= 0 && ops[k].copy == op.copy && ops[k].off+ops[k].n == op.off {
			ops[k].n += op.n
			continue
		}
		ops = append(ops, op)
	}
	return ops, literal
}

// encodedSize is the number of bytes encodeOps produces for ops.
func encodedSize(ops []deltaOp) int64 {
	size := int64(1) // 'E'
	for _, op := range ops {
		if op.copy {
			size += 17
			continue
		}
		pieces := (op.n + maxLiteral - 1) / maxLiteral
		size += pieces*5 + op.n
	}
	return size
}

// opReader streams the wire form of ops, reading literal bytes from src (the new
// file) as it goes. A src shorter than the ops say is an error (io.ErrUnexpectedEOF),
// never a short body.
type opReader struct {
	src  io.ReaderAt
	ops  []deltaOp
	hdr  []byte // header bytes not yet read
	buf  [17]byte
	data int64 // literal bytes of the current 'D' op not yet read
	at   int64 // their offset in src
	done bool
}

func newOpReader(src io.ReaderAt, ops []deltaOp) *opReader {
	return &opReader{src: src, ops: append([]deltaOp(nil), ops...)}
}

func (r *opReader) Read(p []byte) (int, error) {
	for {
		switch {
		case len(r.hdr) > 0:
			n := copy(p, r.hdr)
			r.hdr = r.hdr[n:]
			return n, nil
		case r.data > 0:
			if int64(len(p)) > r.data {
				p = p[:r.data]
			}
			n, err := r.src.ReadAt(p, r.at)
			r.at += int64(n)
			r.data -= int64(n)
			if n == len(p) {
				return n, nil
			}
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		case r.done:
			return 0, io.EOF
		}
		r.next()
	}
}

// next loads the header of the next op (or of the end).
func (r *opReader) next() {
	if len(r.ops) == 0 {
		r.buf[0] = opEnd
		r.hdr, r.done = r.buf[:1], true
		return
	}
	op := &r.ops[0]
	if op.copy {
		r.buf[0] = opCopy
		binary.BigEndian.PutUint64(r.buf[1:9], uint64(op.off))
		binary.BigEndian.PutUint64(r.buf[9:17], uint64(op.n))
		r.hdr = r.buf[:17]
		r.ops = r.ops[1:]
		return
	}
	piece := min(op.n, maxLiteral)
	r.buf[0] = opData
	binary.BigEndian.PutUint32(r.buf[1:5], uint32(piece))
	r.hdr = r.buf[:5]
	r.data, r.at = piece, op.off
	op.off += piece
	op.n -= piece
	if op.n == 0 {
		r.ops = r.ops[1:]
	}
}
