package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/chunk"
)

// chunkCache keeps the chunk lists of contents this client has read or written,
// keyed by the content's SHA-256, so a delta need not cut a file again nor ask the
// server for a list it already knows: in memory for the lists of this run (the scan
// computes a large file's list in the same read as its hash), and in
// DIR/.syncspace/chunks for the last synced version of each file (the server's base
// of the next upload, the local base of the next download).
//
// A list the client cut itself also holds each chunk's Print (chunk.Print), so the
// next read of an edited version of the content hashes only the chunks that changed
// (chunk.Known); lists from the server, and files of the first format, have none.
//
// A list is never trusted blindly: a wrong one (a damaged file, another build's
// chunker, a Print shared by different bytes) can only make a delta send or fetch
// more, or fail the whole-file SHA-256 check, which drops the list and falls back to
// a whole transfer. Lists are only ever made by the client's own chunker from the
// bytes it read or wrote, or taken from the server.
type chunkCache struct {
	dir string // DIR/.syncspace/chunks

	mu     sync.Mutex
	mem    map[string]cachedList
	order  []string // mem's keys, oldest first
	chunks int      // in mem
}

// cachedList is one content's chunks and, when known, their Prints (same length).
type cachedList struct {
	l      []chunk.Chunk
	prints []chunk.Print
}

const (
	// chunkMemMax bounds the chunks held in memory (~64 bytes each with its Print:
	// 4 MiB, the lists of 4 GiB of content); the oldest lists go first.
	chunkMemMax = 1 << 16
	// chunkFilesMax bounds the lists kept on disk; beyond it the least recently
	// written quarter is removed.
	chunkFilesMax = 256
	// chunkDirName is the cache's directory inside the state directory.
	chunkDirName = "chunks"
)

// chunkMagic starts every cache file of a list without Prints, chunkMagicPrints
// every one with them (the second format; files of the first still load); both name
// the chunker's parameters, so a list cut with other ones is never read.
var (
	chunkMagic       = fmt.Appendf(nil, "syncspace chunk list 1 %d %d %d\n", chunk.MinSize, chunk.AvgSize, chunk.MaxSize)
	chunkMagicPrints = fmt.Appendf(nil, "syncspace chunk list 2 %d %d %d\n", chunk.MinSize, chunk.AvgSize, chunk.MaxSize)
)

func newChunkCache(stateDir string) *chunkCache {
	return &chunkCache{dir: filepath.Join(stateDir, chunkDirName), mem: map[string]cachedList{}}
}

// validHash reports whether h is a lowercase hex SHA-256 (a safe file name).
func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && h == string(bytes.ToLower([]byte(h)))
}

// listCovers reports whether l describes exactly size bytes, in order, in chunks the
// chunker can make.
func listCovers(l []chunk.Chunk, size int64) bool {
	var off int64
	for _, c := range l {
		if c.Offset != off || c.Size <= 0 || c.Size > chunk.MaxSize {
			return false
		}
		off += c.Size
	}
	return off == size && (size == 0) == (len(l) == 0)
}

// put remembers l as the chunk list of the content hash (memory only), with the
// Prints of its chunks when known (nil: none; a list of another length is kept
// without them).
func (c *chunkCache) put(hash string, l []chunk.Chunk, prints []chunk.Print) {
	if c == nil || !validHash(hash) || len(l) == 0 || len(l) > chunkMemMax {
		return
	}
	if len(prints) != len(l) {
		prints = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mem[hash]; !ok {
		c.order = append(c.order, hash)
	} else {
		c.chunks -= len(c.mem[hash].l)
	}
	c.mem[hash] = cachedList{l: l, prints: prints}
	c.chunks += len(l)
	for c.chunks > chunkMemMax && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.chunks -= len(c.mem[old].l)
		delete(c.mem, old)
	}
}

// get returns the chunk list of the content hash of size bytes, from memory or disk;
// a list that does not cover size bytes is not returned.
func (c *chunkCache) get(hash string, size int64) ([]chunk.Chunk, bool) {
	e, ok := c.entry(hash, size)
	return e.l, ok
}

// entry is get with the list's Prints (nil when not known).
func (c *chunkCache) entry(hash string, size int64) (cachedList, bool) {
	if c == nil || !validHash(hash) {
		return cachedList{}, false
	}
	c.mu.Lock()
	e, ok := c.mem[hash]
	c.mu.Unlock()
	if ok && listCovers(e.l, size) {
		return e, true
	}
	b, err := os.ReadFile(filepath.Join(c.dir, hash))
	if err != nil {
		return cachedList{}, false
	}
	e.l, e.prints, err = decodeChunks(b)
	if err != nil || !listCovers(e.l, size) {
		return cachedList{}, false
	}
	c.put(hash, e.l, e.prints)
	return e, true
}

