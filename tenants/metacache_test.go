package tenants

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// TestSingleNodeSuite runs tests of writes followed by reads again with spaces as a
// single syncd has them (in-process bus: the metadata cache is on), so that every
// read after a replace, delete, move, restore or case rename there would catch a
// stale cached entry.
func TestSingleNodeSuite(t *testing.T) {
	defer func(old bool) { singleByDefault = old }(singleByDefault)
	singleByDefault = true
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"PutRoundTrip", TestPutRoundTrip}, {"Preconditions", TestPreconditions},
		{"QuotaAndLimits", TestQuotaAndLimits}, {"ConcurrentPutsOnePath", TestConcurrentPutsOnePath},
		{"CaseCollisions", TestCaseCollisions}, {"Mkdir", TestMkdir}, {"Delete", TestDelete},
		{"Restore", TestRestore}, {"Move", TestMove}, {"DeleteEventCarriesLastMetadata", TestDeleteEventCarriesLastMetadata},
		{"Recovery", TestRecovery}, {"Watcher", TestWatcher}, {"GroupCommitBatch", TestGroupCommitBatch},
		{"GroupCommitBatchFailure", TestGroupCommitBatchFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t)
			if !singleByDefault {
				t.Fatal("singleByDefault changed")
			}
		})
	}
}

