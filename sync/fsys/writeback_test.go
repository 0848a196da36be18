package fsys

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteBehind: the bytes pass through unchanged, and the files of a Dir expose the
// descriptor the write-back needs.
func TestWriteBehind(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := d.OpenFile("big", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.(interface{ Fd() uintptr }); !ok {
		t.Fatal("a Dir's file has no Fd: write-back would never start")
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), (2*WriteBackEvery+12345)/16)
	w := &WriteBehind{File: f}
	for p := want; len(p) > 0; {
		n := min(len(p), 1<<20+7)
		if k, err := w.Write(p[:n]); k != n || err != nil {
			t.Fatalf("Write = %d, %v", k, err)
		}
		p = p[n:]
	}
	if w.done == 0 || w.off != int64(len(want)) {
		t.Fatalf("write-back handed %d of %d bytes", w.done, w.off)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "big"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("content differs (%d bytes, %v)", len(got), err)
	}
}
