package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/protocol"
)

// syncCountFS is the real folder with its flushes counted; onOpen (when set) runs
// before each OpenFile.
type syncCountFS struct {
	fsys.FS
	syncs  atomic.Int32
	onOpen func(name string)
}

func (f *syncCountFS) CanSyncAll() bool { return true }

func (f *syncCountFS) SyncAll() error {
	f.syncs.Add(1)
	return f.FS.SyncAll()
}

func (f *syncCountFS) OpenFile(name string, flag int, perm os.FileMode) (fsys.File, error) {
	if f.onOpen != nil {
		f.onOpen(name)
	}
	return f.FS.OpenFile(name, flag, perm)
}

// writesRemote is a treeRemote that records the uploads and deletes it is asked for
// (and refuses them, read only).
type writesRemote struct {
	*treeRemote
	mu      sync.Mutex
	written []string
}

func (r *writesRemote) Upload(ctx context.Context, p string, body io.Reader, size int64, o UploadOptions) (protocol.Metadata, bool, error) {
	r.note("upload " + p)
	return r.treeRemote.Upload(ctx, p, body, size, o)
}

func (r *writesRemote) Delete(ctx context.Context, p string, o DeleteOptions) (int64, error) {
	r.note("delete " + p)
	return r.treeRemote.Delete(ctx, p, o)
}

func (r *writesRemote) note(s string) {
	r.mu.Lock()
	r.written = append(r.written, s)
	r.mu.Unlock()
}

func (r *writesRemote) writes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]string(nil), r.written...)
	sort.Strings(out)
	return out
}

// withCacheID makes the engine see the page cache id (ok false: none) until the
// test ends.
func withCacheID(t *testing.T, id *string) {
	t.Helper()
	old := cacheID
	cacheID = func(string) (string, bool) { return *id, *id != "" }
	t.Cleanup(func() { cacheID = old })
}

