package server

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// TestLockedWriter: lines written by many goroutines into a bytes.Buffer (not safe
// for concurrent use; -race reports it without the lock) arrive whole.
func TestLockedWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &LockedWriter{W: &buf}
	line := strings.Repeat("x", 100) + "\n"
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if n, err := w.Write([]byte(line)); n != len(line) || err != nil {
					t.Errorf("Write = %d, %v", n, err)
				}
			}
		})
	}
	wg.Wait()
	lines := strings.SplitAfter(buf.String(), "\n")
	if len(lines) != 8*200+1 || lines[len(lines)-1] != "" {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines[:len(lines)-1] {
		if l != line {
			t.Fatalf("a line interleaved: %q", l)
		}
	}
}
