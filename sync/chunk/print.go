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

// Known holds the chunks of a content read before, by size and Print, with their
// SHA-256. A nil *Known knows nothing.
type Known struct {
	m map[printKey][32]byte
}

type printKey struct {
	size int64
	p    Print
}

// NewKnown indexes chunks whose Prints are prints (the same length, in order; a
// Sum's Finish and Prints). It returns nil when there is nothing to index or the
// lengths differ.
func NewKnown(chunks []Chunk, prints []Print) *Known {
	if len(chunks) == 0 || len(chunks) != len(prints) {
		return nil
	}
	k := &Known{m: make(map[printKey][32]byte, len(chunks))}
	for i, c := range chunks {
		k.m[printKey{c.Size, prints[i]}] = c.Hash
	}
	return k
}

// hash returns the SHA-256 of the known chunk of size bytes with Print p.
func (k *Known) hash(size int64, p Print) ([32]byte, bool) {
	if k == nil {
		return [32]byte{}, false
	}
	h, ok := k.m[printKey{size, p}]
	return h, ok
}
