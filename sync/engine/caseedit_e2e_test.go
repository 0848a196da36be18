package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/engine"
)

// A server case-only rename and an edit of the same file while a client was offline
// (report.txt → Report.txt, then new content): the client's next start downloads the
// new content and renames its file too, as it does for the rename alone. Found by
// TestConvergence (clientapp): the download recorded the old local spelling as if it
// were a spelling this disk had chosen, and the client kept report.txt for good.
func TestServerCaseRenameAndEditWhileOffline(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	a.write(t, "report.txt", "v1")
	if err := a.fs.MkdirAll("docs", 0o755); err != nil {
		t.Fatal(err)
	}
	a.write(t, "docs/notes.md", "n1")
	settle(t, a, b)
	if err := a.fs.Rename("report.txt", "Report.txt"); err != nil {
		t.Fatal(err)
	}
	if err := a.fs.Rename("docs/notes.md", "docs/Notes.md"); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	a.write(t, "Report.txt", "v2")
	a.write(t, "docs/Notes.md", "n2")
	a.sync(t)
	settle(t, b, a)
	for _, s := range []*side{a, b} {
		if got := s.names(t); !eq(got, "Report.txt", "docs/Notes.md") {
			t.Fatalf("%s has %q, want Report.txt, docs/Notes.md", s.dir, got)
		}
		if s.read(t, "Report.txt") != "v2" || s.read(t, "docs/Notes.md") != "n2" {
			t.Fatalf("%s: content not synced", s.dir)
		}
	}
	if got := serverNames(t, c); !eq(got, "Report.txt", "docs/Notes.md") {
		t.Fatalf("server has %q", got)
	}
}

// The same for a directory: renamed in case only (docs → Docs) and a file in it
// edited while a client was offline.
func TestServerDirCaseRenameAndEditWhileOffline(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	if err := a.fs.MkdirAll("docs", 0o755); err != nil {
		t.Fatal(err)
	}
	a.write(t, "docs/x.md", "x1")
	settle(t, a, b)
	if err := a.fs.Rename("docs", "Docs"); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	a.write(t, "Docs/x.md", "x2")
	a.sync(t)
	settle(t, b, a)
	for _, s := range []*side{a, b} {
		if got := s.names(t); !eq(got, "Docs/x.md") {
			t.Fatalf("%s has %q, want Docs/x.md", s.dir, got)
		}
		if s.read(t, "Docs/x.md") != "x2" {
			t.Fatalf("%s: content not synced", s.dir)
		}
	}
}

// A directory renamed here in case (docs → Docs) just before the client applies a
// server change in it (a new docs/new.txt, planned under the old spelling): the
// download goes into the renamed directory once the rename is seen, and never makes
// a second docs beside Docs (which would fold to the same name and be kept but not
// synced). Found by TestConvergence (clientapp).
func TestLocalDirCaseRenameBeforeServerChange(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	if err := a.fs.MkdirAll("docs", 0o755); err != nil {
		t.Fatal(err)
	}
	a.write(t, "docs/x.md", "x")
	settle(t, a, b)
	a.write(t, "docs/new.txt", "new")
	a.sync(t)
	renameDocsBeforeRemotePass(t, a, b, "Docs/new.txt", "Docs/x.md")
}

// A file renamed here in case only and edited before the client syncs (report.txt →
// Report.txt, new content): the upload carries the content and a move the name, and
// every folder ends with Report.txt. Found by TestConvergence (clientapp): the upload
// recorded the new local spelling as this disk's own and the rename never reached
// the server.
func TestLocalCaseRenameAndEdit(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	a.write(t, "report.txt", "v1")
	settle(t, a, b)
	if err := os.Rename(filepath.Join(b.dir, "report.txt"), filepath.Join(b.dir, "Report.txt")); err != nil {
		t.Fatal(err)
	}
	b.write(t, "Report.txt", "v2")
	settle(t, b, a)
	for _, s := range []*side{a, b} {
		if got := s.names(t); !eq(got, "Report.txt") || s.read(t, "Report.txt") != "v2" {
			t.Fatalf("%s has %q, want Report.txt with v2", s.dir, got)
		}
	}
	if got := serverNames(t, c); !eq(got, "Report.txt") {
		t.Fatalf("server has %q", got)
	}
}

// The same with a server move into the directory (x.txt → docs/x.txt) applied before
// the local rename is seen: the move is synced by content, and docs is not made
// again beside Docs.
func TestLocalDirCaseRenameBeforeServerMoveIntoIt(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	if err := a.fs.MkdirAll("docs", 0o755); err != nil {
		t.Fatal(err)
	}
	a.write(t, "docs/y.md", "y")
	a.write(t, "x.txt", "x")
	settle(t, a, b)
	if err := a.fs.Rename("x.txt", "docs/x.txt"); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	renameDocsBeforeRemotePass(t, a, b, "Docs/x.txt", "Docs/y.md")
}

