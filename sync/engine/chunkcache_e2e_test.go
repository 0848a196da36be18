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
	"strings"
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

// TestPrintCollisionRefused: a chunk whose Print matches a base chunk's takes that
// chunk's hash without its bytes being hashed. Should a Print be shared by other
// bytes (forced here: A's cached list of the synced version gives the edited chunk's
// Print to the base chunk at its place), the streamed upload sends the chunk as a copy
// of the base's bytes, the server's check of the content against the hash of every
// byte read refuses it, and A uploads the file whole: the server and B end with the
// edited content, and A keeps the edited version's true list.
func TestPrintCollisionRefused(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	r := rand.New(rand.NewPCG(9, 10))
	v0 := make([]byte, 3<<20)
	for i := range v0 {
		v0[i] = byte(r.Uint32())
	}
	a.write(t, "big.bin", string(v0))
	a.sync(t)
	h0 := hexSum(v0)
	l0, p0, err := engine.ReadChunkListForTest(a.dir, h0)
	if err != nil || len(p0) != len(l0) || len(l0) < 3 {
		t.Fatalf("the synced version's list was not kept with its Prints: %d chunks, %d prints, %v", len(l0), len(p0), err)
	}
	v1 := bytes.Clone(v0)
	k := len(l0) / 2
	v1[l0[k].Offset+l0[k].Size/2] ^= 1
	s := chunk.NewSum()
	s.Write(v1)
	_, l1 := s.Finish()
	p1 := s.Prints()
	if len(l1) != len(l0) || l1[k].Offset != l0[k].Offset || l1[k].Size != l0[k].Size || l1[k].Hash == l0[k].Hash {
		t.Fatal("the edit moved a boundary: pick another byte")
	}
	forged := slices.Clone(p0)
	forged[k] = p1[k] // as if v0's chunk k and v1's had the same Print
	if err := engine.WritePrintedChunkListForTest(a.dir, h0, l0, forged); err != nil {
		t.Fatal(err)
	}
	reopen(t, a, c)
	a.write(t, "big.bin", string(v1))
	a.sync(t)
	if !strings.Contains(a.logs.String(), "delta upload over a cached chunk list refused") {
		t.Fatalf("the delta built on the shared Print was not refused:\n%s", a.logs.String())
	}
	b.sync(t)
	if got := b.read(t, "big.bin"); got != string(v1) {
		t.Fatal("B does not hold the edited content")
	}
	got, gotPrints, err := engine.ReadChunkListForTest(a.dir, hexSum(v1))
	if err != nil || !slices.Equal(got, l1) || !slices.Equal(gotPrints, p1) {
		t.Fatalf("A kept a wrong list of the edited version (%v)", err)
	}
	if _, err := os.Stat(engine.ChunkListFileForTest(a.dir, h0)); err == nil {
		t.Error("the list that led to the refused delta was kept")
	}
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
