package tenants

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// tripwire is an upload body that fails the test if it is read: the check before
// the body must refuse the upload first.
type tripwire struct{ t *testing.T }

func (r tripwire) Read([]byte) (int, error) {
	r.t.Error("the body was read: the check before it passed on a stale view")
	return 0, errors.New("tripwire")
}

// TestPreBodyCheckFromCache: the check before an upload's body reads ancestors from
// the metadata cache (lookupManyCached). After every kind of write to an ancestor it
// must see the write: an upload under a path that became a file, or into a path that
// became a directory, is refused before its body is read.
func TestPreBodyCheckFromCache(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	ctx := context.Background()
	refused := func(p string, o PutOptions, want protocol.Code) {
		t.Helper()
		o.Size = 4
		_, _, err := e.sp.Put(ctx, p, tripwire{t}, o)
		if protocol.CodeOf(err) != want {
			t.Fatalf("Put(%s) = %v, want %s", p, err, want)
		}
	}
	// Uploads into d fill the cache with d's entry (a directory).
	e.put("d/a", []byte("a"))
	e.put("d/b", []byte("b"))
	if e.sp.meta.len() == 0 {
		t.Fatal("nothing cached: the test would not test the cache")
	}
	// d replaced by a file: d/c has a parent that is a file.
	if _, err := e.sp.Delete(ctx, "d", DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	e.put("d", []byte("now a file"))
	refused("d/c", PutOptions{}, protocol.CodeConflict)
	// d moved away and a file moved into its place.
	e.put("e/x", []byte("x"))
	e.put("e/y", []byte("y"))
	if _, err := e.sp.Delete(ctx, "d", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.put("f", []byte("f"))
	if _, err := e.sp.Move(ctx, "e", "g", "", Source{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sp.Move(ctx, "f", "e", "", Source{}); err != nil {
		t.Fatal(err)
	}
	refused("e/z", PutOptions{}, protocol.CodeConflict)
	// A case-only rename of the ancestor: the old spelling is now another case.
	e.put("h/x", []byte("x"))
	e.put("h/y", []byte("y"))
	if _, err := e.sp.Move(ctx, "h", "H", "", Source{}); err != nil {
		t.Fatal(err)
	}
	refused("h/z", PutOptions{}, protocol.CodeConflict)
	// The target itself: If-None-Match on a file written since.
	e.put("k/one", []byte("1"))
	refused("k/one", PutOptions{IfNoneMatch: true}, protocol.CodePreconditionFailed)
	e.put("k/two", []byte("2"))
	refused("k/two", PutOptions{IfMatch: sum([]byte("other"))}, protocol.CodePreconditionFailed)
}

// whole reports whether the names of the directory dir are known (dirNames).
func (c *metaCache) whole(dir string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.dirs.complete[pathrule.FoldKey(dir)]
	return ok
}

// TestPreBodyCheckDirNames: once a directory's names are loaded (after a few uploads
// of new files into it), a new name is answered without the index, and every kind of
// write that creates a name in it must be seen by the check before the body: a file
// written, a parent made by an upload below it, a directory made, a file and a
// directory moved in, a file placed on the disk and indexed, a directory moved onto
// a path whose names were known; in the root too.
func TestPreBodyCheckDirNames(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	ctx := context.Background()
	refused := func(p string, o PutOptions, want protocol.Code) {
		t.Helper()
		o.Size = 4
		_, _, err := e.sp.Put(ctx, p, tripwire{t}, o)
		if protocol.CodeOf(err) != want {
			t.Fatalf("Put(%s) = %v, want %s", p, err, want)
		}
	}
	loads := 0
	load := func(dir string) {
		t.Helper()
		for i := 0; i <= dirNamesAfter; i++ { // the first may make dir
			loads++
			e.put(path.Join(dir, fmt.Sprintf("load%d", loads)), []byte("x"))
		}
		if !e.sp.meta.whole(dir) {
			t.Fatalf("the names of %q were not loaded after %d new files", dir, dirNamesAfter)
		}
	}
	absent := func(dir, p string) bool {
		return e.sp.meta.absent(pathrule.FoldKey(dir), pathrule.FoldKey(p))
	}
	e.put("d/before", []byte("b"))
	load("d")
	if !absent("d", "d/never") || absent("d", "d/before") || absent("d", "d/LOAD1") {
		t.Fatal("the loaded names of d do not match its entries")
	}
	e.put("d/new", []byte("n"))
	refused("d/new", PutOptions{IfNoneMatch: true}, protocol.CodePreconditionFailed)
	refused("d/NEW", PutOptions{}, protocol.CodeConflict)
	e.put("d/p/q", []byte("q"))
	refused("d/p", PutOptions{}, protocol.CodeConflict)
	if _, _, err := e.sp.Mkdir(ctx, "d/sub", Source{}); err != nil {
		t.Fatal(err)
	}
	refused("d/sub", PutOptions{}, protocol.CodeConflict)
	e.put("x", []byte("x"))
	if _, err := e.sp.Move(ctx, "x", "d/moved", "", Source{}); err != nil {
		t.Fatal(err)
	}
	refused("d/moved", PutOptions{IfNoneMatch: true}, protocol.CodePreconditionFailed)
	e.put("m/c", []byte("c"))
	if _, err := e.sp.Move(ctx, "m", "d/m", "", Source{}); err != nil {
		t.Fatal(err)
	}
	refused("d/m", PutOptions{}, protocol.CodeConflict)
	must(t, os.WriteFile(filepath.Join(e.filesDir(), "d", "placed"), []byte("by hand"), 0o600))
	if _, _, err := e.sp.rc.reconcileName(ctx, "d/placed", false); err != nil {
		t.Fatal(err)
	}
	refused("d/placed", PutOptions{IfNoneMatch: true}, protocol.CodePreconditionFailed)

	// A directory whose names were known, removed, and another one moved onto its path.
	load("d/g")
	if _, err := e.sp.Delete(ctx, "d/g", DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	e.put("n/c", []byte("c"))
	if _, err := e.sp.Move(ctx, "n", "d/g", "", Source{}); err != nil {
		t.Fatal(err)
	}
	e.put("d/g/other", []byte("o")) // d/g in the entry cache again
	refused("d/g/c", PutOptions{IfNoneMatch: true}, protocol.CodePreconditionFailed)
	// d moved away and back: its names are loaded again, with what it holds.
	if _, err := e.sp.Move(ctx, "d", "d2", "", Source{}); err != nil {
		t.Fatal(err)
	}
	e.put("d/fresh", []byte("f"))
	if _, err := e.sp.Delete(ctx, "d", DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sp.Move(ctx, "d2", "d", "", Source{}); err != nil {
		t.Fatal(err)
	}
	refused("d/new", PutOptions{IfNoneMatch: true}, protocol.CodePreconditionFailed)
	load("d")
	refused("d/before", PutOptions{IfNoneMatch: true}, protocol.CodePreconditionFailed)

	// The root.
	load("")
	e.put("rootfile", []byte("r"))
	refused("rootfile", PutOptions{IfNoneMatch: true}, protocol.CodePreconditionFailed)
	refused("ROOTFILE", PutOptions{}, protocol.CodeConflict)
	if !absent("", "nothing") {
		t.Fatal("a new name in the root was not known absent")
	}
}

// TestDirNamesRacingWrites: writers upload new files into a directory whose names
// keep being dropped and loaded again (the loads run beside the writes), while
// readers upload again, with If-None-Match: *, a name whose upload has returned: the
// check before the body must refuse every one of them (under -race: the names are
// read and written under the cache's lock).
func TestDirNamesRacingWrites(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const writers, readers, rounds = 4, 3, 40
	e.put("r/first", []byte("f"))
	e.put("r/second", []byte("s")) // r in the entry cache: the names alone answer
	var mu sync.Mutex
	var written []string
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers+1)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				p := fmt.Sprintf("r/w%d-%d", w, i)
				body := []byte(p)
				if _, _, err := e.sp.Put(ctx, p, bytes.NewReader(body), PutOptions{Size: int64(len(body))}); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				written = append(written, p)
				mu.Unlock()
			}
		}()
	}
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() { // drops the names now and then: uploads load them again
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(40 * time.Millisecond):
				c := &e.sp.meta
				c.mu.Lock()
				c.dropDirs("")
				c.mu.Unlock()
			}
		}
	}()
	for r := 0; r < readers; r++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				var p string
				if len(written) > 0 {
					p = written[(i*7+r)%len(written)]
				}
				mu.Unlock()
				if p == "" {
					time.Sleep(time.Millisecond)
					continue
				}
				_, _, err := e.sp.Put(ctx, p, tripwire{t}, PutOptions{Size: 4, IfNoneMatch: true})
				if protocol.CodeOf(err) != protocol.CodePreconditionFailed {
					errs <- fmt.Errorf("Put(%s, If-None-Match: *) after its upload returned = %v", p, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !e.sp.meta.whole("r") {
		for i := 0; i <= dirNamesAfter; i++ {
			e.put(fmt.Sprintf("r/last%d", i), []byte("l"))
		}
	}
	if !e.sp.meta.whole("r") {
		t.Fatal("the names of r were never loaded: the test would not test them")
	}
}

// TestSectionLookupOneCreator: many uploads of the same new name with If-None-Match: *
// race into a directory whose names are known, in the same group commit or in
// successive ones. The commit section answers "absent" from the names and the entry
// cache instead of the index: exactly one upload per name may create it, every other
// one is precondition_failed, and the index ends with each name once.
func TestSectionLookupOneCreator(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	ctx := context.Background()
	for i := 0; i <= dirNamesAfter+1; i++ {
		e.put(fmt.Sprintf("d/seed%d", i), []byte("s"))
	}
	if !e.sp.meta.whole("d") {
		t.Fatal("the names of d are not loaded: the test would not test them")
	}
	const names, racers = 30, 6
	for n := 0; n < names; n++ {
		p := fmt.Sprintf("d/race%02d", n)
		var created atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, racers)
		for r := 0; r < racers; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := []byte(fmt.Sprintf("racer %d", r))
				_, _, err := e.sp.Put(ctx, p, bytes.NewReader(body), PutOptions{Size: int64(len(body)), IfNoneMatch: true})
				switch {
				case err == nil:
					created.Add(1)
				case protocol.CodeOf(err) != protocol.CodePreconditionFailed:
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if c := created.Load(); c != 1 {
			t.Fatalf("%s created by %d uploads with If-None-Match: *", p, c)
		}
	}
	if !e.sp.meta.whole("d") {
		t.Fatal("the names of d were dropped during the test")
	}
	n := 0
	for p := range e.list() {
		if strings.HasPrefix(p, "d/race") {
			n++
		}
	}
	if n != names {
		t.Fatalf("%d race files listed, want %d", n, names)
	}
}
