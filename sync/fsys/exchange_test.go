package fsys

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func writeAll(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Exchange swaps two files in one directory and across directories; a missing name
// is fs.ErrNotExist and changes nothing. On Linux and macOS it must be supported on
// the test's file system.
func TestExchange(t *testing.T) {
	dir := t.TempDir()
	writeAll(t, dir, map[string]string{"a": "A", "b": "B", "sub/c": "C"})
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.Exchange("a", "b")
	if errors.Is(err, errors.ErrUnsupported) {
		if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
			t.Fatalf("Exchange unsupported on %s: %v", runtime.GOOS, err)
		}
		t.Skip("no exchange on this platform")
	}
	if err != nil {
		t.Fatal(err)
	}
	if readString(t, d, "a") != "B" || readString(t, d, "b") != "A" {
		t.Fatal("not swapped")
	}
	if err := d.Exchange("a", "sub/c"); err != nil {
		t.Fatal(err)
	}
	if readString(t, d, "a") != "C" || readString(t, d, "sub/c") != "B" {
		t.Fatal("not swapped across directories")
	}
	if err := d.Exchange("a", "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("exchange with a missing name: %v", err)
	}
	if readString(t, d, "a") != "C" {
		t.Fatal("a failed exchange changed a")
	}
}

// Link gives a file a second name that sees its writes; on the fake, names resolve
// under folding, an existing name is fs.ErrExist and Windows' name rules hold; the
// fake has no Exchange.
func TestLink(t *testing.T) {
	dir := t.TempDir()
	writeAll(t, dir, map[string]string{"Doc.txt": "one"})
	d, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Link("Doc.txt", "second"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Doc.txt"), []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if readString(t, d, "second") != "two" {
		t.Fatal("the link does not see the write")
	}
	f, err := NewFake(dir, FakeOptions{CaseInsensitive: true, WindowsNames: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Link("DOC.TXT", "third"); err != nil {
		t.Fatal(err)
	}
	if readString(t, f, "Third") != "two" {
		t.Fatal("fake link")
	}
	if err := f.Link("doc.txt", "SECOND"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("link onto an existing name (other case): %v", err)
	}
	if err := f.Link("doc.txt", "aux.txt"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("link to a reserved name: %v", err)
	}
	if err := f.Link("nothing", "x"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("link of a missing name: %v", err)
	}
	if err := f.Exchange("doc.txt", "second"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("fake Exchange: %v", err)
	}
}
