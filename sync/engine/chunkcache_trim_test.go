package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
)

// TestChunkCacheConcurrentKeep: transfers keep lists at the same time, so a trim may
// find files removed by another trim between its listing and its stats: it must not
// panic (a keep may fail meanwhile, its temp file trimmed: a list lost is cut again).
func TestChunkCacheConcurrentKeep(t *testing.T) {
	c := newChunkCache(t.TempDir())
	l := chunksOf(t, randBytes(2<<20, 7))
	const workers, each = 32, 30
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs <- fmt.Errorf("keep panicked: %v", r)
				}
			}()
			for i := range each {
				s := sha256.Sum256(fmt.Append(nil, w, "/", i))
				h := hex.EncodeToString(s[:])
				c.put(h, l, nil)
				_ = c.keep(h)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(c.dir)
	if len(ents) > chunkFilesMax+workers {
		t.Fatalf("%d files kept, bound %d", len(ents), chunkFilesMax)
	}
}
