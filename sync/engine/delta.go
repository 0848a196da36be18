package engine

import (
	"context"
	"io"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/delta"
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
	// UploadDelta stores at path the content body describes (a stream of delta ops,
	// package delta, against the content whose hash is o.IfMatch, which is required)
	// and answers like Upload. o.SHA256 is the new content's hash, or "" when the
	// body ends with it in an 'H' op (sent after the ops: the file is still being
	// read while they go out). The body is closed when the request ends; a body whose
	// read fails breaks the request off, and the server then changes nothing.
	UploadDelta(ctx context.Context, path string, body io.ReadCloser, o UploadOptions) (meta protocol.Metadata, created bool, err error)
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

// writeOps writes the wire form of ops (package delta) to w, reading literal bytes
// from src (the new file). A src shorter than the ops say is an error
// (io.ErrUnexpectedEOF), never a short stream.
func writeOps(w io.Writer, src io.ReaderAt, ops []deltaOp) error {
	dw := delta.NewWriter(w)
	var buf []byte
	for _, op := range ops {
		if op.copy {
			if err := dw.Copy(op.off, op.n); err != nil {
				return err
			}
			continue
		}
		if buf == nil {
			buf = make([]byte, 256<<10)
		}
		for off, end := op.off, op.off+op.n; off < end; {
			n, err := src.ReadAt(buf[:min(int64(len(buf)), end-off)], off)
			if n > 0 {
				if err := dw.Data(buf[:n]); err != nil {
					return err
				}
				off += int64(n)
			}
			if err == io.EOF && off < end {
				return io.ErrUnexpectedEOF
			}
			if err != nil && err != io.EOF {
				return err
			}
		}
	}
	return dw.End()
}

// opStream returns the wire form of ops as a reader (written by a goroutine that
// ends when the stream is read to its end or the reader is closed).
func opStream(src io.ReaderAt, ops []deltaOp) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeOps(pw, src, ops)) }()
	return pr
}
