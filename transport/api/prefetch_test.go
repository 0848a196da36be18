package api

import (
	"bytes"
	"io"
	"runtime"
	"testing"
)

// TestPrefetchGrowsWithTheBody: a delta body is read whole before the ops are decoded,
// but its buffer grows with the bytes that arrive, not with the Content-Length the
// client declared. Before, the first Read allocated the declared length (up to 4 MiB)
// at once: every connection of a writer that declares 4 MiB and sends a few bytes
// pinned 4 MiB until the body-rate floor cut it.
func TestPrefetchGrowsWithTheBody(t *testing.T) {
	body := []byte("C\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01E")
	for _, declared := range []int64{int64(len(body)), prefetchMax} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		p := &prefetched{r: bytes.NewReader(body), n: declared}
		got, err := io.ReadAll(p)
		runtime.ReadMemStats(&after)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("declared %d: read %q, %v", declared, got, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<10 {
			t.Fatalf("declared %d, sent %d: %d bytes allocated", declared, len(body), alloc)
		}
	}
	// A body longer than declared is cut at the declared length, as before.
	p := &prefetched{r: bytes.NewReader(body), n: 5}
	if got, err := io.ReadAll(p); err != nil || !bytes.Equal(got, body[:5]) {
		t.Fatalf("over-long body: %q, %v", got, err)
	}
	// A read error is the body's error.
	p = &prefetched{r: io.MultiReader(bytes.NewReader(body[:3]), errReader{}), n: 100}
	if _, err := io.ReadAll(p); err != errBody {
		t.Fatalf("failing body: %v", err)
	}
}

var errBody = io.ErrClosedPipe

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBody }
