package chunk

import "crypto/sha256"

// Following the known chunks: a Sum given the chunks of an earlier version (Known)
// expects, at each chunk start, the known chunk that starts at the same place of the
// earlier version (same offset, moved by the shift of the last chunk found in both).
// If the next bytes of that chunk's size have its Print, they are taken to be that
// chunk: the chunker's cut after a boundary depends only on the bytes from that
// boundary on, and every known chunk but the last ended at a cut, so the cut is at its
// end and the gear hash need not run over it. Only where the Print differs (the bytes
// changed) is the boundary searched as usual. For an edited file this replaces most
// of the gear hash's work (a table look-up, a shift and an add per byte) by XXH3's.
//
// As with the hashes, a Print shared by other bytes makes the list wrong (a cut
// where the chunker would not make one), never the whole-stream hash: a delta built
// on it is refused by the hash check of the content.

// follower cuts and hashes the stream on one goroutine, following known's chunks.
type follower struct {
	s     *Sum
	k     *Known
	buf   []byte // buf[from:to] holds the stream from the current chunk's start
	from  int
	to    int
	off   int64  // stream offset of the current chunk's start
	shift int64  // off minus the earlier version's offset of the same bytes
	c     cutter // the boundary search's state over buf[from:from+scanned]
	// scanned is how far the boundary search has gone past from; -1 while the
	// expected known chunk has not been checked yet.
	scanned int
}

func (s *Sum) follow(k *Known) {
	f := &follower{s: s, k: k, buf: make([]byte, 2*sumBlock+MaxSize), scanned: -1}
	for b := range s.cuts {
		f.push(b.buf[:b.n])
		s.release(b)
		f.cutAll(false)
	}
	f.cutAll(true)
}

// push appends p to the window, moving the unconsumed bytes to its front first when
// p does not fit behind them.
func (f *follower) push(p []byte) {
	if f.to+len(p) > len(f.buf) {
		n := copy(f.buf, f.buf[f.from:f.to])
		f.from, f.to = 0, n
		if n+len(p) > len(f.buf) {
			nb := make([]byte, n+len(p)+MaxSize)
			copy(nb, f.buf[:n])
			f.buf = nb
		}
	}
	f.to += copy(f.buf[f.to:], p)
}

// cutAll emits every chunk the window holds; eof: the stream ended, the rest is the
// last chunk.
func (f *follower) cutAll(eof bool) {
	for f.to > f.from {
		w := f.buf[f.from:f.to]
		if f.scanned < 0 {
			// The known chunk expected here, if any: taken when its Print matches.
			f.scanned = 0
			if i, ok := f.k.at[f.off-f.shift]; ok && i < len(f.k.chunks)-1 {
				n := int(f.k.chunks[i].Size)
				if len(w) < n && !eof {
					f.scanned = -1
					return // wait for its bytes
				}
				if len(w) >= n {
					if p := PrintOf(w[:n]); p == f.k.prints[i] {
						f.emit(n, p, f.k.chunks[i].Hash, true)
						continue
					}
				}
			}
		}
		n := len(w) // at the stream's end, the last chunk: the rest
		if k := f.c.scan(w[f.scanned:]); k >= 0 {
			n = f.scanned + k
		} else if !eof {
			f.scanned = len(w)
			return
		}
		p := PrintOf(w[:n])
		i, ok := f.k.index(int64(n), p)
		var h [32]byte
		if ok {
			// Found in the earlier version: follow it from there.
			h, f.shift = f.k.chunks[i].Hash, f.off-f.k.chunks[i].Offset
		} else {
			h = sha256.Sum256(w[:n])
		}
		f.emit(n, p, h, ok)
	}
}

// emit records the chunk of the window's first n bytes and starts the next chunk.
func (f *follower) emit(n int, p Print, h [32]byte, reused bool) {
	f.s.record(Chunk{Offset: f.off, Size: int64(n), Hash: h}, p, reused)
	f.off += int64(n)
	f.from += n
	f.c = cutter{}
	f.scanned = -1
}
