package clientapp

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSlowRemovalOfFolderKeepsServerFiles removes the whole synced folder as a slow
// rm -rf does: its files a few at a time with a pause longer than the debounce after
// each group (a slow disk, a large file's unlink), .syncspace near the end, then the
// folder. The client must stop (vanished folder) with every file still on the server:
// before the delete hold, each group's deletes went to the server while .syncspace was
// still there.
func TestSlowRemovalOfFolderKeepsServerFiles(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a := filepath.Join(t.TempDir(), "folder")
	if err := os.Mkdir(a, 0o755); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 12 {
		n := fmt.Sprintf("d%d/f%02d.txt", i%2, i)
		names = append(names, n)
		writeFile(t, filepath.Join(a, n), "content "+n)
	}
	c := startClient(t, "A", srv.URL, tok, a, "--realtime")
	eventually(t, waitLong, "synced", func() bool {
		b := t.TempDir()
		code, _ := runOnce(t, srv.URL, tok, b)
		return code == 0 && fileIs(filepath.Join(b, names[11]), "content "+names[11])()
	})
	for i, n := range names {
		if err := os.Remove(filepath.Join(a, n)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			time.Sleep(150 * time.Millisecond) // > the 50 ms debounce: a batch goes
		}
	}
	if err := os.RemoveAll(filepath.Join(a, ".syncspace")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(a); err != nil {
		t.Fatal(err)
	}
	code, ok := c.exited(waitLong)
	if !ok || code != 1 || !strings.Contains(c.logs.String(), "vanished") {
		t.Fatalf("client did not stop: %v %d\n%s", ok, code, c.logs.String())
	}
	b := t.TempDir()
	mustOnce(t, srv.URL, tok, b)
	for _, n := range names {
		if !fileIs(filepath.Join(b, n), "content "+n)() {
			t.Errorf("%s deleted on the server by the removal of the whole folder", n)
		}
	}
}

// TestDeletesHeldThenSent: several files deleted at once reach the server once the
// deletions settled (the folder is still there); one file deleted on its own goes at
// once, without the hold.
func TestDeletesHeldThenSent(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	for i := range 4 {
		writeFile(t, filepath.Join(a, fmt.Sprintf("f%d.txt", i)), "x")
	}
	ca := startClient(t, "A", srv.URL, tok, a, "--realtime")
	startClient(t, "B", srv.URL, tok, b, "--realtime")
	for i := range 4 {
		eventually(t, waitLong, "B has the files", fileIs(filepath.Join(b, fmt.Sprintf("f%d.txt", i)), "x"))
	}
	for i := range 3 {
		os.Remove(filepath.Join(a, fmt.Sprintf("f%d.txt", i)))
	}
	for i := range 3 {
		eventually(t, waitLong, "held deletes sent", gone(filepath.Join(b, fmt.Sprintf("f%d.txt", i))))
	}
	if !strings.Contains(ca.logs.String(), "several local deletions") {
		t.Fatal("the deletions were not held")
	}
	time.Sleep(2500 * time.Millisecond) // the settle time passes
	n := strings.Count(ca.logs.String(), "several local deletions")
	os.Remove(filepath.Join(a, "f3.txt"))
	eventually(t, waitLong, "single delete sent", gone(filepath.Join(b, "f3.txt")))
	if strings.Count(ca.logs.String(), "several local deletions") != n {
		t.Fatal("a single deletion was held")
	}
}
