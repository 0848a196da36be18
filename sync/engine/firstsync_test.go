package engine

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// treeRemote is hostileRemote with an archive of the tree (TreeArchiver): tree's
// entries in order, a file's content from content ("evil" when absent), head ("ep",
// 1). cut > 0 ends the archive with an error before entry cut. It counts listings
// and archives.
type treeRemote struct {
	*hostileRemote
	tree         []protocol.Metadata
	cut          int
	lists, trees int
	uploads      atomic.Int64
}

func (r *treeRemote) Upload(ctx context.Context, p string, body io.Reader, size int64, o UploadOptions) (protocol.Metadata, bool, error) {
	r.uploads.Add(1)
	return r.hostileRemote.Upload(ctx, p, body, size, o)
}

func (r *treeRemote) List(ctx context.Context, head func(string, int64) error, each func(protocol.Metadata) error) error {
	r.lists++
	return r.hostileRemote.List(ctx, head, each)
}

func (r *treeRemote) ArchiveTree(ctx context.Context) (TreeReader, error) {
	r.trees++
	return &fakeTree{r: r}, nil
}

type fakeTree struct {
	r *treeRemote
	i int
}

func (f *fakeTree) Head() (string, int64) { return "ep", 1 }

func (f *fakeTree) Next() (protocol.Metadata, io.Reader, error) {
	if f.r.cut > 0 && f.i == f.r.cut {
		return protocol.Metadata{}, nil, protocol.Errorf(protocol.CodeUnavailable, "archive cut")
	}
	if f.i >= len(f.r.tree) {
		return protocol.Metadata{}, nil, io.EOF
	}
	m := f.r.tree[f.i]
	f.i++
	if m.IsDirectory {
		return m, nil, nil
	}
	c, ok := f.r.content[m.Path]
	if !ok {
		c = "evil"
	}
	return m, strings.NewReader(c), nil
}

func (f *fakeTree) Close() error { return nil }