// TestMetaCacheReadAfterWrite: every kind of write is seen by the very next Stat and
// Open, after both were answered from the cache before it.
func TestMetaCacheReadAfterWrite(t *testing.T) {
	e := newSingleEnv(t, Limits{RetainVersions: time.Hour}, Options{})
	ctx := context.Background()
	if !e.reg.inProcess {
		t.Fatal("registry not in single-node mode")
	}
	// warm reads a path twice (the second from the cache) and checks content and hash.
	warm := func(p, want string) {
		t.Helper()
		for i := 0; i < 2; i++ {
			m, err := e.sp.Stat(ctx, p)
			if err != nil || m.Hash != sum([]byte(want)) {
				t.Fatalf("Stat(%s) = %+v, %v; want content %q", p, m, err, want)
			}
			if got := string(e.read(p)); got != want {
				t.Fatalf("Open(%s) = %q, want %q", p, got, want)
			}
		}
	}
	gone := func(p string) {
		t.Helper()
		for i := 0; i < 2; i++ {
			if _, err := e.sp.Stat(ctx, p); protocol.CodeOf(err) != protocol.CodeNotFound {
				t.Fatalf("Stat(%s) after it went: %v", p, err)
			}
			if _, _, err := e.sp.Open(ctx, p); protocol.CodeOf(err) != protocol.CodeNotFound {
				t.Fatalf("Open(%s) after it went: %v", p, err)
			}
		}
	}
	gone("a.txt") // a cached absence
	e.put("a.txt", []byte("one"))
	warm("a.txt", "one")
	e.put("a.txt", []byte("two")) // replace
	warm("a.txt", "two")
	if e.sp.meta.len() == 0 {
		t.Fatal("nothing cached: the test would not test the cache")
	}
	if _, err := e.sp.Delete(ctx, "a.txt", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone("a.txt")
	vs, err := e.sp.Versions(ctx, "a.txt")
	if err != nil || len(vs) == 0 {
		t.Fatalf("versions %+v %v", vs, err)
	}
	if _, err := e.sp.Restore(ctx, "a.txt", vs[0].ID, "", Source{}); err != nil {
		t.Fatal(err)
	}
	warm("a.txt", "two")

	// File move, then a case-only rename: the old name (exact) is gone at once.
	if _, err := e.sp.Move(ctx, "a.txt", "b.txt", "", Source{}); err != nil {
		t.Fatal(err)
	}
	gone("a.txt")
	warm("b.txt", "two")
	if _, err := e.sp.Move(ctx, "b.txt", "B.txt", "", Source{}); err != nil {
		t.Fatal(err)
	}
	gone("b.txt")
	warm("B.txt", "two")

	// Directory move and recursive delete reach every cached path under them.
	e.put("d/x", []byte("x1"))
	e.put("d/sub/y", []byte("y1"))
	warm("d/x", "x1")
	warm("d/sub/y", "y1")
	if _, err := e.sp.Move(ctx, "d", "D2", "", Source{}); err != nil {
		t.Fatal(err)
	}
	gone("d/x")
	gone("d/sub/y")
	warm("D2/x", "x1")
	warm("D2/sub/y", "y1")
	gone("d2/sub/y") // the fold key is cached now, but Stat and Open want the exact name
	if _, err := e.sp.Delete(ctx, "D2", DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	gone("D2/x")
	gone("D2/sub/y")
	// A directory where a file was, and back.
	if _, _, err := e.sp.Mkdir(ctx, "D2", Source{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.sp.Open(ctx, "D2"); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatalf("Open of a directory: %v", err)
	}
	m, err := e.sp.Stat(ctx, "D2")
	if err != nil || !m.IsDirectory {
		t.Fatalf("Stat(D2) = %+v, %v", m, err)
	}
}

// TestMetaCacheRacingWrites: writers replace and delete a few paths while readers read
// them. A reader that starts after a write returned never sees what was there before
// it, and every Open's content matches its metadata. Run with -race.
func TestMetaCacheRacingWrites(t *testing.T) {
	e := newSingleEnv(t, Limits{}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const paths, writers, readers, rounds = 4, 4, 4, 60
	// last[p] is the seq of the last write of p that returned (0: deleted).
	var mu sync.Mutex
	last := map[string]int64{}
	deleted := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				p := fmt.Sprintf("p%d", (w+i)%paths)
				if i%7 == 3 {
					mu.Lock() // deletes of p are serialised with what readers expect
					seq, err := e.sp.Delete(ctx, p, DeleteOptions{})
					if err == nil {
						last[p], deleted[p] = seq, true
					}
					mu.Unlock()
					if err != nil && protocol.CodeOf(err) != protocol.CodeNotFound {
						errs <- err
						return
					}
					continue
				}
				body := []byte(fmt.Sprintf("%s w%d i%d", p, w, i))
				m, _, err := e.sp.Put(ctx, p, bytes.NewReader(body), PutOptions{Size: int64(len(body))})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if m.Seq > last[p] {
					last[p], deleted[p] = m.Seq, false
				}
				mu.Unlock()
			}
		}()
	}
	var rwg sync.WaitGroup
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
				p := fmt.Sprintf("p%d", (r+i)%paths)
				mu.Lock()
				floor, wasDeleted := last[p], deleted[p]
				mu.Unlock()
				if err := checkRead(ctx, e.sp, p, floor, wasDeleted); err != nil {
					errs <- err
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
		t.Fatal(err)
	}
}

// checkRead opens p and checks that what it gets is no older than floor, the seq of
// the last write of p that returned before the read (a delete if wasDeleted), and
// that the content matches the metadata.
// Stat (which runs beside commits) is checked the same way first.
func checkRead(ctx context.Context, sp *Space, p string, floor int64, wasDeleted bool) error {
	check := func(what string, m protocol.Metadata, err error) (bool, error) {
		if protocol.CodeOf(err) == protocol.CodeNotFound {
			if floor > 0 && !wasDeleted {
				// Gone although the last returned write put it there: only a later
				// delete may explain it.
				if _, head := sp.Head(); head <= floor {
					return false, fmt.Errorf("%s %s: not found, but written at seq %d and head is %d", what, p, floor, head)
				}
			}
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if m.Seq < floor {
			return false, fmt.Errorf("%s %s: stale metadata: seq %d, a write at seq %d had returned", what, p, m.Seq, floor)
		}
		return true, nil
	}
	m, err := sp.Stat(ctx, p)
	if _, err := check("Stat", m, err); err != nil {
		return err
	}
	f, m, err := sp.Open(ctx, p)
	found, err := check("Open", m, err)
	if !found || err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	if sum(b) != m.Hash || !strings.HasPrefix(string(b), p+" ") {
		return fmt.Errorf("%s: content %q does not match metadata %+v", p, b, m)
	}
	return nil
}

// TestMetaCacheOffInCluster: with a bus that is not in-process (other nodes commit
// too), reads always go to the index and nothing is cached.
func TestMetaCacheOffInCluster(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	if e.reg.inProcess {
		t.Fatal("test bus is in-process")
	}
	e.put("a", []byte("a"))
	e.read("a")
	e.read("a")
	if n := e.sp.meta.len(); n != 0 {
		t.Fatalf("%d entries cached in cluster mode", n)
	}
}

// TestMetaCacheBounded: the cache of one space stays under its bound.
func TestMetaCacheBounded(t *testing.T) {
	var c metaCache
	_, _, gen := c.get("x")
	for i := 0; i < 3*metaCacheMax; i++ {
		c.fill(fmt.Sprint(i), nil, gen)
	}
	if n := c.len(); n > metaCacheMax || n == 0 {
		t.Fatalf("cache holds %d entries", n)
	}
	// An entry cached before a write stays readable during it (a write forgets the
	// paths it touches before its commit: see TestMetaCacheReadAfterWrite). No fill
	// while a write is in progress, nor for a read that began before it, also with two
	// writes overlapping.
	_, _, gen = c.get("kept")
	c.fill("kept", nil, gen)
	c.begin()
	c.fill("during", nil, gen)
	c.begin()
	c.end()
	_, ok, g := c.get("kept")
	if !ok {
		t.Fatal("an entry cached before a write is not readable during it")
	}
	c.fill("during", nil, g)
	c.end()
	c.fill("before", nil, gen)
	if _, ok, _ := c.get("during"); ok {
		t.Fatal("filled during a write")
	}
	if _, ok, _ := c.get("before"); ok {
		t.Fatal("filled by a read that began before a write")
	}
}

// len returns the number of cached entries.
func (c *metaCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
