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
// A list is never trusted blindly: a wrong one (a damaged file, another build's
// chunker) can only make a delta send or fetch more, or fail the whole-file SHA-256
// check, which drops the list and falls back to a whole transfer. Lists are only ever
// made by the client's own chunker from the bytes it read or wrote.
type chunkCache struct {
	dir string // DIR/.syncspace/chunks

	mu     sync.Mutex
	mem    map[string][]chunk.Chunk
	order  []string // mem's keys, oldest first
	chunks int      // in mem
}

const (
	// chunkMemMax bounds the chunks held in memory (~48 bytes each: 3 MiB, the lists
	// of 4 GiB of content); the oldest lists go first.
	chunkMemMax = 1 << 16
	// chunkFilesMax bounds the lists kept on disk; beyond it the least recently
	// written quarter is removed.
	chunkFilesMax = 256
	// chunkDirName is the cache's directory inside the state directory.
	chunkDirName = "chunks"
)

// chunkMagic starts every cache file; it names the chunker's parameters, so a list
// cut with other ones is never read.
var chunkMagic = fmt.Appendf(nil, "syncspace chunk list 1 %d %d %d\n", chunk.MinSize, chunk.AvgSize, chunk.MaxSize)

func newChunkCache(stateDir string) *chunkCache {
	return &chunkCache{dir: filepath.Join(stateDir, chunkDirName), mem: map[string][]chunk.Chunk{}}
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

// put remembers l as the chunk list of the content hash (memory only).
func (c *chunkCache) put(hash string, l []chunk.Chunk) {
	if c == nil || !validHash(hash) || len(l) == 0 || len(l) > chunkMemMax {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mem[hash]; !ok {
		c.order = append(c.order, hash)
	} else {
		c.chunks -= len(c.mem[hash])
	}
	c.mem[hash] = l
	c.chunks += len(l)
	for c.chunks > chunkMemMax && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.chunks -= len(c.mem[old])
		delete(c.mem, old)
	}
}

// get returns the chunk list of the content hash of size bytes, from memory or disk;
// a list that does not cover size bytes is not returned.
func (c *chunkCache) get(hash string, size int64) ([]chunk.Chunk, bool) {
	if c == nil || !validHash(hash) {
		return nil, false
	}
	c.mu.Lock()
	l, ok := c.mem[hash]
	c.mu.Unlock()
	if ok && listCovers(l, size) {
		return l, true
	}
	b, err := os.ReadFile(filepath.Join(c.dir, hash))
	if err != nil {
		return nil, false
	}
	l, err = decodeChunks(b)
	if err != nil || !listCovers(l, size) {
		return nil, false
	}
	c.put(hash, l)
	return l, true
}

// keep writes the list of the content hash, known in memory, to disk: it is the last
// synced version of a file. The write is atomic (temp file and rename); it is not
// flushed, as a list lost in a crash is only cut again (a torn one fails its check).
func (c *chunkCache) keep(hash string) error {
	if c == nil || !validHash(hash) {
		return nil
	}
	c.mu.Lock()
	l, ok := c.mem[hash]
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
	_, werr := f.Write(encodeChunks(l))
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
	if l, ok := c.mem[hash]; ok {
		c.chunks -= len(l)
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

// encodeChunks is a list's file form: chunkMagic, the chunk count, each chunk's size
// and hash, and the SHA-256 of all that.
func encodeChunks(l []chunk.Chunk) []byte {
	b := make([]byte, 0, len(chunkMagic)+4+len(l)*36+32)
	b = append(b, chunkMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(l)))
	for _, c := range l {
		b = binary.BigEndian.AppendUint32(b, uint32(c.Size))
		b = append(b, c.Hash[:]...)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

var errChunkFile = errors.New("damaged chunk list file")

// decodeChunks reads encodeChunks' form back; anything else is errChunkFile.
func decodeChunks(b []byte) ([]chunk.Chunk, error) {
	if len(b) < len(chunkMagic)+4+32 || !bytes.HasPrefix(b, chunkMagic) {
		return nil, errChunkFile
	}
	body, sum := b[:len(b)-32], b[len(b)-32:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, errChunkFile
	}
	body = body[len(chunkMagic):]
	n := binary.BigEndian.Uint32(body)
	body = body[4:]
	if uint64(len(body)) != uint64(n)*36 {
		return nil, errChunkFile
	}
	l := make([]chunk.Chunk, n)
	var off int64
	for i := range l {
		l[i].Offset = off
		l[i].Size = int64(binary.BigEndian.Uint32(body))
		copy(l[i].Hash[:], body[4:36])
		off += l[i].Size
		body = body[36:]
	}
	return l, nil
}
