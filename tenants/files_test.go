package tenants

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// filesEntry is one file Files.Each delivered.
type filesEntry struct {
	m    protocol.Metadata
	body string
}

// eachFile runs Files.Each over dir and returns what it delivered, checking that
// every body agrees with its metadata (size and SHA-256): a body newer or older than
// its header is the failure this guards against. between runs after each file.
func (e *env) eachFile(dir string, between func(i int, m protocol.Metadata)) []filesEntry {
	e.t.Helper()
	var out []filesEntry
	err := NewFiles(e.sp).Each(context.Background(), dir, nil, func(string, int64) error { return nil },
		func(m protocol.Metadata, r io.Reader) error {
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			if int64(len(b)) != m.Size || sum(b) != m.Hash {
				e.t.Errorf("%s: body %q does not match its metadata (size %d, hash %.8s)", m.Path, b, m.Size, m.Hash)
			}
			out = append(out, filesEntry{m, string(b)})
			if between != nil {
				between(len(out)-1, m)
			}
			return nil
		})
	if err != nil {
		e.t.Fatalf("Files.Each(%q): %v", dir, err)
	}
	return out
}

// TestFilesEachMatchesList: with nothing changing, Files.Each delivers exactly the
// files of List, with the same metadata, and their content.
func TestFilesEachMatchesList(t *testing.T) {
	smallPages(t, 3)
	for _, single := range []bool{true, false} {
		t.Run(fmt.Sprintf("single=%v", single), func(t *testing.T) {
			e := newEnvOf(t, Limits{}, Options{}, single)
			for i := range 10 {
				e.put(fmt.Sprintf("d%d/f%02d", i%3, i), []byte(strings.Repeat("x", i)+fmt.Sprint(i)))
			}
			// Neighbours of d1 on both sides of its key range ("d1/" to "d10").
			e.put("d1-x/f", []byte("beside d1"))
			e.put("d10/f", []byte("beside d1 too"))
			if _, _, err := e.sp.Mkdir(context.Background(), "empty/dir", Source{}); err != nil {
				t.Fatal(err)
			}
			listed, _ := e.collect("", true, nil)
			var want []protocol.Metadata
			for _, m := range listed {
				if !m.IsDirectory {
					want = append(want, m)
				}
			}
			var got []protocol.Metadata
			for _, f := range e.eachFile("", nil) {
				got = append(got, f.m)
			}
			sameList(t, got, want)
			// Three files in pages of three: the second page starts after the last.
			var d1 []string
			for _, f := range e.eachFile("d1", nil) {
				d1 = append(d1, f.m.Path)
			}
			if strings.Join(d1, " ") != "d1/f01 d1/f04 d1/f07" {
				t.Errorf("d1: %v", d1)
			}
		})
	}
}

// TestFilesEachRacingWrites: writes that land while the files are being delivered
// (replace with another size, replace with the same size, delete, replace behind)
// never put a new body under a listed header: every file delivered after a write
// began is sent as it is then, with its metadata then, and a deleted file is skipped.
func TestFilesEachRacingWrites(t *testing.T) {
	smallPages(t, 2)
	for _, single := range []bool{true, false} {
		t.Run(fmt.Sprintf("single=%v", single), func(t *testing.T) {
			e := newEnvOf(t, Limits{}, Options{}, single)
			ctx := context.Background()
			for i := range 10 {
				e.put(fmt.Sprintf("f%02d", i), []byte(fmt.Sprintf("old %d", i)))
			}
			got := e.eachFile("", func(i int, m protocol.Metadata) {
				if i != 1 {
					return
				}
				e.put("f00", []byte("new 0, behind"))
				e.put("f05", []byte("new 5, longer than before"))
				e.put("f06", []byte("NEW 6")) // same size as "old 6"
				if _, err := e.sp.Delete(ctx, "f07", DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			})
			bodies := map[string]string{}
			for _, f := range got {
				bodies[f.m.Path] = f.body
			}
			want := map[string]string{"f00": "old 0", "f01": "old 1", "f02": "old 2", "f05": "new 5, longer than before",
				"f06": "NEW 6", "f08": "old 8", "f09": "old 9"}
			for p, b := range want {
				if bodies[p] != b {
					t.Errorf("%s: got %q, want %q", p, bodies[p], b)
				}
			}
			if _, ok := bodies["f07"]; ok {
				t.Error("f07 deleted during the listing but delivered")
			}
		})
	}
}

// TestFilesEachConcurrentWriters: writers replace files without pause while Files.Each
// runs again and again; every body delivered matches its header (checked by
// eachFile), whatever the interleaving.
func TestFilesEachConcurrentWriters(t *testing.T) {
	smallPages(t, 4)
	e := newSingleEnv(t, Limits{}, Options{})
	ctx := context.Background()
	const n = 24
	for i := range n {
		e.put(fmt.Sprintf("f%02d", i), []byte(fmt.Sprintf("v0 of %d", i)))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 1; !stop.Load(); v++ {
				p := fmt.Sprintf("f%02d", (v*7+w)%n)
				body := fmt.Sprintf("v%d by %d of %s%s", v, w, p, strings.Repeat("!", v%5))
				if _, _, err := e.sp.Put(ctx, p, strings.NewReader(body), PutOptions{Size: int64(len(body))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(time.Second)
	for rounds := 0; rounds < 5 || time.Now().Before(deadline); rounds++ {
		if got := e.eachFile("", nil); len(got) != n {
			t.Errorf("round %d: %d files, want %d", rounds, len(got), n)
		}
	}
	stop.Store(true)
	wg.Wait()
}