// keep writes the list of the content hash, known in memory, to disk: it is the last
// synced version of a file. The write is atomic (temp file and rename); it is not
// flushed, as a list lost in a crash is only cut again (a torn one fails its check).
func (c *chunkCache) keep(hash string) error {
	if c == nil || !validHash(hash) {
		return nil
	}
	c.mu.Lock()
	e, ok := c.mem[hash]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	p := filepath.Join(c.dir, hash)
	if _, err := os.Stat(p); err == nil {
		now := time.Now()
		_ = os.Chtimes(p, now, now) // recently used: evicted last
		return nil
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(c.dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	_, werr := f.Write(encodeChunks(e.l, e.prints))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), p)
	}
	if werr != nil {
		os.Remove(f.Name())
		return werr
	}
	c.trim()
	return nil
}

// drop forgets the list of the content hash (memory and disk): it proved wrong.
func (c *chunkCache) drop(hash string) {
	if c == nil || !validHash(hash) {
		return
	}
	c.mu.Lock()
	if e, ok := c.mem[hash]; ok {
		c.chunks -= len(e.l)
		delete(c.mem, hash)
		c.order = slices.DeleteFunc(c.order, func(h string) bool { return h == hash })
	}
	c.mu.Unlock()
	_ = os.Remove(filepath.Join(c.dir, hash))
}

// trim removes the least recently written quarter of the files when there are more
// than chunkFilesMax.
func (c *chunkCache) trim() {
	ents, err := os.ReadDir(c.dir)
	if err != nil || len(ents) <= chunkFilesMax {
		return
	}
	type aged struct {
		name string
		at   int64
	}
	var all []aged
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			all = append(all, aged{e.Name(), fi.ModTime().UnixNano()})
		}
	}
	// Files removed meanwhile (by a trim of a concurrent transfer) are not in all.
	n := len(all) - chunkFilesMax*3/4
	if n <= 0 {
		return
	}
	slices.SortFunc(all, func(a, b aged) int { return int(min(max(a.at-b.at, -1), 1)) })
	for _, a := range all[:n] {
		_ = os.Remove(filepath.Join(c.dir, a.name))
	}
}

// encodeChunks is a list's file form: the magic (chunkMagicPrints when prints has
// one Print a chunk, else chunkMagic), the chunk count, each chunk's size, hash and
// (second format) Print, and the SHA-256 of all that.
func encodeChunks(l []chunk.Chunk, prints []chunk.Print) []byte {
	magic, per := chunkMagic, 36
	if len(prints) != len(l) {
		prints = nil
	}
	if prints != nil {
		magic, per = chunkMagicPrints, 52
	}
	b := make([]byte, 0, len(magic)+4+len(l)*per+32)
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(l)))
	for i, c := range l {
		b = binary.BigEndian.AppendUint32(b, uint32(c.Size))
		b = append(b, c.Hash[:]...)
		if prints != nil {
			b = append(b, prints[i][:]...)
		}
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

var errChunkFile = errors.New("damaged chunk list file")

// decodeChunks reads encodeChunks' form (either format) back; prints is nil for
// the first. Anything else is errChunkFile.
func decodeChunks(b []byte) (l []chunk.Chunk, prints []chunk.Print, err error) {
	per := 36
	switch {
	case bytes.HasPrefix(b, chunkMagicPrints):
		per = 52
	case !bytes.HasPrefix(b, chunkMagic):
		return nil, nil, errChunkFile
	}
	if len(b) < len(chunkMagic)+4+32 {
		return nil, nil, errChunkFile
	}
	body, sum := b[:len(b)-32], b[len(b)-32:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, nil, errChunkFile
	}
	body = body[len(chunkMagic):]
	n := binary.BigEndian.Uint32(body)
	body = body[4:]
	if uint64(len(body)) != uint64(n)*uint64(per) {
		return nil, nil, errChunkFile
	}
	l = make([]chunk.Chunk, n)
	if per == 52 {
		prints = make([]chunk.Print, n)
	}
	var off int64
	for i := range l {
		l[i].Offset = off
		l[i].Size = int64(binary.BigEndian.Uint32(body))
		copy(l[i].Hash[:], body[4:36])
		if prints != nil {
			copy(prints[i][:], body[36:52])
		}
		off += l[i].Size
		body = body[per:]
	}
	return l, prints, nil
}
