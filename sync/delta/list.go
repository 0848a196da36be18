// The chunk list of the content a Reader rebuilds, derived as it is read.

package delta

import (
	"errors"
	"sort"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/protocol"
)

// lister derives the chunk list (sync/chunk) of a Reader's content from the ops and
// the base's own list, without hashing what it already knows. The chunker's cut
// after a boundary depends only on the bytes from that boundary on, and every chunk
// of the base but its last one ends where the chunker cut it. So where the new
// content's chunking starts a chunk with a copy of the base that begins at one of
// the base's chunks and covers it whole, the new content has that very chunk: its
// size and hash are the base list's. Every other byte goes through a chunk.Chunker,
// one chunk at a time (after each cut the next bytes may be such a copy).
//
// The base list must describe the base exactly (the server's own list of the content
// it reads); the ops cannot make the list wrong: a copy the list does not cover
// whole, from where a base chunk starts, is hashed like a literal.
type lister struct {
	base   []protocol.ChunkRef
	starts []int64 // base offset of each chunk of base
	c      *chunk.Chunker
	fed    int64             // bytes fed to c
	skip   int64             // bytes left of a base chunk taken whole
	last   protocol.ChunkRef // the chunk c reported last
	cut    bool              // c reported a chunk (c is then spent)
	list   []protocol.ChunkRef
}

// errCut stops a Chunker at its first cut: the lister then looks at what follows.
var errCut = errors.New("delta: cut")

func newLister(base []protocol.ChunkRef) *lister {
	l := &lister{base: base, starts: make([]int64, len(base))}
	var off int64
	for i, c := range base {
		l.starts[i] = off
		off += c.Size
	}
	return l
}

// add takes the next bytes p of the content. copied says they are a copy of the base
// from off, within a copy op that has left bytes from off on (p included).
func (l *lister) add(p []byte, copied bool, off, left int64) {
	for len(p) > 0 {
		var n int64
		switch {
		case l.skip > 0:
			n = min(l.skip, int64(len(p)))
			l.skip -= n
		case copied && l.fed == 0 && l.whole(off, left):
			continue // l.skip is set: the chunk is consumed above
		default:
			n = l.write(p)
		}
		p = p[n:]
		off += n
		left -= n
	}
}

// whole reports whether a base chunk other than the last starts at off and fits in
// left bytes; if so it is added to the list and skipped.
func (l *lister) whole(off, left int64) bool {
	i := sort.Search(len(l.starts), func(i int) bool { return l.starts[i] >= off })
	if i >= len(l.base)-1 || l.starts[i] != off || l.base[i].Size > left {
		return false
	}
	l.list = append(l.list, l.base[i])
	l.skip = l.base[i].Size
	return true
}

// write feeds p to the chunker up to its next cut and returns how many bytes it took.
func (l *lister) write(p []byte) int64 {
	if l.c == nil {
		l.c = chunk.New(func(c chunk.Chunk) error {
			l.last, l.cut = protocol.ChunkRef{Hash: c.Hash, Size: c.Size}, true
			return errCut
		})
	}
	_, _ = l.c.Write(p) // its only error is errCut
	if !l.cut {
		l.fed += int64(len(p))
		return int64(len(p))
	}
	n := l.last.Size - l.fed // the chunk ends inside p
	l.list = append(l.list, l.last)
	l.c, l.fed, l.cut = nil, 0, false
	return n
}

// done returns the list of the whole content.
func (l *lister) done() []protocol.ChunkRef {
	if l.c != nil && l.fed > 0 {
		_ = l.c.Close()
		if l.cut {
			l.list = append(l.list, l.last)
		}
		l.c, l.fed, l.cut = nil, 0, false
	}
	return l.list
}
