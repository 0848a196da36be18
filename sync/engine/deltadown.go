package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/protocol"
)

// maxRangesPerRequest bounds the byte ranges of one ranged GET (the Range header stays
// a few KiB, well within any proxy's header limits); more ranges take more requests.
const maxRangesPerRequest = 64

// errDelta marks a failure of the delta path of a download: the whole file is then
// downloaded instead.
var errDelta = errors.New("delta download failed")

// errContentMismatch is returned by downloadFrom when the content written does not
// match the hash its fetch reported.
var errContentMismatch = errors.New("content does not match its hash")

// deltaErr turns err (a failure of the delta path) into an errDelta. Only errDelta
// stays in the chain: a not_found in particular must not read as "the file is gone"
// (a server without the delta routes answers so); the whole download that follows
// tells.
func deltaErr(err error) error {
	return fmt.Errorf("%w: %v", errDelta, err)
}

// segment is one piece of the new content, in order: n bytes at dst of the new file,
// taken from the local file at src (local) or fetched from the server.
type segment struct {
	local       bool
	src, dst, n int64
}

// planDownload lays out the server's content (remote, its chunks in order) from the
// chunks the local file already has (local) and the ranges to fetch, adjacent pieces
// coalesced. missing is the number of bytes to fetch.
func planDownload(remote, local []chunk.Chunk) (segs []segment, ranges []ByteRange, missing int64) {
	at := make(map[[32]byte]int64, len(local))
	for _, c := range local {
		if _, ok := at[c.Hash]; !ok {
			at[c.Hash] = c.Offset
		}
	}
	var dst int64
	for _, c := range remote {
		src, ok := at[c.Hash]
		s := segment{local: ok, src: src, dst: dst, n: c.Size}
		dst += c.Size
		if !ok {
			missing += c.Size
		}
		if k := len(segs) - 1; k >= 0 && segs[k].local == s.local && (!s.local || segs[k].src+segs[k].n == s.src) {
			segs[k].n += s.n
			continue
		}
		segs = append(segs, s)
	}
	for _, s := range segs {
		if !s.local {
			ranges = append(ranges, ByteRange{Off: s.dst, Len: s.n})
		}
	}
	return segs, ranges, missing
}

// wantDeltaDownload reports whether a download of a's server content is worth trying
// as a delta: the remote can serve one, the file is large enough, and a local regular
// file stands at the target, large enough to hold the share a delta need not fetch.
func (e xfer) wantDeltaDownload(a *action) (Deltaer, bool) {
	d, ok := e.remote.(Deltaer)
	if !ok || a.r.IsDirectory || a.r.Size < chunk.MinDeltaSize {
		return nil, false
	}
	e.mu.Lock()
	l, lOK := e.local[a.key]
	e.mu.Unlock()
	if !lOK || l.Dir || l.Path != a.lpath {
		return nil, false
	}
	return d, float64(l.Size) >= (1-maxLiteralShare)*float64(a.r.Size)
}

