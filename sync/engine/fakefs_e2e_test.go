package engine_test

// Engine scenarios on the case-insensitive, Windows-rules fake file system (fsys.Fake)
// against a real syncd on 127.0.0.1, next to a client on the plain (case-sensitive)
// Linux file system. Each scenario ends in the state docs/client.md defines and then
// stays there: further passes upload and delete nothing (the server's seq holds).

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/syncclient"
)

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSyncd starts a real syncd with tenant t1 and returns a client for it.
func startSyncd(t *testing.T) *syncclient.Client {
	t.Helper()
	srv := syncdtest.Start(t, syncdtest.Options{Config: map[string]any{"log": map[string]string{"level": "error"}, "limits": nil}})
	srv.Tenant(t, "t1", tenants.Options{})
	tok := srv.Token(t, "t1", "alice", "write")
	c, err := syncclient.New(syncclient.Options{Server: srv.URL, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type side struct {
	dir  string
	fs   fsys.FS // what the test writes through (the fake, or a plain Dir)
	fake *fsys.Fake
	e    *engine.Engine
	logs *logBuf
}

// openSide opens an engine on a new folder; windows selects the fake with
// case-insensitive, Windows-name rules, 8.3 short names and no syncfs, as on Windows.
func openSide(t *testing.T, c *syncclient.Client, windows bool) *side {
	t.Helper()
	s := &side{dir: t.TempDir(), logs: &logBuf{}}
	o := engine.Options{Root: s.dir, Remote: c, Logger: slog.New(slog.NewTextHandler(s.logs, nil))}
	if windows {
		o.OpenFS = func(abs string) (fsys.FS, error) {
			f, err := fsys.NewFake(abs, fsys.FakeOptions{CaseInsensitive: true, WindowsNames: true, NoSyncAll: true, ShortNames: true})
			s.fake = f
			return f, err
		}
	}
	e, err := engine.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	s.e = e
	if s.fake != nil {
		// A second view of the same folder for the test's own changes (the fake has
		// no state beyond the busy table, which tests set on s.fake).
		s.fs = s.fake
	} else {
		d, err := fsys.OpenDir(s.dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		s.fs = d
	}
	t.Cleanup(func() {
		e.Close()
		if t.Failed() {
			t.Logf("engine logs (%s):\n%s", s.dir, s.logs.String())
		}
	})
	return s
}

func (s *side) sync(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := s.e.SyncOnce(ctx); err != nil {
		t.Fatalf("sync %s: %v", s.dir, err)
	}
}

func (s *side) write(t *testing.T, name, content string) {
	t.Helper()
	f, err := s.fs.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(content))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func (s *side) read(t *testing.T, name string) string {
	t.Helper()
	b, err := s.fs.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// names lists the regular files of the folder by their names on disk.
func (s *side) names(t *testing.T) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(s.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == ".syncspace" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			r, _ := filepath.Rel(s.dir, p)
			out = append(out, filepath.ToSlash(r))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func serverNames(t *testing.T, c *syncclient.Client) []string {
	t.Helper()
	var out []string
	err := c.List(context.Background(), func(string, int64) error { return nil }, func(m protocol.Metadata) error {
		if !m.IsDirectory {
			out = append(out, m.Path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func eq(a []string, b ...string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// settle syncs every side twice and then checks that two more rounds change nothing on
// the server (no loop of uploads and deletes).
func settle(t *testing.T, sides ...*side) {
	t.Helper()
	for i := 0; i < 2; i++ {
		for _, s := range sides {
			s.sync(t)
		}
	}
	_, before := sides[0].e.Head()
	for i := 0; i < 2; i++ {
		for _, s := range sides {
			s.sync(t)
		}
	}
	if _, after := sides[0].e.Head(); after != before {
		t.Fatalf("still changing after settling: seq %d → %d (a loop)", before, after)
	}
}

// The ordinary scenarios on the fake: create, modify, delete in both directions, in
// subdirectories, with case-preserving names.
func TestFakeFSBasicScenarios(t *testing.T) {
	c := startSyncd(t)
	w, l := openSide(t, c, true), openSide(t, c, false)
	w.write(t, "Doc.txt", "one")
	if err := w.fs.MkdirAll("Projects/Q1", 0o755); err != nil {
		t.Fatal(err)
	}
	w.write(t, "projects/q1/Plan.md", "plan")
	settle(t, w, l)
	if got := l.names(t); !eq(got, "Doc.txt", "Projects/Q1/Plan.md") {
		t.Fatalf("linux side: %v", got)
	}
	l.write(t, "Doc.txt", "two")
	l.write(t, "new.bin", "n")
	settle(t, l, w)
	if w.read(t, "DOC.TXT") != "two" || w.read(t, "new.bin") != "n" {
		t.Fatal("changes did not reach the fake side")
	}
	if err := w.fs.Remove("NEW.BIN"); err != nil {
		t.Fatal(err)
	}
	settle(t, w, l)
	if got := l.names(t); !eq(got, "Doc.txt", "Projects/Q1/Plan.md") {
		t.Fatalf("delete did not reach the linux side: %v", got)
	}
}

// A case-only rename is a rename (SPEC §3: a move may change only the case of a
// name): made on a case-insensitive disk it becomes one move on the server (no upload,
// no delete) and the other clients rename their file in place; made on the server or
// on a case-sensitive disk, likewise. A file or a directory; edits keep flowing.
func TestFakeFSCaseOnlyRename(t *testing.T) {
	c := startSyncd(t)
	w, l := openSide(t, c, true), openSide(t, c, false)
	w.write(t, "report.txt", "data")
	if err := w.fs.MkdirAll("Docs", 0o755); err != nil {
		t.Fatal(err)
	}
	w.write(t, "Docs/x.md", "x")
	settle(t, w, l)
	_, seq := w.e.Head()
	if err := w.fs.Rename("report.txt", "Report.txt"); err != nil {
		t.Fatal(err)
	}
	settle(t, w, l)
	if _, now := w.e.Head(); now != seq+1 {
		t.Fatalf("a local case-only rename: seq %d → %d, want one move", seq, now)
	}
	want := func(what string, names ...string) {
		t.Helper()
		for _, s := range []struct {
			name string
			got  []string
		}{{"server", serverNames(t, c)}, {"fake side", w.names(t)}, {"linux side", l.names(t)}} {
			if !eq(s.got, names...) {
				t.Fatalf("%s: %s has %v, want %v", what, s.name, s.got, names)
			}
		}
	}
	want("case-only rename on the case-insensitive side", "Docs/x.md", "Report.txt")
	if l.read(t, "Report.txt") != "data" {
		t.Fatal("content lost on the linux side")
	}
	// The server renames (a move whose target differs only in case).
	if _, err := c.Move(context.Background(), "Report.txt", "REPORT.txt", "", "admin"); err != nil {
		t.Fatalf("server-side case-only move: %v", err)
	}
	settle(t, w, l)
	want("case-only move on the server", "Docs/x.md", "REPORT.txt")
	// The case-sensitive side renames a file and the fake side a directory.
	if err := l.fs.Rename("REPORT.txt", "report.TXT"); err != nil {
		t.Fatal(err)
	}
	if err := w.fs.Rename("Docs", "docs"); err != nil {
		t.Fatal(err)
	}
	_, seq = w.e.Head()
	settle(t, l, w)
	want("case-only renames of a file and a directory", "docs/x.md", "report.TXT")
	if _, now := w.e.Head(); now != seq+2 {
		t.Fatalf("two case-only renames: seq %d → %d, want two moves", seq, now)
	}
	// And a real change still flows both ways.
	l.write(t, "report.TXT", "edited")
	w.write(t, "docs/x.md", "x2")
	settle(t, l, w)
	if w.read(t, "report.TXT") != "edited" || l.read(t, "docs/x.md") != "x2" {
		t.Fatal("an edit did not cross after the renames")
	}
	want("edits after the renames", "docs/x.md", "report.TXT")
}

// A case-only rename on a case-insensitive disk seen by the running engine's watcher
// (not a full rescan): it is a rename, not a second name that folds to the first.
func TestFakeFSCaseOnlyRenameLive(t *testing.T) {
	c := startSyncd(t)
	w, l := openSide(t, c, true), openSide(t, c, false)
	w.write(t, "report.txt", "data")
	settle(t, w, l)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	// Run's first full pass ends before its watches catch events: give it a moment.
	start := w.e.Status().LastSync
	waitFor("the first pass", func() bool { return w.e.Status().LastSync.After(start) })
	time.Sleep(500 * time.Millisecond)
	if err := w.fs.Rename("report.txt", "Report.txt"); err != nil {
		t.Fatal(err)
	}
	waitFor("the move on the server", func() bool { return eq(serverNames(t, c), "Report.txt") })
	if strings.Contains(w.logs.String(), "kept but not synced") {
		t.Fatalf("the rename was taken for a second name:\n%s", w.logs.String())
	}
	l.sync(t)
	if got := l.names(t); !eq(got, "Report.txt") {
		t.Fatalf("linux side: %v", got)
	}
}

// Two names on a case-sensitive client that fold to one: the server takes one (SPEC
// §3: the second is a conflict), the other stays on that client "kept, not synced",
// reported once; the case-insensitive side gets the one.
func TestFakeFSFoldingNames(t *testing.T) {
	c := startSyncd(t)
	w, l := openSide(t, c, true), openSide(t, c, false)
	l.write(t, "notes.txt", "lower")
	settle(t, l)
	l.write(t, "NOTES.txt", "upper")
	settle(t, l, w)
	if got := serverNames(t, c); !eq(got, "notes.txt") {
		t.Fatalf("server: %v", got)
	}
	if got := l.names(t); !eq(got, "NOTES.txt", "notes.txt") {
		t.Fatalf("the linux side lost a name: %v", got)
	}
	if got := w.names(t); !eq(got, "notes.txt") || w.read(t, "notes.txt") != "lower" {
		t.Fatalf("fake side: %v", got)
	}
	if n := strings.Count(l.logs.String(), "kept but not synced"); n != 1 {
		t.Fatalf("reported %d times, want once:\n%s", n, l.logs.String())
	}
}

// Names Windows and the server refuse (made on a case-sensitive Linux or a macOS
// disk): reported once, not synced, never deleted; nothing loops.
func TestFakeFSRefusedNames(t *testing.T) {
	c := startSyncd(t)
	mac := &side{}
	*mac = *openSide(t, c, false)
	w := openSide(t, c, true)
	for _, n := range []string{"aux.txt", "a:b", "trail.", "ok.txt"} {
		mac.write(t, n, n)
	}
	settle(t, mac, w)
	if got := serverNames(t, c); !eq(got, "ok.txt") {
		t.Fatalf("server: %v", got)
	}
	if got := mac.names(t); !eq(got, "a:b", "aux.txt", "ok.txt", "trail.") {
		t.Fatalf("refused names were touched: %v", got)
	}
	if got := w.names(t); !eq(got, "ok.txt") {
		t.Fatalf("fake side: %v", got)
	}
	if n := strings.Count(mac.logs.String(), "not allowed by the server"); n != 3 {
		t.Fatalf("%d reports, want 3 (once each):\n%s", n, mac.logs.String())
	}
}

// A file held open by another program (sharing violation) is never taken for deleted:
// its server copy stays, and it syncs once released.
func TestFakeFSBusyFileIsNotDeleted(t *testing.T) {
	c := startSyncd(t)
	w, l := openSide(t, c, true), openSide(t, c, false)
	w.write(t, "Budget.xlsx", "v1")
	settle(t, w, l)
	w.fake.SetBusy("budget.xlsx", -1)
	w.write(t, "other.txt", "x") // something else changes meanwhile
	// Pass with the file held: rehash needed (w's cache is cold for it after a
	// restart-like rescan), so make its stat change through the real directory.
	os.Chtimes(filepath.Join(w.dir, "Budget.xlsx"), time.Now(), time.Now().Add(time.Minute))
	for i := 0; i < 3; i++ {
		w.sync(t)
	}
	if w.fake.BusyHits("budget.xlsx") == 0 {
		t.Fatal("the busy file was never opened: the scenario did not test anything")
	}
	if got := serverNames(t, c); !eq(got, "Budget.xlsx", "other.txt") {
		t.Fatalf("a busy file was taken for deleted: server has %v", got)
	}
	l.sync(t)
	l.write(t, "Budget.xlsx", "v2 from linux")
	l.sync(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w.e.SyncOnce(ctx) // may fail or report unsynced: the download cannot replace a held file
	if _, err := os.Stat(filepath.Join(w.dir, "Budget.xlsx")); err != nil {
		t.Fatalf("the held file is gone: %v", err)
	}
	w.fake.SetBusy("budget.xlsx", 0)
	settle(t, w, l)
	if w.read(t, "Budget.xlsx") != "v2 from linux" {
		t.Fatalf("after release: %q", w.read(t, "Budget.xlsx"))
	}
	if got := serverNames(t, c); !eq(got, "Budget.xlsx", "other.txt") {
		t.Fatalf("server: %v", got)
	}
}
