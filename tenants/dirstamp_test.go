package tenants

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// childCounter counts the index's Children queries.
type childCounter struct {
	Index
	n atomic.Int64
}

func (c *childCounter) Children(ctx context.Context, id, dir string) ([]*index.Entry, error) {
	c.n.Add(1)
	return c.Index.Children(ctx, id, dir)
}

// restartCounted simulates a restart (the space's recovery runs the start-up check)
// with the index's Children queries counted.
func (e *env) restartCounted() *childCounter {
	e.t.Helper()
	e.close()
	e.open()
	c := &childCounter{Index: e.reg.index}
	e.reg.index = c
	e.space()
	return c
}

// needStamps skips a test on a platform without inodes and ctimes (no stamps there).
func needStamps(t *testing.T) {
	fi, err := os.Lstat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fsys.StatMark(fi); !ok {
		t.Skip("no inode and ctime here: directories are not stamped")
	}
}

// stampedEnv is an env whose tenant holds a small tree, restarted once so that the
// start-up check stamped every directory.
func stampedEnv(t *testing.T) *env {
	t.Helper()
	needStamps(t)
	e := newEnv(t, Limits{}, Options{})
	for _, p := range []string{"a.txt", "b.txt", "d1/x.txt", "d1/y.txt", "d1/sub/z.txt", "d2/w.txt"} {
		e.put(p, []byte("content of "+p))
	}
	if c := e.restartCounted(); c.n.Load() == 0 {
		t.Fatal("the first check made no Children query")
	}
	return e
}