// deltaFetch writes the server's current content of a.path to w from the chunks the
// local file at a.lpath already has and the ranges it lacks (fetched in as few ranged
// GETs as the range cap allows). Every failure is wrapped in errDelta.
// The caller (downloadFrom) verifies the whole-file hash before anything is placed.
func (e xfer) deltaFetch(ctx context.Context, d Deltaer, a *action, w io.Writer) (protocol.Metadata, error) {
	list, err := d.Chunks(ctx, a.path)
	if err != nil {
		return protocol.Metadata{}, deltaErr(err)
	}
	f, err := e.root.Open(a.lpath)
	if err != nil {
		return protocol.Metadata{}, deltaErr(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return protocol.Metadata{}, deltaErr(fmt.Errorf("local file %s is not a regular file", a.lpath))
	}
	local, err := e.baseOfDownload(ctx, a, f, fi)
	if err != nil {
		return protocol.Metadata{}, deltaErr(err)
	}
	segs, ranges, missing := planDownload(list.Chunks, local)
	if !worthDelta(missing, list.Size) {
		return protocol.Metadata{}, deltaErr(fmt.Errorf("%d of %d bytes missing locally", missing, list.Size))
	}
	meta := protocol.Metadata{Path: a.path, Hash: list.Hash, Size: list.Size, Seq: list.Seq}
	as := assembler{w: w, local: f, segs: segs}
	for start := 0; start < len(ranges); start += maxRangesPerRequest {
		batch := ranges[start:min(start+maxRangesPerRequest, len(ranges))]
		m, err := d.DownloadRanges(ctx, a.path, list.Hash, batch, as.fetched)
		if err != nil {
			return meta, deltaErr(err)
		}
		if m.Hash != "" && m.Hash != list.Hash {
			return meta, deltaErr(errors.New("content changed between the chunk list and the ranges"))
		}
		meta.Modified = m.Modified
		meta.Seq = max(meta.Seq, m.Seq)
	}
	if err := as.finish(); err != nil {
		return meta, deltaErr(err)
	}
	// The server's list of the content just written (its hash is checked before the
	// file is placed; a wrong list would only cost the next delta bytes).
	e.chunks.put(list.Hash, list.Chunks, nil)
	e.log.Debug("downloaded as delta", "path", a.path, "size", list.Size, "fetched", missing, "ranges", len(ranges))
	return meta, nil
}

// assembler writes the segments of a planned download in order: local ones copied
// from the local file, the others from the ranges as they arrive.
type assembler struct {
	w     io.Writer
	local io.ReaderAt
	segs  []segment
	next  int // first segment not yet written
	buf   []byte
}

// copyLocal writes every local segment from the next one up to the next fetched one.
func (as *assembler) copyLocal() error {
	for as.next < len(as.segs) && as.segs[as.next].local {
		s := as.segs[as.next]
		if as.buf == nil {
			as.buf = make([]byte, 256<<10)
		}
		n, err := io.CopyBuffer(as.w, io.NewSectionReader(as.local, s.src, s.n), as.buf)
		if err == nil && n != s.n {
			err = fmt.Errorf("local file shrank: %w", io.ErrUnexpectedEOF)
		}
		if err != nil {
			return err
		}
		as.next++
	}
	return nil
}

// fetched writes the local segments before r, then r's bytes from body.
func (as *assembler) fetched(r ByteRange, body io.Reader) error {
	if err := as.copyLocal(); err != nil {
		return err
	}
	if as.next >= len(as.segs) || as.segs[as.next].dst != r.Off || as.segs[as.next].n != r.Len {
		return fmt.Errorf("range %d+%d was not asked for here", r.Off, r.Len)
	}
	n, err := io.CopyN(as.w, body, r.Len)
	if err != nil {
		return fmt.Errorf("range %d+%d cut after %d bytes: %w", r.Off, r.Len, n, err)
	}
	as.next++
	return nil
}

// finish writes the local segments after the last range and checks nothing is left.
func (as *assembler) finish() error {
	if err := as.copyLocal(); err != nil {
		return err
	}
	if as.next != len(as.segs) {
		return fmt.Errorf("%d pieces of the content never arrived", len(as.segs)-as.next)
	}
	return nil
}

// baseOfDownload returns the chunk list of the local file f (fi its fstat), the base
// of a's delta download: the cached list of its content when the file is still what
// the scan hashed, else cut now. A wrong cached list cannot place wrong content: the
// whole-file hash check fails, the list is dropped (download) and the file comes whole.
func (e xfer) baseOfDownload(ctx context.Context, a *action, f io.ReaderAt, fi fs.FileInfo) ([]chunk.Chunk, error) {
	e.mu.Lock()
	l, ok := e.local[a.key]
	e.mu.Unlock()
	if ok && l.Hash != "" && observe(a.lpath, fi).sameStat(l) {
		if list, ok := e.chunks.get(l.Hash, fi.Size()); ok {
			return list, nil
		}
	}
	return localChunks(ctx, f, fi.Size())
}

// contentSum hashes a download as it is written: SHA-256 alone for a small file; for
// one large enough for a delta, package chunk's Sum on other goroutines, which also
// cuts it into chunks unless the list is known (the list is kept for the next delta
// of the file).
type contentSum struct {
	h   hash.Hash
	sum *chunk.Sum
}

func (e disk) newContentSum(size int64, cut bool) *contentSum {
	switch {
	case e.chunks == nil || size < chunk.MinDeltaSize:
		return &contentSum{h: sha256.New()}
	case cut:
		return &contentSum{sum: chunk.NewSum()}
	}
	return &contentSum{sum: chunk.NewHashSum()} // the hash beside the writes
}

func (c *contentSum) Write(p []byte) (int, error) {
	if c.sum != nil {
		return c.sum.Write(p)
	}
	return c.h.Write(p)
}

// finish returns the hex SHA-256 of what was written and its chunks (nil for a small
// file). It may be called again.
func (c *contentSum) finish() (string, []chunk.Chunk) {
	if c.sum != nil {
		s, l := c.sum.Finish()
		return hex.EncodeToString(s[:]), l
	}
	return hex.EncodeToString(c.h.Sum(nil)), nil
}

// prints returns the Prints of the chunks finish returned (nil without them).
func (c *contentSum) prints() []chunk.Print {
	if c.sum != nil {
		return c.sum.Prints()
	}
	return nil
}
