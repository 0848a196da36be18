package engine

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLocalFileMoves mirrors 200 server moves of files by local renames in a
// folder whose state knows 100k files: each move walked the whole base and stat
// cache to carry what lay under the moved name, though a file has nothing under it.
func BenchmarkLocalFileMoves(b *testing.B) {
	dir := b.TempDir()
	e, err := Open(Options{Root: dir, Remote: &hostileRemote{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	const n, moves = 100_000, 200
	for i := range n {
		p := fmt.Sprintf("d%d/f%d.txt", i%100, i)
		e.local[p] = localEntry{Path: p, Size: 1, Hash: "h"}
		e.base[p] = baseEntry{Path: p, Hash: "h"}
	}
	var mvs []pendingMove
	for i := range moves {
		p := fmt.Sprintf("m%d.txt", i)
		if err := os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
		le, err := e.disk.statLocal(p, nil)
		if err != nil {
			b.Fatal(err)
		}
		e.local[p], e.base[p] = *le, baseEntry{Path: p, Hash: le.Hash}
		mvs = append(mvs, pendingMove{fromKey: p, fromPath: p, toKey: p + ".b", toPath: p + ".b"})
	}
	for b.Loop() {
		for i, mv := range mvs {
			if !e.disk.tryLocalMove(mv) {
				b.Fatalf("move %d not done", i)
			}
			mvs[i] = pendingMove{fromKey: mv.toKey, fromPath: mv.toPath, toKey: mv.fromKey, toPath: mv.fromPath}
		}
	}
}