// renameDocsBeforeRemotePass renames b's docs to Docs, then has b apply the server's
// change (made by a under docs) before its watcher reports the rename: b must not
// make docs again beside Docs, and both sides must end with exactly want.
func renameDocsBeforeRemotePass(t *testing.T, a, b *side, want ...string) {
	t.Helper()
	if err := os.Rename(filepath.Join(b.dir, "docs"), filepath.Join(b.dir, "Docs")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := engine.RemotePassForTest(ctx, b.e); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(b.dir, "docs")); err == nil {
		t.Fatalf("the server's change made docs again beside Docs: %q", b.names(t))
	}
	settle(t, b, a)
	for _, s := range []*side{a, b} {
		if got := s.names(t); !eq(got, want...) {
			t.Fatalf("%s has %q, want %q", s.dir, got, want)
		}
	}
}

// A file renamed here in case only (report.txt → Report.txt) just before the client
// applies a server edit of it, planned under the old spelling where nothing stands
// any more (deleted here, modified there: a download): the download waits for the
// rename to be seen and then goes to the renamed file; it never makes report.txt
// again beside Report.txt (a case twin, kept but not synced for good). Found by
// TestConvergence (clientapp, -case, seed 14).
func TestLocalCaseRenameBeforeServerEdit(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	a.write(t, "report.txt", "v1")
	settle(t, a, b)
	a.write(t, "report.txt", "v2")
	a.sync(t)
	if err := os.Rename(filepath.Join(b.dir, "report.txt"), filepath.Join(b.dir, "Report.txt")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := engine.RemotePassForTest(ctx, b.e); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(b.dir, "report.txt")); err == nil {
		t.Fatalf("the server's edit made report.txt again beside Report.txt: %q", b.names(t))
	}
	settle(t, b, a)
	for _, s := range []*side{a, b} {
		if got := s.names(t); !eq(got, "Report.txt") || s.read(t, "Report.txt") != "v2" {
			t.Fatalf("%s has %q, want Report.txt with v2", s.dir, got)
		}
	}
	if got := serverNames(t, c); !eq(got, "Report.txt") {
		t.Fatalf("server has %q", got)
	}
}

// A file made here in a directory that another client has just renamed in case on the
// server (docs → Docs), uploaded before this client heard of the rename: the PUT to
// docs/new.txt is refused (409: the parent exists in another case). That is not a
// refusal of the name or content: once the changes are read, the file goes up as
// Docs/new.txt. It was kept but not synced until its content changed. Found by
// TestConvergence (clientapp, -case, seed 21).
func TestUploadUnderParentRenamedInCaseOnServer(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	if err := a.fs.MkdirAll("docs", 0o755); err != nil {
		t.Fatal(err)
	}
	a.write(t, "docs/x.md", "x")
	settle(t, a, b)
	if err := os.Rename(filepath.Join(a.dir, "docs"), filepath.Join(a.dir, "Docs")); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	b.write(t, "docs/new.txt", "new")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := engine.LocalPassForTest(ctx, b.e, "docs/new.txt"); err != nil {
		t.Fatal(err)
	}
	settle(t, b, a)
	for _, s := range []*side{a, b} {
		if got := s.names(t); !eq(got, "Docs/new.txt", "Docs/x.md") {
			t.Fatalf("%s has %q, want Docs/new.txt, Docs/x.md", s.dir, got)
		}
	}
	if got := serverNames(t, c); !eq(got, "Docs/new.txt", "Docs/x.md") {
		t.Fatalf("server has %q", got)
	}
}

// A name made anew on both sides in different case (X on the server, x here, neither
// synced before) with different contents: the local version becomes the conflict
// copy and the server's file arrives under the server's spelling. It kept the local
// spelling, and that folder alone showed x for good. Found by TestConvergence
// (clientapp, -case -rescan 20s, seed 42: not healed by a rescan either).
func TestNewFileConflictInOtherCase(t *testing.T) {
	c := startSyncd(t)
	a, b := openSide(t, c, false), openSide(t, c, false)
	a.write(t, "y.txt", "y")
	settle(t, a, b)
	a.write(t, "X", "server")
	a.sync(t)
	b.write(t, "x", "local")
	settle(t, b, a)
	for _, s := range []*side{a, b} {
		got := s.names(t)
		if len(got) != 3 || got[0] != "X" || s.read(t, "X") != "server" {
			t.Fatalf("%s has %q, want X with the server's content, a conflict copy and y.txt", s.dir, got)
		}
	}
}
