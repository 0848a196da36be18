package engine

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/syncspace/syncspace/sync/protocol"
)

// BenchmarkApplyFileEvents applies 1000 server events (500 file deletes, 500 file
// moves) to a book that knows 100k files on every side: each event walked all three
// maps to find what lay under its paths, though a file has nothing under it.
func BenchmarkApplyFileEvents(b *testing.B) {
	const n = 100_000
	var evs []protocol.Event
	for i := range 1000 {
		p := fmt.Sprintf("d%d/f%d.txt", i%100, i)
		m := protocol.Metadata{Path: p, Hash: "h", Seq: int64(i + 1)}
		op := protocol.NewOperation(protocol.OpDelete, "", m)
		if i%2 == 1 {
			m.Path = p + ".moved"
			op = protocol.NewOperation(protocol.OpMove, p, m)
		}
		evs = append(evs, protocol.Event{Type: protocol.TypeFileOperation, Seq: int64(i + 1), Operation: op})
	}
	for b.Loop() {
		b.StopTimer()
		bk := newBook(slog.New(slog.NewTextHandler(io.Discard, nil)))
		for i := range n {
			p := fmt.Sprintf("d%d/f%d.txt", i%100, i)
			bk.remoteM[p] = protocol.Metadata{Path: p, Hash: "h"}
			bk.base[p] = baseEntry{Path: p, Hash: "h"}
			bk.local[p] = localEntry{Path: p, Hash: "h"}
		}
		b.StartTimer()
		for _, ev := range evs {
			bk.applyEvent(ev, bk.batchTouched, &bk.batchMoves)
		}
		if len(bk.batchTouched) < 1500 {
			b.Fatalf("touched %d keys", len(bk.batchTouched))
		}
	}
}