// treeOf returns the listing of files (path → content) with their parent
// directories, in the server's path order, and the contents for hostileRemote.
func treeOf(files map[string]string) ([]protocol.Metadata, map[string]string) {
	var out []protocol.Metadata
	dirs := map[string]bool{}
	for p := range files {
		for d := filepath.ToSlash(filepath.Dir(p)); d != "."; d = filepath.ToSlash(filepath.Dir(d)) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		out = append(out, protocol.Metadata{Path: d, IsDirectory: true, Seq: 1})
	}
	content := map[string]string{}
	for p, c := range files {
		out = append(out, protocol.Metadata{Path: p, Hash: sum(c), Size: int64(len(c)), Seq: 1, Modified: time.Unix(1_700_000_000, 0)})
		content[p] = c
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, content
}

// firstSyncOf runs SyncOnce on a new folder against r and returns the folder and
// the engine (closed at the test's end).
func firstSyncOf(t *testing.T, r Remote, prepare func(dir string)) (string, *Engine) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(dir)
	}
	e, err := Open(Options{Root: dir, Remote: r, OpenFS: testOpenFS(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.SyncOnce(ctx); err != nil {
		t.Fatalf("SyncOnce: %v", err)
	}
	return dir, e
}

// folderFiles returns the files under dir (the state dir left out): path → content.
func folderFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == stateDirName {
				return filepath.SkipDir
			}
			if rel != "." {
				got[rel+"/"] = ""
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got[rel] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// baseOf is the engine's base as comparable strings.
func baseOf(e *Engine) map[string]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]string{}
	for k, b := range e.base {
		out[k] = b.Path + "|" + b.Hash + "|" + map[bool]string{true: "dir"}[b.Dir]
	}
	return out
}

func sameMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestFirstSyncAsListing: a first sync into an empty folder from the archive of the
// tree ends exactly as one from the listing and a plan (files, directories, base,
// head), names that differ only in case included (the first listed wins, the other
// stays on the server), and it reads no listing.
func TestFirstSyncAsListing(t *testing.T) {
	files := map[string]string{
		"A.txt": "upper", "a.txt": "lower", // one name here: "A.txt" is listed first
		"Docs/x.txt": "x", "docs/y.txt": "y", // two spellings of one directory
		"empty/.keep": "", "deep/er/than/that.bin": strings.Repeat("z", 300<<10), // streamed, not inline
		"caf\u00e9.txt": "nfc", "plain.txt": "plain",
	}
	tree, content := treeOf(files)
	tree = append(tree, protocol.Metadata{Path: "emptydir", IsDirectory: true, Seq: 1})
	sort.Slice(tree, func(i, j int) bool { return tree[i].Path < tree[j].Path })

	viaTree := &treeRemote{hostileRemote: &hostileRemote{entries: tree, content: content}, tree: tree}
	dirT, eT := firstSyncOf(t, viaTree, nil)
	viaList := &treeRemote{hostileRemote: &hostileRemote{entries: tree, content: content}}
	dirL, eL := firstSyncOf(t, struct{ Remote }{viaList}, nil) // no ArchiveTree

	if viaTree.trees != 1 || viaTree.lists != 0 || viaList.lists != 1 {
		t.Fatalf("tree side: %d archives of the tree, %d listings; listing side: %d listings", viaTree.trees, viaTree.lists, viaList.lists)
	}
	ft, fl := folderFiles(t, dirT), folderFiles(t, dirL)
	if !sameMaps(ft, fl) {
		t.Fatalf("folders differ:\ntree    %v\nlisting %v", keysOf(ft), keysOf(fl))
	}
	if ft["A.txt"] != "upper" || ft["a.txt"] != "" && ft["a.txt"] != "upper" {
		t.Fatalf("case twins: %q %q", ft["A.txt"], ft["a.txt"])
	}
	if _, ok := ft["emptydir/"]; !ok {
		t.Fatalf("empty directory not made: %v", keysOf(ft))
	}
	if bt, bl := baseOf(eT), baseOf(eL); !sameMaps(bt, bl) {
		t.Fatalf("bases differ:\ntree    %v\nlisting %v", bt, bl)
	}
	epT, seqT := eT.Head()
	epL, seqL := eL.Head()
	if epT != epL || seqT != seqL || epT != "ep" {
		t.Fatalf("heads: %s/%d against %s/%d", epT, seqT, epL, seqL)
	}
}

func keysOf(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestFirstSyncHostileTree: an archive of the tree with names that try to escape the
// folder, reach the state dir, break the path rules, repeat a name, put a directory
// where a file is, or use a name the folder ignores: nothing is written outside the
// folder or into the state, nothing hostile is written, the good files are synced.
func TestFirstSyncHostileTree(t *testing.T) {
	good := map[string]string{"good.txt": "good", "sub/ok.txt": "ok"}
	tree, content := treeOf(good)
	evil := func(p string) protocol.Metadata {
		return protocol.Metadata{Path: p, Hash: sum("evil"), Size: 4, Seq: 1}
	}
	hostile := []protocol.Metadata{
		evil("../escape.txt"), evil("/abs.txt"), evil(".syncspace/state.json"), evil("a/../../escape2.txt"),
		evil(".SyncSpace/x"), evil("ok/\x00nul"), evil("e\u0301.txt"), evil(strings.Repeat("l", 300) + ".txt"),
		evil(strings.Repeat("p/", 2100) + "deep.txt"), evil(tmpPrefix + "planted"),
		{Path: "good.txt", IsDirectory: true, Seq: 1}, // a directory where a file is
		evil("good.txt"), // the same name again, other content
		{Path: "../up", IsDirectory: true, Seq: 1},
		{Path: "hashdir", IsDirectory: true, Hash: sum("x"), Seq: 1},
	}
	// In path order as the server sends them, the hostile ones after the good.
	tree = append(tree, hostile...)
	r := &treeRemote{hostileRemote: &hostileRemote{entries: tree, content: content}, tree: tree}
	dir, e := firstSyncOf(t, r, nil)
	got := folderFiles(t, dir)
	want := map[string]string{"good.txt": "good", "sub/": "", "sub/ok.txt": "ok"}
	if !sameMaps(got, want) {
		t.Fatalf("folder holds %v, want %v", got, want)
	}
	parent := filepath.Dir(dir)
	for _, p := range []string{"escape.txt", "escape2.txt", "up", "abs.txt"} {
		if _, err := os.Lstat(filepath.Join(parent, p)); err == nil {
			t.Fatalf("%s escaped the folder", p)
		}
	}
	if _, err := os.Lstat("/abs.txt"); err == nil {
		t.Fatal("/abs.txt written")
	}
	if _, err := os.Lstat(filepath.Join(dir, stateDirName, "x")); err == nil {
		t.Fatal("written into the state dir")
	}
	if st, _, err := loadState(filepath.Join(dir, stateDirName)); err != nil || len(st.Base) == 0 {
		t.Fatalf("state: %v, %d entries", err, len(st.Base))
	}
	if r.trees != 1 {
		t.Fatalf("%d archives of the tree", r.trees)
	}
	if b := baseOf(e); b["good.txt"] != "good.txt|"+sum("good")+"|" {
		t.Fatalf("base of good.txt: %q", b["good.txt"])
	}
}

// TestFirstSyncCutArchive: an archive of the tree cut in the middle makes the pass a
// full reconcile (List), which keeps what was written and fetches the rest.
func TestFirstSyncCutArchive(t *testing.T) {
	files := map[string]string{}
	for _, p := range []string{"a/1", "a/2", "b/1", "b/2", "c/1", "c/2"} {
		files[p] = "content of " + p
	}
	tree, content := treeOf(files)
	r := &treeRemote{hostileRemote: &hostileRemote{entries: tree, content: content}, tree: tree, cut: 5}
	dir, _ := firstSyncOf(t, r, nil)
	want := map[string]string{"a/": "", "b/": "", "c/": ""}
	for p, c := range files {
		want[p] = c
	}
	if got := folderFiles(t, dir); !sameMaps(got, want) {
		t.Fatalf("folder holds %v", got)
	}
	if r.trees != 1 || r.lists != 1 {
		t.Fatalf("%d archives of the tree, %d listings; want 1 and 1", r.trees, r.lists)
	}
}

// TestFirstSyncOnlyIntoEmptyFolder: a folder holding a file to sync lists as before;
// one holding only ignored names (a temp file of the client) takes the archive.
func TestFirstSyncOnlyIntoEmptyFolder(t *testing.T) {
	tree, content := treeOf(map[string]string{"s.txt": "server"})
	r := &treeRemote{hostileRemote: &hostileRemote{entries: tree, content: content}, tree: tree}
	firstSyncOf(t, r, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "mine.txt"), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if r.trees != 0 || r.lists != 1 {
		t.Fatalf("non-empty folder: %d archives of the tree, %d listings", r.trees, r.lists)
	}
	r2 := &treeRemote{hostileRemote: &hostileRemote{entries: tree, content: content}, tree: tree}
	dir, e2 := firstSyncOf(t, r2, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, tmpPrefix+"left"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	if r2.trees != 1 || r2.lists != 0 {
		t.Fatalf("folder of ignored names: %d archives of the tree, %d listings", r2.trees, r2.lists)
	}
	if got := folderFiles(t, dir); got["s.txt"] != "server" {
		t.Fatalf("folder holds %v", got)
	}
	// A second SyncOnce (the base is not empty) lists.
	if _, err := e2.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r2.trees != 1 || r2.lists != 1 {
		t.Fatalf("second pass: %d archives of the tree, %d listings", r2.trees, r2.lists)
	}
}

// TestFirstSyncRun: Run's first reconcile of an empty folder reads the archive of the
// tree, not the listing; the files are there and recorded.
func TestFirstSyncRun(t *testing.T) {
	files := map[string]string{"a/1.txt": "one", "a/2.txt": "two", "b/c/3.txt": "three"}
	tree, content := treeOf(files)
	r := &treeRemote{hostileRemote: &hostileRemote{entries: tree, content: content}, tree: tree}
	dir := filepath.Join(t.TempDir(), "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e, err := Open(Options{Root: dir, Remote: r, OpenFS: testOpenFS(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		e.mu.Lock()
		n := len(e.base)
		e.mu.Unlock()
		if n == 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// DIR and the directories made are watched: a file written by hand at the root
	// and in a/ is sent (the server refuses it: read only).
	for _, p := range []string{"mine.txt", "a/mine.txt"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for r.uploads.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := r.uploads.Load(); n < 2 {
		t.Fatalf("%d uploads of the files written by hand: the folder is not watched", n)
	}
	for _, p := range []string{"mine.txt", "a/mine.txt"} {
		files[p] = "mine"
	}
	want := map[string]string{"a/": "", "b/": "", "b/c/": ""}
	for p, c := range files {
		want[p] = c
	}
	if got := folderFiles(t, dir); !sameMaps(got, want) {
		t.Fatalf("folder holds %v", got)
	}
	if r.trees != 1 || r.lists != 0 {
		t.Fatalf("%d archives of the tree, %d listings; want 1 and 0", r.trees, r.lists)
	}
}

// TestFirstSyncIgnoreFileFromServer: a .syncignore in the archive that un-ignores a
// name ignored by default (Thumbs.db) gets that file fetched in the same SyncOnce, as
// the listing's pass does.
func TestFirstSyncIgnoreFileFromServer(t *testing.T) {
	files := map[string]string{IgnoreFileName: "*.log\n!Thumbs.db\n", "Thumbs.db": "thumbs", "x.log": "log", "a.txt": "a"}
	tree, content := treeOf(files)
	r := &treeRemote{hostileRemote: &hostileRemote{entries: tree, content: content}, tree: tree}
	dir, _ := firstSyncOf(t, r, nil)
	got := folderFiles(t, dir)
	want := map[string]string{IgnoreFileName: files[IgnoreFileName], "Thumbs.db": "thumbs", "a.txt": "a", "x.log": "log"}
	if r.trees != 1 || !sameMaps(got, want) {
		t.Fatalf("%d archives of the tree; folder holds %v, want %v", r.trees, got, want)
	}
}
