package engine_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// reopen closes s's engine and opens a new one on the same folder, as the next run
// of the client would.
func reopen(t *testing.T, s *side, c *syncclient.Client) {
	t.Helper()
	if err := s.e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(engine.Options{Root: s.dir, Remote: c, Logger: slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	s.e = e
	t.Cleanup(func() { e.Close() })
}

// TestWrongCachedChunkLists: chunk lists in the cache that do not describe their
// content (damaged, foreign, planted) cost bytes, never content. Both clients hold a
// list of the shared version whose chunk hashes are rotated (every size right, every
// hash another chunk's): A's delta upload over it is rebuilt wrong by the server and
// refused by its hash check, B's delta download over it fails the whole-file hash;
// both then go whole, the wrong lists are dropped, and both hold the new content.
func TestWrongCachedChunkLists(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	r := rand.New(rand.NewPCG(7, 8))
	v0 := make([]byte, 3<<20)
	for i := range v0 {
		v0[i] = byte(r.Uint32())
	}
	a.write(t, "big.bin", string(v0))
	time.Sleep(2100 * time.Millisecond) // B's copy is hashed well after its mtime (no rehash)
	a.sync(t)
	b.sync(t)
	if got := b.read(t, "big.bin"); got != string(v0) {
		t.Fatal("B did not get the first version")
	}
	// Rotated: every size right, every hash its neighbour's (copies run past the
	// base: the server refuses the ops). Reversed: the chunks in reverse order (every
	// copy within the base, the result wrong: the hash checks refuse it).
	wrongs := []func(l []chunk.Chunk) []chunk.Chunk{
		func(l []chunk.Chunk) []chunk.Chunk {
			w := slices.Clone(l)
			for i := range w {
				w[i].Hash = l[(i+1)%len(l)].Hash
			}
			return w
		},
		func(l []chunk.Chunk) []chunk.Chunk {
			w := slices.Clone(l)
			slices.Reverse(w)
			var off int64
			for i := range w {
				w[i].Offset = off
				off += w[i].Size
			}
			return w
		},
	}
	cur := v0
	for i, wrongOf := range wrongs {
		sum := sha256.Sum256(cur)
		h := hex.EncodeToString(sum[:])
		good, err := chunk.List(context.Background(), bytes.NewReader(cur))
		if err != nil || len(good) < 3 {
			t.Fatalf("%d chunks, %v", len(good), err)
		}
		for _, s := range []*side{a, b} {
			if _, err := os.Stat(engine.ChunkListFileForTest(s.dir, h)); err != nil {
				t.Fatalf("the synced version's chunk list was not kept: %v", err)
			}
			if err := engine.WriteChunkListForTest(s.dir, h, wrongOf(good)); err != nil {
				t.Fatal(err)
			}
			reopen(t, s, c) // a new run: nothing in memory, the cache read from disk
		}
		next := bytes.Clone(cur)
		next[len(next)/(i+2)] ^= 1
		a.write(t, "big.bin", string(next))
		time.Sleep(2100 * time.Millisecond)
		a.sync(t)
		b.sync(t)
		if got := b.read(t, "big.bin"); got != string(next) {
			t.Fatalf("wrong list %d: B holds wrong content after deltas over wrong chunk lists", i)
		}
		if got := a.read(t, "big.bin"); got != string(next) {
			t.Fatalf("wrong list %d: A's file changed", i)
		}
		for _, s := range []*side{a, b} {
			if _, err := os.Stat(engine.ChunkListFileForTest(s.dir, h)); err == nil {
				t.Errorf("wrong list %d, %s: the wrong chunk list was kept after it failed", i, s.dir)
			}
		}
		cur = next
	}
	// Nothing left to do: the server holds v1 (A's next pass transfers nothing).
	a.sync(t)
	b.sync(t)
	if got := b.read(t, "big.bin"); got != string(cur) {
		t.Fatal("B's file changed on a quiet pass")
	}
}
