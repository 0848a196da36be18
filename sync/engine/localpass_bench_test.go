package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
)

// BenchmarkLocalPassBigFolder is one watcher batch of 1000 new files (in 100
// directories) in a folder whose state knows 100k files: the scans of the new names
// plus matching them against the state's keys (the plan is not made: the engine has
// no server listing yet). Before session 25 every path walked every key: ~30 s a
// batch.
func BenchmarkLocalPassBigFolder(b *testing.B) {
	e, err := Open(Options{Root: b.TempDir(), Remote: &hostileRemote{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	const n = 100_000
	for i := range n {
		p := fmt.Sprintf("d%d/f%d.txt", i%100, i)
		e.local[p] = localEntry{Path: p, Size: 1, Hash: "h"}
		e.base[p] = baseEntry{Path: p, Hash: "h"}
	}
	paths := make([]string, 1000)
	for i := range paths {
		paths[i] = fmt.Sprintf("d%d/new%d.txt", i%100, i)
	}
	for b.Loop() {
		if _, err := e.localPass(context.Background(), paths); err != nil {
			b.Fatal(err)
		}
	}
}
