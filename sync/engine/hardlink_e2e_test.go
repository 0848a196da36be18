package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// serverHash returns the hash the server lists for the file p ("" if none).
func serverHash(t *testing.T, c *syncclient.Client, p string) string {
	t.Helper()
	h := ""
	err := c.List(context.Background(), func(string, int64) error { return nil }, func(m protocol.Metadata) error {
		if m.Path == p && !m.IsDirectory {
			h = m.Hash
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Two names of one file (hard links) inside DIR: a file written through one of them
// changes the other too, though the watcher reports only the name written through.
// Both are uploaded at once (the other name used to wait for the periodic rescan).
func TestHardLinkTwinEditedThroughOtherName(t *testing.T) {
	c := startSyncd(t)
	s := &side{dir: t.TempDir(), logs: &logBuf{}}
	if err := os.MkdirAll(filepath.Join(s.dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(s.dir, "a.txt"), filepath.Join(s.dir, "sub", "b.txt")
	if err := os.WriteFile(a, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(a, b); err != nil {
		t.Fatal(err)
	}
	runLive(t, c, s)
	for _, p := range []string{"a.txt", "sub/b.txt"} {
		if got := serverHash(t, c, p); got != sum("one") {
			t.Fatalf("%s not synced: %q", p, got)
		}
	}
	for i, via := range []string{b, a} {
		content := []string{"two, written through sub/b.txt", "three, through a.txt"}[i]
		if err := os.WriteFile(via, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for _, p := range []string{"a.txt", "sub/b.txt"} {
			for serverHash(t, c, p) != sum(content) {
				if time.Now().After(deadline) {
					t.Fatalf("written through %s: %s not uploaded", via, p)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}
