package engine

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for a logger used from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWatchBudget: with kqueue's cost (a descriptor per entry of a watched directory,
// forced here on real inotify), the watcher watches directories while their
// descriptors fit the budget, leaves the next one to the periodic rescan with one
// warning, and watches it once a removed watch gave its descriptors back.
func TestWatchBudget(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"a", "b"} {
		for _, f := range []string{"1", "2", "3"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, d, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	w, err := newWatcher(dir, 0, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	w.cost = watchBudget{perEntry: true, budget: 8} // DIR: 1 + 3 entries, a: 1 + 3
	watched := func(rel string) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		_, ok := w.dirs[rel]
		return ok
	}
	for _, rel := range []string{"", "a", "b", "b"} {
		w.add(rel)
	}
	if !watched("") || !watched("a") || watched("b") {
		t.Fatalf("watched DIR %v a %v b %v, want DIR and a only", watched(""), watched("a"), watched("b"))
	}
	if n := strings.Count(logs.String(), "too many files to watch"); n != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", n, logs.String())
	}
	w.forget("a")
	w.add("b")
	if !watched("b") || w.cost.spent != 8 {
		t.Fatalf("after a's watch was removed: b watched %v, %d descriptors counted, want true 8", watched("b"), w.cost.spent)
	}
}