// openCounted opens an engine on dir against r through a syncCountFS.
func openCounted(t *testing.T, dir string, r Remote) (*Engine, *syncCountFS) {
	t.Helper()
	cfs := &syncCountFS{}
	e, err := Open(Options{Root: dir, Remote: r, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OpenFS: func(abs string) (fsys.FS, error) {
			root, err := fsys.OpenDir(abs)
			cfs.FS = root
			return cfs, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	return e, cfs
}

// stateOnDisk reads the state file as the next start would.
func stateOnDisk(t *testing.T, dir string) *persisted {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, stateDirName, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := decodeState(f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func syncOnce(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.SyncOnce(ctx); err != nil {
		t.Fatalf("SyncOnce: %v", err)
	}
}

// markedFirstSync runs SyncOnce's first sync of files into a new folder under page
// cache "A" and returns the folder, closed, with its state marked.
func markedFirstSync(t *testing.T, files map[string]string) (string, *writesRemote) {
	t.Helper()
	tree, content := treeOf(files)
	r := &writesRemote{treeRemote: &treeRemote{hostileRemote: &hostileRemote{entries: tree, content: content}, tree: tree}}
	dir := filepath.Join(t.TempDir(), "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e, cfs := openCounted(t, dir, r)
	syncOnce(t, e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if n := cfs.syncs.Load(); n != 0 {
		t.Fatalf("%d flushes of the file system in a first sync whose flush is deferred", n)
	}
	p := stateOnDisk(t, dir)
	if p.Version != markedStateVersion || p.Unflushed == nil || p.Unflushed.Cache != "A" || len(p.Base) != len(tree) {
		t.Fatalf("state after the first sync: version %d, mark %+v, %d base entries (want %d)", p.Version, p.Unflushed, len(p.Base), len(tree))
	}
	if got := folderFiles(t, dir); len(got) != len(tree) {
		t.Fatalf("folder holds %v", got)
	}
	return dir, r
}

// TestDeferredFlushSameCache: SyncOnce's first sync into an empty folder saves its
// state without a flush, marked; the next start under the same page cache trusts
// every entry (no rehash, nothing transferred) and saves the state flushed, unmarked,
// before it does anything else.
func TestDeferredFlushSameCache(t *testing.T) {
	id := "A"
	withCacheID(t, &id)
	files := map[string]string{"d/1": "one", "d/2": "two", "e/3": "three"}
	dir, r := markedFirstSync(t, files)
	e, cfs := openCounted(t, dir, r)
	defer e.Close()
	if cfs.syncs.Load() != 1 {
		t.Fatalf("%d flushes at the start after a marked state, want 1 (before its save)", cfs.syncs.Load())
	}
	if p := stateOnDisk(t, dir); p.Version != stateVersion || p.Unflushed != nil || len(p.Base) != 5 {
		t.Fatalf("state after the start: version %d, mark %+v, %d base entries", p.Version, p.Unflushed, len(p.Base))
	}
	syncOnce(t, e)
	if w := r.writes(); len(w) != 0 {
		t.Fatalf("server asked for %v", w)
	}
}

// TestDeferredFlushAfterCrash: the state was saved marked, then the machine
// crashed (another page cache at the next start): a file cut to nothing, one whose
// blocks read as zeros, one whose rename was lost and a directory lost with its file
// are fetched again and never uploaded nor deleted on the server (the cut ones are
// set aside in the state directory); a file the user edited after the mark is
// uploaded; an intact one stays synced.
func TestDeferredFlushAfterCrash(t *testing.T) {
	id := "A"
	withCacheID(t, &id)
	files := map[string]string{
		"d/cut": "content cut by the crash", "d/zeros": "blocks never written",
		"d/lost": "rename never on the disk", "d/edited": "synced, then edited",
		"d/intact": "reached the disk", "gone/f": "directory lost",
	}
	dir, r := markedFirstSync(t, files)
	mtime := time.Unix(1_700_000_000, 0) // the server's, which the write set
	at := func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Truncate(at("d/cut"), 0))
	must(os.Chtimes(at("d/cut"), mtime, mtime))
	must(os.WriteFile(at("d/zeros"), make([]byte, len(files["d/zeros"])), 0o644))
	must(os.Chtimes(at("d/zeros"), mtime, mtime))
	must(os.Remove(at("d/lost")))
	must(os.RemoveAll(at("gone")))
	time.Sleep(10 * time.Millisecond)
	must(os.WriteFile(at("d/edited"), []byte("the user's new text"), 0o644))

	id = "B" // rebooted
	e, cfs := openCounted(t, dir, r)
	defer e.Close()
	if cfs.syncs.Load() != 1 {
		t.Fatalf("%d flushes at the start, want 1", cfs.syncs.Load())
	}
	p := stateOnDisk(t, dir)
	if p.Unflushed != nil || p.Version != stateVersion {
		t.Fatalf("state after the start still marked: %+v", p.Unflushed)
	}
	for _, k := range []string{"d/cut", "d/zeros", "d/lost", "gone", "gone/f"} {
		if _, ok := p.Base[k]; ok {
			t.Errorf("base still vouches for %s after the crash", k)
		}
	}
	for _, k := range []string{"d", "d/edited", "d/intact"} {
		if _, ok := p.Base[k]; !ok {
			t.Errorf("base lost %s", k)
		}
	}
	syncOnce(t, e)
	if w := r.writes(); len(w) != 1 || w[0] != "upload d/edited" {
		t.Fatalf("server asked for %v, want only the upload of d/edited", w)
	}
	got := folderFiles(t, dir)
	want := map[string]string{"d/": "", "gone/": ""}
	for p, c := range files {
		want[p] = c
	}
	want["d/edited"] = "the user's new text"
	if !sameMaps(got, want) {
		t.Fatalf("folder holds %v, want %v", got, want)
	}
	des, err := os.ReadDir(filepath.Join(dir, stateDirName))
	must(err)
	var aside []string
	for _, de := range des {
		if strings.HasPrefix(de.Name(), "unflushed-") {
			b, err := os.ReadFile(filepath.Join(dir, stateDirName, de.Name()))
			must(err)
			aside = append(aside, de.Name()[strings.LastIndex(de.Name(), "-")+1:]+"="+strings.Trim(string(b), "\x00"))
		}
	}
	sort.Strings(aside)
	if strings.Join(aside, ",") != "cut=,zeros=" {
		t.Fatalf("set aside: %v, want the cut and the zeroed file", aside)
	}
}

// TestDeferredFlushBarrier: when the pass after the first sync has to write (the
// server changed a file during the archive), the state file is flushed and unmarked
// before that write begins, so that a mark never covers a write other than the first
// sync's.
func TestDeferredFlushBarrier(t *testing.T) {
	id := "A"
	withCacheID(t, &id)
	files := map[string]string{"a/1": "old", "a/2": "two"}
	tree, content := treeOf(files)
	r := &changesRemote{treeRemote: &treeRemote{hostileRemote: &hostileRemote{entries: tree, content: content}, tree: tree}}
	dir := filepath.Join(t.TempDir(), "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e, cfs := openCounted(t, dir, r)
	defer e.Close()
	var checked atomic.Int32
	var bad atomic.Value
	cfs.onOpen = func(name string) {
		if !strings.HasPrefix(filepath.Base(name), tmpPrefix) || !r.read.Load() {
			return // the first sync's own writes
		}
		checked.Add(1)
		if p := stateOnDisk(t, dir); p.Unflushed != nil || len(p.Base) != len(tree) {
			bad.Store(fmt.Sprintf("a write began while the state file was marked or not yet saved (mark %+v, %d base entries)", p.Unflushed, len(p.Base)))
		}
	}
	// The server changed a/1 after the archive's seq: the next pass downloads it.
	changed := "new content of a/1"
	m := tree[1]
	m.Hash, m.Size, m.Seq = sum(changed), int64(len(changed)), 2
	r.change = func() {
		r.content["a/1"] = changed
		r.events = append(r.events, protocol.Event{Type: protocol.TypeFileOperation, Seq: 2, Operation: protocol.NewOperation(protocol.OpUpdate, "", m)})
	}
	syncOnce(t, e)
	if b := bad.Load(); b != nil {
		t.Fatal(b)
	}
	if checked.Load() == 0 || cfs.syncs.Load() == 0 {
		t.Fatalf("the change was not downloaded after a flush (%d checked, %d flushes)", checked.Load(), cfs.syncs.Load())
	}
	if got := folderFiles(t, dir)["a/1"]; got != changed {
		t.Fatalf("a/1 = %q", got)
	}
	if p := stateOnDisk(t, dir); p.Unflushed != nil {
		t.Fatalf("state still marked after a flushed pass: %+v", p.Unflushed)
	}
}

// changesRemote is a treeRemote that notes when its changes feed was first read
// (the pass after the first sync), and runs change then.
type changesRemote struct {
	*treeRemote
	read   atomic.Bool
	change func() // run at the first read
}

func (r *changesRemote) Changes(ctx context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error) {
	if !r.read.Swap(true) && r.change != nil {
		r.change()
	}
	return r.treeRemote.Changes(ctx, since, epoch, limit)
}

// TestDeferredFlushAfterCrashLongName: a file with a name near the 255-byte limit,
// cut by the crash, is set aside under a name that fits (its own cut, the extension
// kept); before, the rename failed and so did every start.
func TestDeferredFlushAfterCrashLongName(t *testing.T) {
	id := "A"
	withCacheID(t, &id)
	long := "d/" + strings.Repeat("l", 247) + ".txt"
	dir, r := markedFirstSync(t, map[string]string{long: "content cut by the crash"})
	mtime := time.Unix(1_700_000_000, 0)
	p := filepath.Join(dir, filepath.FromSlash(long))
	if err := os.Truncate(p, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	id = "B" // rebooted
	e, _ := openCounted(t, dir, r)
	defer e.Close()
	syncOnce(t, e)
	if w := r.writes(); len(w) != 0 {
		t.Fatalf("server asked for %v", w)
	}
	des, err := os.ReadDir(filepath.Join(dir, stateDirName))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, de := range des {
		if name := de.Name(); strings.HasPrefix(name, "unflushed-") {
			n++
			if len(name) > 255 || !strings.HasSuffix(name, "lll.txt") {
				t.Fatalf("set aside as %q", name)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d files set aside, want 1", n)
	}
	if got := folderFiles(t, dir)[long]; got != "content cut by the crash" {
		t.Fatalf("%s holds %q after the start", long, got)
	}
}
