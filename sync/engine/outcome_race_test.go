package engine

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// vanishingRemote lists files that are gone by the time they are fetched: every
// download answers not_found. Only used to inject that timing.
type vanishingRemote struct{ hostileRemote }

func (v *vanishingRemote) Download(ctx context.Context, p string, w io.Writer) (protocol.Metadata, error) {
	return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "gone")
}

// TestParallelDownloadsGoneMeanwhile: several downloads of one pass find their files
// gone on the server (not_found) at once; each asks for the changes feed to be read,
// from its own transfer goroutine. Found by TestConvergence (clientapp) as a data race
// on the pass's outcome; this test fails under -race without the lock.
func TestParallelDownloadsGoneMeanwhile(t *testing.T) {
	h := &vanishingRemote{}
	for _, p := range []string{"a.txt", "b.txt", "c.txt", "d.txt"} {
		h.entries = append(h.entries, protocol.Metadata{Path: p, Hash: sum(p), Size: int64(len(p)), Seq: 1})
	}
	e, err := Open(Options{Root: t.TempDir(), Remote: h, OpenFS: testOpenFS(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.SyncOnce(ctx); err != nil {
		t.Fatalf("SyncOnce: %v", err)
	}
}
