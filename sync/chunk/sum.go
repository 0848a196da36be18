package chunk

import (
	"crypto/sha256"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// Sum computes, from one read of a stream, both its whole SHA-256 and its chunk list
// (the same chunks as Split), with the work spread over three goroutines: the
// whole-stream hash, the boundary search, and the chunk hashes (which follow the
// boundaries). On two cores this costs little more wall time than the whole hash
// alone, where hashing and then cutting would read and hash the stream twice.
//
// Every chunk also gets its Print. A Sum given the Known chunks of a content read
// before (NewSumFunc) takes the SHA-256 of a chunk of the same size and Print from
// there instead of computing it, and cuts and hashes on one goroutine that follows
// the known chunks (follow.go): for an edited file read against its last version,
// only the chunks that changed are searched for boundaries and hashed per chunk.
//
// Feed it with Write (the bytes are copied) or ReadFrom (read straight into its
// buffers), then call Finish, which must be called once the Sum is no longer fed,
// even after an error, to stop its goroutines. Not safe for concurrent use.
type Sum struct {
	free   chan *block
	whole  chan *block
	cuts   chan *block
	cur    *block // being filled
	blocks int    // allocated so far
	size   int64
	wg     sync.WaitGroup

	wholeH hash.Hash // owned by the whole-stream goroutine until Finish
	// chunks, prints and reused are owned by the chunk-hash goroutine until Finish.
	chunks []Chunk
	prints []Print
	reused int
	known  *Known      // NewSumFunc's chunks read before (nil: hash every chunk)
	each   func(Chunk) // NewSumFunc's callback, called by the chunk-hash goroutine
	done   bool
	sum    [32]byte
}

// sumBlock is the size of one buffer; sumBlocks the most buffers in flight.
const (
	sumBlock  = 1 << 20
	sumBlocks = 8
)

// block is one buffer of the stream, shared by the whole-stream hasher and the
// boundary search (then the chunk hasher); refs counts the two that still use it.
type block struct {
	buf  []byte
	n    int
	cuts []int // chunk ends within buf[:n], set by the boundary search
	refs atomic.Int32
}

// NewSum starts a Sum.
func NewSum() *Sum {
	s := newSum(true)
	s.startCuts()
	return s
}

// NewSumFunc starts a Sum that takes the hashes of known's chunks (nil: none) and
// calls fn (if not nil) with each chunk as soon as it is cut and hashed, in order,
// from one goroutine of its own (the last chunk during Finish): a caller can act on
// the chunks while the stream is still read. fn must not call the Sum.
func NewSumFunc(known *Known, fn func(Chunk)) *Sum {
	s := newSum(true)
	s.known, s.each = known, fn
	s.startCuts()
	return s
}

// NewHashSum starts a Sum that only hashes the whole stream (Finish returns no
// chunks), on its own goroutine: the caller's reads and writes overlap the hashing.
func NewHashSum() *Sum { return newSum(false) }

func newSum(cut bool) *Sum {
	s := &Sum{
		free:   make(chan *block, sumBlocks),
		whole:  make(chan *block, sumBlocks),
		wholeH: sha256.New(),
	}
	if cut {
		s.cuts = make(chan *block, sumBlocks)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for b := range s.whole {
			s.wholeH.Write(b.buf[:b.n])
			s.release(b)
		}
	}()
	return s
}

// startCuts starts the boundary search and the chunk hashes: on one goroutine that
// follows the known chunks (follow.go) when there are some, else on two.
func (s *Sum) startCuts() {
	if s.known != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.follow(s.known)
		}()
		return
	}
	chunked := make(chan *block, sumBlocks)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		defer close(chunked)
		var c cutter
		for b := range s.cuts {
			b.cuts = b.cuts[:0]
			for at := 0; at < b.n; {
				k := c.scan(b.buf[at:b.n])
				if k < 0 {
					break
				}
				at += k
				b.cuts = append(b.cuts, at)
				c = cutter{}
			}
			chunked <- b
		}
	}()
	go func() {
		defer s.wg.Done()
		// carry holds the current chunk's bytes from earlier buffers (a chunk is
		// hashed from one contiguous slice: its Print first, then its SHA-256 if
		// the Print is not known).
		carry := make([]byte, 0, MaxSize)
		var off int64
		for b := range chunked {
			from := 0
			for _, at := range b.cuts {
				p := b.buf[from:at]
				if len(carry) > 0 {
					carry = append(carry, p...)
					p = carry
				}
				s.add(off, p)
				off += int64(len(p))
				carry, from = carry[:0], at
			}
			carry = append(carry, b.buf[from:b.n]...)
			s.release(b)
		}
		if len(carry) > 0 {
			s.add(off, carry)
		}
	}()
}

// add hashes and records the chunk p at off, on the chunk-hash goroutine.
func (s *Sum) add(off int64, p []byte) {
	s.record(Chunk{Offset: off, Size: int64(len(p)), Hash: sha256.Sum256(p)}, PrintOf(p), false)
}

// record appends ch (Print p; reused: its hash taken from a known chunk) to the list
// and reports it.
func (s *Sum) record(ch Chunk, p Print, reused bool) {
	if reused {
		s.reused++
	}
	s.chunks = append(s.chunks, ch)
	s.prints = append(s.prints, p)
	if s.each != nil {
		s.each(ch)
	}
}

func (s *Sum) release(b *block) {
	if b.refs.Add(-1) == 0 {
		b.n = 0
		s.free <- b
	}
}

// take returns a buffer to fill: a free one, a new one while fewer than sumBlocks
// exist, else the next one the goroutines release.
func (s *Sum) take() *block {
	if s.cur != nil {
		return s.cur
	}
	select {
	case b := <-s.free:
		s.cur = b
	default:
		if s.blocks < sumBlocks {
			s.blocks++
			s.cur = &block{buf: make([]byte, sumBlock)}
		} else {
			s.cur = <-s.free
		}
	}
	return s.cur
}

// send hands the current buffer to the goroutines.
func (s *Sum) send() {
	b := s.cur
	s.cur = nil
	if b == nil || b.n == 0 {
		if b != nil {
			s.free <- b
		}
		return
	}
	if s.cuts == nil {
		b.refs.Store(1)
		s.whole <- b
		return
	}
	b.refs.Store(2)
	s.whole <- b
	s.cuts <- b
}

// Write feeds p (copied). It always returns len(p), nil; after Finish it panics.
func (s *Sum) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		b := s.take()
		k := copy(b.buf[b.n:], p)
		b.n += k
		p = p[k:]
		if b.n == len(b.buf) {
			s.send()
		}
	}
	s.size += int64(total)
	return total, nil
}

// ReadFrom feeds r to its end, read straight into the Sum's buffers. It returns the
// bytes read and r's error other than io.EOF.
func (s *Sum) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		b := s.take()
		k, err := r.Read(b.buf[b.n:])
		b.n += k
		total += int64(k)
		s.size += int64(k)
		if b.n == len(b.buf) {
			s.send()
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Size is the number of bytes fed so far.
func (s *Sum) Size() int64 { return s.size }

// Prints returns the Print of each chunk Finish returned (nil before Finish, and
// for NewHashSum).
func (s *Sum) Prints() []Print {
	if !s.done {
		return nil
	}
	return s.prints
}

// Reused is how many chunks took their hash from the Known chunks (0 before Finish).
func (s *Sum) Reused() int {
	if !s.done {
		return 0
	}
	return s.reused
}

// Finish waits for the goroutines and returns the whole stream's SHA-256 and its
// chunks (none for an empty stream). Later calls return the same.
func (s *Sum) Finish() (sum [32]byte, chunks []Chunk) {
	if !s.done {
		s.done = true
		s.send()
		close(s.whole)
		if s.cuts != nil {
			close(s.cuts)
		}
		s.wg.Wait()
		s.wholeH.Sum(s.sum[:0])
	}
	return s.sum, s.chunks
}
