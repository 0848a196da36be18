package rootblobs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tenants/blob"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func openT(t testing.TB) (*Store, *Tenant) {
	t.Helper()
	st, err := New(t.TempDir())
	must(t, err)
	c, err := st.Open(blob.Tenant{Name: "t", ID: "id1"})
	must(t, err)
	tn := c.(*Tenant)
	t.Cleanup(func() { tn.Close() })
	return st, tn
}

// upload writes data as the temp file name and publishes it at p in one batch.
func upload(t *testing.T, tn *Tenant, name, p, data, keep string) bool {
	t.Helper()
	tmp, err := tn.CreateTemp(name)
	must(t, err)
	_, err = tmp.Write([]byte(data))
	must(t, err)
	mod := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	got, err := tmp.SetModTime(mod)
	must(t, err)
	if !got.Equal(mod) {
		t.Fatalf("stored mtime %v, want %v", got, mod)
	}
	must(t, tmp.Sync())
	must(t, tmp.Close())
	b := tn.Batch()
	defer b.Close()
	kept, err := b.Place(name, p, "", keep, "", keep == "")
	must(t, err)
	must(t, b.SyncDir(filepath.Dir(p)))
	if kept {
		must(t, b.SyncVersions())
	}
	return kept
}

// read returns a reader of the content an Open returned: read(t)(tn.Open(p, "")).
func read(t *testing.T) func(io.ReadSeekCloser, error) string {
	return func(r io.ReadSeekCloser, err error) string {
		t.Helper()
		must(t, err)
		defer r.Close()
		b, err := io.ReadAll(r)
		must(t, err)
		return string(b)
	}
}

// The download path keeps sendfile: Open hands back an *os.File.
func TestOpenIsOSFile(t *testing.T) {
	_, tn := openT(t)
	upload(t, tn, "up-1", "a.txt", "hello", "")
	f, err := tn.Open("a.txt", "")
	must(t, err)
	defer f.Close()
	if _, ok := f.(*os.File); !ok {
		t.Fatalf("Open returned %T, want *os.File", f)
	}
	if _, err := tn.Open("missing", ""); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(missing) = %v, want ErrNotExist", err)
	}
	must(t, os.Symlink("a.txt", filepath.Join(tn.WatchRoot(), "link")))
	if _, err := tn.Open("link", ""); err == nil {
		t.Fatal("Open followed a symlink")
	}
}

func TestVersionsAndMoves(t *testing.T) {
	_, tn := openT(t)
	upload(t, tn, "up-1", "a.txt", "one", "")
	if !upload(t, tn, "up-2", "a.txt", "two", "v1") {
		t.Fatal("the replaced content was not kept")
	}
	if got := read(t)(tn.OpenVersion("v1", "")); got != "one" {
		t.Fatalf("version v1 = %q", got)
	}
	if _, err := tn.Mkdir("d"); err != nil {
		t.Fatal(err)
	}
	if created, err := tn.Mkdir("d"); err != nil || created {
		t.Fatalf("Mkdir of an existing directory: %v %v", created, err)
	}
	if _, err := tn.Mkdir("a.txt"); !errors.Is(err, blob.ErrNotDir) {
		t.Fatalf("Mkdir over a file = %v, want ErrNotDir", err)
	}
	must(t, tn.Move("a.txt", "d/b.txt", true))
	if got := read(t)(tn.Open("d/b.txt", "")); got != "two" {
		t.Fatalf("moved file = %q", got)
	}
	must(t, tn.KeepVersion("d/b.txt", "", "v2"))
	must(t, tn.SyncVersions())
	if vs, err := tn.Versions(); err != nil || len(vs) != 2 {
		t.Fatalf("versions %v %v", vs, err)
	}
	must(t, tn.RestoreVersion("v1", "", "d/b.txt", true))
	if got := read(t)(tn.Open("d/b.txt", "")); got != "one" {
		t.Fatalf("restored file = %q", got)
	}
	if err := tn.RestoreVersion("v2", "", "d/b.txt", true); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("restore over a file with noReplace = %v, want ErrExist", err)
	}
}

func TestDiskAndHeadMark(t *testing.T) {
	st, tn := openT(t)
	upload(t, tn, "up-1", "a.txt", "abc", "")
	h, fi, err := tn.HashStable("a.txt")
	must(t, err)
	if h != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" || fi.Size() != 3 {
		t.Fatalf("HashStable = %s %d", h, fi.Size())
	}
	names, err := tn.ReadDirNames("")
	must(t, err)
	if len(names) != 1 || names[0] != "a.txt" {
		t.Fatalf("ReadDirNames = %v", names)
	}
	if _, err := tn.ReadDir("a.txt"); !errors.Is(err, blob.ErrNotDir) {
		t.Fatalf("ReadDir of a file = %v, want ErrNotDir", err)
	}
	must(t, tn.WriteHeadMark([]byte("x e 1\n")))
	if b, err := tn.ReadHeadMark(); err != nil || string(b) != "x e 1\n" {
		t.Fatalf("head mark %q %v", b, err)
	}
	if tmps, err := tn.Temps(); err != nil || len(tmps) != 0 {
		t.Fatalf("temps left %v %v", tmps, err)
	}
	tn.Close()
	if !tn.Closed() {
		t.Fatal("not closed")
	}
	must(t, st.Delete(blob.Tenant{Name: "t", ID: "id1"}))
	if _, err := os.Stat(st.tenantDir("t")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("tenant dir after Delete: %v", err)
	}
	must(t, st.Delete(blob.Tenant{Name: "t", ID: "id1"})) // gone already: no error
	if _, err := st.Free(); err != nil {
		t.Fatal(err)
	}
}

// TestCloseRacingUse: a Delete closes a Tenant while uploads still create temp files
// and readers open files (neither holds the space's commit section). Each call works
// or fails; none reads a descriptor's number while Close releases it (go test -race
// reports that read without fdMu), so none can use a number the kernel has given to
// another file meanwhile.
func TestCloseRacingUse(t *testing.T) {
	for round := range 20 {
		_, tn := openT(t)
		upload(t, tn, "first", "f", "x", "")
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if f, err := tn.CreateTemp(fmt.Sprintf("r%d-%d-%d", round, w, i)); err == nil {
						f.Close()
					}
					if r, err := tn.Open("f", ""); err == nil {
						r.Close()
					}
				}
			})
		}
		time.Sleep(time.Millisecond)
		must(t, tn.Close())
		close(stop)
		wg.Wait()
		if !tn.Closed() {
			t.Fatal("Closed() is false after Close")
		}
	}
}