// diskTree is what the tenant's files/ holds: path → metadata (hash and size of files).
func diskTree(t *testing.T, e *env) map[string]protocol.Metadata {
	t.Helper()
	root := e.filesDir()
	out := map[string]protocol.Metadata{}
	err := filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil || full == root {
			return err
		}
		rel, _ := filepath.Rel(root, full)
		p := filepath.ToSlash(rel)
		if d.IsDir() {
			out[p] = protocol.Metadata{Path: p, IsDirectory: true}
			return nil
		}
		b, err := os.ReadFile(full)
		if err != nil {
			return err
		}
		out[p] = protocol.Metadata{Path: p, Size: int64(len(b)), Hash: sum(b)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameAsDisk checks that the index and the replayed change log both hold what the
// disk holds (kind, size and content).
func sameAsDisk(t *testing.T, e *env) {
	t.Helper()
	all, err := e.sp.Changes(context.Background(), 0, "", protocol.MaxChangesLimit)
	must(t, err)
	disk := diskTree(t, e)
	for name, tree := range map[string]map[string]protocol.Metadata{"index": e.list(), "log": replay(all.Events)} {
		for p, m := range disk {
			g, ok := tree[p]
			if !ok || g.IsDirectory != m.IsDirectory || g.Size != m.Size || g.Hash != m.Hash {
				t.Errorf("%s: %q is %+v (%v), disk has %+v", name, p, g, ok, m)
			}
		}
		for p := range tree {
			if _, ok := disk[p]; !ok {
				t.Errorf("%s has %q, the disk does not", name, p)
			}
		}
	}
}

// TestDirStampSkipsUnchanged: once a check has found a tree equal to the index, the
// next start-up check (after a restart: the stamps are in the index) makes no
// Children query and commits nothing; a commit through syncd only makes its
// directory compared again.
func TestDirStampSkipsUnchanged(t *testing.T) {
	e := stampedEnv(t)
	_, head := e.sp.Head()
	c := e.restartCounted()
	if n := c.n.Load(); n != 0 {
		t.Fatalf("%d Children queries on an unchanged tree", n)
	}
	sp := e.sp
	if got, skipped := sp.start.compared.Load(), sp.start.skipped.Load(); got != 0 || skipped != 4 {
		t.Fatalf("compared %d directories, skipped %d; want 0 and 4 (root, d1, d1/sub, d2)", got, skipped)
	}
	if _, h := sp.Head(); h != head {
		t.Fatalf("head %d after an unchanged check, want %d", h, head)
	}
	// A write through syncd: its directory is compared again (once), nothing is
	// committed by the check.
	e.put("d1/new.txt", []byte("through syncd"))
	_, head = sp.Head()
	c = e.restartCounted()
	if n, got := c.n.Load(), e.sp.start.compared.Load(); n != 1 || got != 1 {
		t.Fatalf("after a write into d1: %d Children queries, %d directories compared; want 1 and 1", n, got)
	}
	if _, h := e.sp.Head(); h != head {
		t.Fatalf("head %d, want %d: the check committed something", h, head)
	}
	if c := e.restartCounted(); c.n.Load() != 0 {
		t.Fatalf("%d Children queries after d1 was stamped again", c.n.Load())
	}
	sameAsDisk(t, e)
}

// TestDirStampFindsChangesWhileDown: every kind of change made by hand while syncd
// was down is found by the start-up check of a stamped tree, with the events a client
// needs, and the tree is stamped again afterwards.
func TestDirStampFindsChangesWhileDown(t *testing.T) {
	type change struct {
		name    string
		do      func(t *testing.T, files string)
		events  int    // events the check commits
		compare string // a directory that must be compared (not skipped)
	}
	path := func(files, p string) string { return filepath.Join(files, filepath.FromSlash(p)) }
	editInPlace := func(p string) func(t *testing.T, files string) {
		return func(t *testing.T, files string) {
			full := path(files, p)
			fi, err := os.Stat(full)
			must(t, err)
			b, err := os.ReadFile(full)
			must(t, err)
			b[0] ^= 0x20 // same size
			f, err := os.OpenFile(full, os.O_WRONLY, 0)
			must(t, err)
			_, err = f.WriteAt(b, 0)
			must(t, err)
			must(t, f.Close())
			must(t, os.Chtimes(full, fi.ModTime(), fi.ModTime())) // same mtime
			if st, err := os.Stat(full); err != nil || !st.ModTime().Equal(fi.ModTime()) || st.Size() != fi.Size() {
				t.Fatalf("size or mtime changed: %v %v", st, err)
			}
		}
	}
	for _, c := range []change{
		{"edit in place, same size and mtime", editInPlace("d1/x.txt"), 1, "d1"},
		{"edit in place deep down", editInPlace("d1/sub/z.txt"), 1, "d1/sub"},
		{"edit in place at the root", editInPlace("a.txt"), 1, ""},
		{"new file", func(t *testing.T, files string) {
			must(t, os.WriteFile(path(files, "d2/new.txt"), []byte("new"), 0o600))
		}, 1, "d2"},
		{"deleted file", func(t *testing.T, files string) {
			must(t, os.Remove(path(files, "d1/y.txt")))
		}, 1, "d1"},
		{"rename", func(t *testing.T, files string) {
			must(t, os.Rename(path(files, "d1/x.txt"), path(files, "d1/renamed.txt")))
		}, 2, "d1"},
		{"rename across directories", func(t *testing.T, files string) {
			must(t, os.Rename(path(files, "d1/sub/z.txt"), path(files, "d2/z.txt")))
		}, 2, "d2"},
		{"new subdirectory", func(t *testing.T, files string) {
			must(t, os.MkdirAll(path(files, "d2/new/deeper"), 0o700))
			must(t, os.WriteFile(path(files, "d2/new/deeper/f.txt"), []byte("f"), 0o600))
		}, 3, "d2"},
		{"chmod", func(t *testing.T, files string) {
			must(t, os.Chmod(path(files, "b.txt"), 0o640))
		}, 0, ""},
		{"touch -d (mtime only)", func(t *testing.T, files string) {
			old := time.Now().Add(-48 * time.Hour)
			must(t, os.Chtimes(path(files, "d2/w.txt"), old, old))
		}, 0, "d2"},
		{"a file replaced by a directory", func(t *testing.T, files string) {
			must(t, os.Remove(path(files, "d2/w.txt")))
			must(t, os.Mkdir(path(files, "d2/w.txt"), 0o700))
			must(t, os.WriteFile(path(files, "d2/w.txt/in.txt"), []byte("in"), 0o600))
		}, 3, "d2"},
		{"a directory replaced by a file", func(t *testing.T, files string) {
			must(t, os.RemoveAll(path(files, "d1/sub")))
			must(t, os.WriteFile(path(files, "d1/sub"), []byte("now a file"), 0o600))
		}, 2, "d1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := stampedEnv(t)
			_, head := e.sp.Head()
			e.close()
			c.do(t, e.filesDir())
			e.open()
			e.space()
			if _, h := e.sp.Head(); h != head+int64(c.events) {
				t.Errorf("the check committed %d events, want %d", h-head, c.events)
			}
			if e.sp.start.compared.Load() == 0 {
				t.Errorf("no directory compared")
			}
			sameAsDisk(t, e)
			b, err := e.reg.index.DirStamp(context.Background(), e.sp.id, c.compare)
			must(t, err)
			prev := decodeStamp(b)
			if prev == nil || prev.head != head { // the head when the check began
				t.Errorf("directory %q not stamped again by the check: %+v", c.compare, prev)
			}
			// The next start finds the tree unchanged.
			if n := e.restartCounted().n.Load(); n != 0 {
				t.Errorf("%d Children queries at the next start", n)
			}
			if _, h := e.sp.Head(); h != head+int64(c.events) {
				t.Errorf("the next check committed %d more events", h-head-int64(c.events))
			}
		})
	}
}

// TestDirStampForeignOrCorrupt: stamps that are garbage, another directory's, or
// claim a future time or seq cost a full comparison and nothing else.
func TestDirStampForeignOrCorrupt(t *testing.T) {
	e := stampedEnv(t)
	ctx := context.Background()
	id := e.sp.id
	stampOf := func(dir string) []byte {
		b, err := e.reg.index.DirStamp(ctx, id, dir)
		must(t, err)
		if decodeStamp(b) == nil {
			t.Fatalf("%q has no stamp", dir)
		}
		return b
	}
	d1, d2 := stampOf("d1"), stampOf("d2")
	future := decodeStamp(stampOf("d1/sub"))
	future.head, future.taken = 1<<62, time.Now().Add(time.Hour).UnixNano()
	wrongLen := append(append([]byte(nil), stampOf("")...), 0)
	must(t, e.reg.index.PutDirStamps(ctx, id, []index.DirStamp{
		{Dir: "", Stamp: wrongLen},
		{Dir: "d1", Stamp: d2},
		{Dir: "d2", Stamp: []byte("garbage")},
		{Dir: "d1/sub", Stamp: future.encode()},
		{Dir: "d3", Stamp: d1}, // a directory that does not exist
	}))
	_, head := e.sp.Head()
	e.close()
	must(t, os.WriteFile(filepath.Join(e.filesDir(), "d1", "x.txt"), []byte("changed by hand"), 0o600))
	must(t, os.WriteFile(filepath.Join(e.filesDir(), "d2", "added.txt"), []byte("added"), 0o600))
	c := e.restartCounted()
	if n, got := c.n.Load(), e.sp.start.compared.Load(); got != 4 || n != 6 {
		t.Errorf("%d directories compared with %d Children queries, want 4 (all) with 6 (d1 and d2 read again after their commits)", got, n)
	}
	if _, h := e.sp.Head(); h != head+2 {
		t.Errorf("%d events, want 2", h-head)
	}
	sameAsDisk(t, e)
	if n := e.restartCounted().n.Load(); n != 0 {
		t.Errorf("%d Children queries once stamped again", n)
	}
}

// TestDirStampWatcherCheck: a server's start-up check (the watcher's first full
// scan) skips the stamped directories too, finds what changed while syncd was down,
// and leaves every directory watched, skipped ones included.
func TestDirStampWatcherCheck(t *testing.T) {
	e := stampedEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, head := e.sp.Head()
	e.close()
	must(t, os.WriteFile(filepath.Join(e.filesDir(), "d2", "while-down.txt"), []byte("while down"), 0o600))
	e.open()
	c := &childCounter{Index: e.reg.index}
	e.reg.index = c
	must(t, e.reg.StartWatchers(ctx))
	sp := e.space()
	select {
	case <-sp.start.done:
	case <-time.After(20 * time.Second):
		t.Fatal("start-up check never done")
	}
	if n, got := c.n.Load(), sp.start.compared.Load(); got != 1 || n != 2 {
		t.Fatalf("%d directories compared with %d Children queries, want d2 alone (2: again after its commit)", got, n)
	}
	if _, h := sp.Head(); h != head+1 {
		t.Fatalf("%d events, want 1", h-head)
	}
	// d1/sub was skipped: it is watched all the same.
	must(t, os.WriteFile(filepath.Join(e.filesDir(), "d1", "sub", "after.txt"), []byte("after"), 0o600))
	waitFor(t, 10*time.Second, "the watcher indexes a file added to a skipped directory", func() bool {
		m, err := sp.Stat(ctx, "d1/sub/after.txt")
		return err == nil && m.Hash == sum([]byte("after"))
	})
	sameAsDisk(t, e)
}
