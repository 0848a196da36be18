package chunk

import "github.com/zeebo/xxh3"

// Print is a chunk's fingerprint: the 128-bit XXH3 of its bytes, about ten times
// cheaper to compute than their SHA-256. It is not collision resistant (bytes can be
// made to match a given Print), so a Print never vouches for content on its own: a
// Sum uses it only to take a chunk's SHA-256 from a Known chunk of the same size and
// Print, where a wrong match can only make the chunk list wrong, and whoever uses
// the list checks the whole content's SHA-256 (a delta upload built on it is refused
// by the server's check and the file goes whole).
type Print [16]byte

// PrintOf returns the Print of p.
func PrintOf(p []byte) Print { return xxh3.Hash128(p).Bytes() }

// Known holds the chunks of a content read before, in order, with their Prints. A nil
// *Known knows nothing.
type Known struct {
	chunks []Chunk
	prints []Print
	m      map[printKey]int // size and Print → index in chunks (the first)
	at     map[int64]int    // Offset → index in chunks
}

type printKey struct {
	size int64
	p    Print
}

// NewKnown indexes chunks whose Prints are prints (the same length, in order; a
// Sum's Finish and Prints). It returns nil when there is nothing to index, the
// lengths differ or a chunk's size is one the chunker cannot make.
func NewKnown(chunks []Chunk, prints []Print) *Known {
	if len(chunks) == 0 || len(chunks) != len(prints) {
		return nil
	}
	for _, c := range chunks {
		if c.Size <= 0 || c.Size > MaxSize {
			return nil
		}
	}
	k := &Known{chunks: chunks, prints: prints, m: make(map[printKey]int, len(chunks)), at: make(map[int64]int, len(chunks))}
	for i, c := range chunks {
		if _, ok := k.m[printKey{c.Size, prints[i]}]; !ok {
			k.m[printKey{c.Size, prints[i]}] = i
		}
		k.at[c.Offset] = i
	}
	return k
}

// index returns the index of the known chunk of size bytes with Print p.
func (k *Known) index(size int64, p Print) (int, bool) {
	if k == nil {
		return 0, false
	}
	i, ok := k.m[printKey{size, p}]
	return i, ok
}
