// Package chunk cuts content into content-defined chunks for delta transfer.
//
// Boundaries come from a gear rolling hash with normalised chunking (FastCDC), so an
// insertion or deletion moves only the boundaries next to it and every later chunk
// keeps its bytes and its SHA-256. The parameters are fixed: server and client must
// cut the same content the same way, so changing MinSize, AvgSize, MaxSize or the gear
// table changes the wire format. The package is pure: it imports only the standard
// library and XXH3 (github.com/zeebo/xxh3, for the chunks' Prints).
package chunk

import (
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
)

const (
	// MinSize is the smallest chunk, except the last one of a stream.
	MinSize = 16 << 10
	// AvgSize is the size the boundary masks aim at.
	AvgSize = 64 << 10
	// MaxSize is the largest chunk: a cut is forced there.
	MaxSize = 256 << 10
	// MinDeltaSize is the smallest file worth a delta: smaller files travel whole.
	MinDeltaSize = 1 << 20

	// maskSmall (18 high bits) applies below AvgSize, maskLarge (14 high bits) from
	// AvgSize on: normalised chunking keeps sizes close to AvgSize. The high bits of
	// the gear hash depend on the last 64 bytes.
	maskSmall = uint64(1<<18-1) << (64 - 18)
	maskLarge = uint64(1<<14-1) << (64 - 14)
)

// Chunk is one piece of content: Offset from the start of the stream, Size in bytes
// (never zero), Hash the SHA-256 of those bytes.
type Chunk struct {
	Offset int64
	Size   int64
	Hash   [32]byte
}

// gear is the rolling hash's byte table, drawn from splitmix64 with a fixed seed so
// every build shares it.
var gear = func() (g [256]uint64) {
	x := uint64(0x73796e6373706163) // "syncspac"
	for i := range g {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		g[i] = z ^ (z >> 31)
	}
	return g
}()

// Chunker cuts a stream fed through Write and reports each finished chunk to its
// callback; Close reports the last one. The cut does not depend on how the stream is
// split into writes. A Chunker is an io.Writer, so it can sit in an io.MultiWriter
// beside the whole-file hash of an upload. Not safe for concurrent use.
type Chunker struct {
	cutter
	fn     func(Chunk) error
	h      hash.Hash
	offset int64 // stream offset of the current chunk
	err    error
	closed bool
}

// cutter is the rolling state of the boundary search within the current chunk.
type cutter struct {
	roll uint64
	n    int64 // bytes in the current chunk
}

// New returns a Chunker that calls fn for every chunk, in order. An error from fn
// stops the Chunker: Write and Close return it from then on.
func New(fn func(Chunk) error) *Chunker {
	return &Chunker{fn: fn, h: sha256.New()}
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("chunk: write after close")

// Write feeds p. It returns len(p) unless the callback failed.
func (c *Chunker) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.closed {
		return 0, ErrClosed
	}
	total := len(p)
	for len(p) > 0 {
		cut := c.scan(p)
		if cut < 0 {
			c.h.Write(p)
			break
		}
		c.h.Write(p[:cut])
		p = p[cut:]
		if err := c.emit(); err != nil {
			return total - len(p), err
		}
	}
	return total, nil
}

// scan advances the rolling state over p and returns the index just after the
// boundary, or -1 if p holds none (the state then covers all of p). Three loops, one
// per zone of the chunk (no cut below MinSize, the strict mask below AvgSize, the
// loose one up to MaxSize), keep the per-byte work to a shift, an add and a test.
func (c *cutter) scan(p []byte) int {
	n, roll := int(c.n), c.roll
	i := 0
	// Only the last 64 bytes before MinSize reach the hash there: skip the rest.
	if skip := MinSize - 64 - n; skip > 0 {
		if len(p) <= skip {
			c.n += int64(len(p))
			return -1
		}
		i, n = skip, n+skip
	}
	if n < MinSize {
		end := min(len(p), i+MinSize-n)
		for _, b := range p[i:end] {
			roll = roll<<1 + gear[b]
		}
		n, i = n+end-i, end
	}
	if n < AvgSize {
		end := min(len(p), i+AvgSize-n)
		for j, b := range p[i:end] {
			roll = roll<<1 + gear[b]
			if roll&maskSmall == 0 {
				return c.cut(i+j+1, n+j+1, roll)
			}
		}
		n, i = n+end-i, end
	}
	end := min(len(p), i+MaxSize-n)
	for j, b := range p[i:end] {
		roll = roll<<1 + gear[b]
		if roll&maskLarge == 0 {
			return c.cut(i+j+1, n+j+1, roll)
		}
	}
	n, i = n+end-i, end
	if n >= MaxSize {
		return c.cut(i, n, roll)
	}
	c.n, c.roll = int64(n), roll
	return -1
}

func (c *cutter) cut(at, n int, roll uint64) int {
	c.n, c.roll = int64(n), roll
	return at
}

func (c *Chunker) emit() error {
	ch := Chunk{Offset: c.offset, Size: c.n}
	c.h.Sum(ch.Hash[:0])
	c.h.Reset()
	c.offset += c.n
	c.n, c.roll = 0, 0
	if err := c.fn(ch); err != nil {
		c.err = err
		return err
	}
	return nil
}

// Close reports the last, possibly short, chunk. An empty stream has no chunks.
// Close is idempotent.
func (c *Chunker) Close() error {
	if c.err != nil || c.closed {
		return c.err
	}
	c.closed = true
	if c.n == 0 {
		return nil
	}
	return c.emit()
}

// Size is the number of bytes fed so far.
func (c *Chunker) Size() int64 { return c.offset + c.n }

// Split reads r to its end and calls fn for every chunk, in order. It stops at the
// first error of r, fn or ctx.
func Split(ctx context.Context, r io.Reader, fn func(Chunk) error) error {
	c := New(fn)
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return c.Close()
		}
		if err != nil {
			return err
		}
	}
}

// List returns all chunks of r.
func List(ctx context.Context, r io.Reader) ([]Chunk, error) {
	var out []Chunk
	err := Split(ctx, r, func(c Chunk) error {
		out = append(out, c)
		return nil
	})
	return out, err
}
