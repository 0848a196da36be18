package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/syncspace/syncspace/sync/chunk"
)

func TestChunkCacheFiles(t *testing.T) {
	c := newChunkCache(t.TempDir())
	content := randBytes(3<<20, 5)
	list := chunksOf(t, content)
	sum := sha256.Sum256(content)
	h := hex.EncodeToString(sum[:])
	size := int64(len(content))

	if err := c.keep(h); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.get(h, size); ok {
		t.Fatal("a list never put was found")
	}
	c.put(h, list, nil)
	if err := c.keep(h); err != nil {
		t.Fatal(err)
	}
	fresh := newChunkCache(filepath.Dir(c.dir)) // the next run: disk only
	got, ok := fresh.get(h, size)
	if !ok || !equalChunks(got, list) {
		t.Fatal("the kept list did not read back")
	}
	if _, ok := fresh.get(h, size+1); ok {
		t.Fatal("a list of another size was returned")
	}
	for _, bad := range []string{"", "x", h[:63], "../" + h[3:]} {
		if _, ok := fresh.get(bad, size); ok {
			t.Fatalf("hash %q was looked up", bad)
		}
	}

	// A damaged file (a flipped byte, a torn write, another format) is not read.
	p := filepath.Join(c.dir, h)
	good, _ := os.ReadFile(p)
	for name, b := range map[string][]byte{
		"flipped":   flip(good, len(good)/2),
		"torn":      good[:len(good)-40],
		"empty":     nil,
		"other fmt": append([]byte("syncspace chunk list 9 1 2 3\n"), good[len(chunkMagic):]...),
	} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, ok := newChunkCache(filepath.Dir(c.dir)).get(h, size); ok {
			t.Errorf("%s file was read", name)
		}
	}

	fresh.drop(h)
	if _, ok := fresh.get(h, size); ok {
		t.Fatal("a dropped list was found")
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("a dropped list's file is still there")
	}
}

func TestChunkCacheBounds(t *testing.T) {
	c := newChunkCache(t.TempDir())
	l := chunksOf(t, randBytes(2<<20, 6))
	hashOfN := func(i int) string {
		s := sha256.Sum256(fmt.Append(nil, i))
		return hex.EncodeToString(s[:])
	}
	for i := range chunkFilesMax + 1 {
		c.put(hashOfN(i), l, nil)
		if err := c.keep(hashOfN(i)); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(c.dir)
	if len(ents) > chunkFilesMax {
		t.Fatalf("%d files kept, bound %d", len(ents), chunkFilesMax)
	}
	if c.chunks > chunkMemMax {
		t.Fatalf("%d chunks in memory, bound %d", c.chunks, chunkMemMax)
	}
	if _, ok := c.mem[hashOfN(chunkFilesMax)]; !ok {
		t.Fatal("the newest list was evicted from memory")
	}
}

func flip(b []byte, i int) []byte {
	b = append([]byte{}, b...)
	b[i] ^= 1
	return b
}

func equalChunks(a, b []chunk.Chunk) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestChunkCachePrints: a list kept with its Prints reads back with them (the second
// file format); a file of the first format still loads, without Prints; Prints of
// another length are not kept; a damaged file of the second format is not read.
func TestChunkCachePrints(t *testing.T) {
	content := randBytes(3<<20, 9)
	s := chunk.NewSum()
	s.Write(content)
	sum, list := s.Finish()
	prints := s.Prints()
	h := hex.EncodeToString(sum[:])
	size := int64(len(content))
	state := t.TempDir()

	c := newChunkCache(state)
	c.put(h, list, prints)
	if err := c.keep(h); err != nil {
		t.Fatal(err)
	}
	e, ok := newChunkCache(state).entry(h, size)
	if !ok || !equalChunks(e.l, list) || !slices.Equal(e.prints, prints) {
		t.Fatal("the kept list and Prints did not read back")
	}
	p := filepath.Join(c.dir, h)
	good, _ := os.ReadFile(p)
	if !bytes.HasPrefix(good, chunkMagicPrints) {
		t.Fatal("a list with Prints was not kept in the second format")
	}
	for name, b := range map[string][]byte{
		"flipped print": flip(good, len(chunkMagicPrints)+4+36+3),
		"torn":          good[:len(good)-16],
		"first magic":   append(slices.Clone(chunkMagic), good[len(chunkMagicPrints):]...),
	} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, ok := newChunkCache(state).entry(h, size); ok {
			t.Errorf("%s: the file was read", name)
		}
	}

	// A client of the previous release kept the first format.
	if err := os.WriteFile(p, encodeChunks(list, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	e, ok = newChunkCache(state).entry(h, size)
	if !ok || !equalChunks(e.l, list) || e.prints != nil {
		t.Fatal("a file of the first format did not load, or loaded with Prints")
	}

	c = newChunkCache(t.TempDir())
	c.put(h, list, prints[1:])
	if e, ok := c.entry(h, size); !ok || e.prints != nil {
		t.Fatal("Prints of another length were kept")
	}
}
