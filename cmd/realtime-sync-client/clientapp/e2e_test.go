package clientapp

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitLong bounds every wait for something the clients must do. It is generous on
// purpose: CI runs all of the repository's tests with -race on 2 cores at once, and a
// deadline only costs time when a test fails anyway.
const waitLong = 60 * time.Second

func TestPropagationBothWays(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	startClient(t, "A", srv.URL, tok, a, "--realtime")
	startClient(t, "B", srv.URL, tok, b, "--realtime")

	// A → B: create, update, mkdir, move, delete.
	writeFile(t, filepath.Join(a, "hello.txt"), "hello")
	eventually(t, waitLong, "create A→B", fileIs(filepath.Join(b, "hello.txt"), "hello"))
	writeFile(t, filepath.Join(a, "hello.txt"), "hello again")
	eventually(t, waitLong, "update A→B", fileIs(filepath.Join(b, "hello.txt"), "hello again"))
	if err := os.Mkdir(filepath.Join(a, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "mkdir A→B", isDir(filepath.Join(b, "docs")))
	writeFile(t, filepath.Join(a, "docs", "deep", "x.md"), "x")
	eventually(t, waitLong, "nested create A→B", fileIs(filepath.Join(b, "docs", "deep", "x.md"), "x"))
	if err := os.Rename(filepath.Join(a, "hello.txt"), filepath.Join(a, "docs", "hello.txt")); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "move A→B", func() bool {
		return fileIs(filepath.Join(b, "docs", "hello.txt"), "hello again")() && gone(filepath.Join(b, "hello.txt"))()
	})
	if err := os.Remove(filepath.Join(a, "docs", "hello.txt")); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "delete A→B", gone(filepath.Join(b, "docs", "hello.txt")))

	// B → A.
	writeFile(t, filepath.Join(b, "from-b.txt"), "bee")
	eventually(t, waitLong, "create B→A", fileIs(filepath.Join(a, "from-b.txt"), "bee"))
	writeFile(t, filepath.Join(b, "from-b.txt"), "bee 2")
	eventually(t, waitLong, "update B→A", fileIs(filepath.Join(a, "from-b.txt"), "bee 2"))
	if err := os.RemoveAll(filepath.Join(b, "docs")); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "recursive delete B→A", gone(filepath.Join(a, "docs")))
	if err := os.Mkdir(filepath.Join(b, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "mkdir B→A", isDir(filepath.Join(a, "empty")))
	eventually(t, waitLong, "trees equal", sameTree(t, a, b))
}

// runOnce runs one --once reconcile and returns its exit code and logs.
func runOnce(t *testing.T, server, tokenFile, dir string, extra ...string) (int, string) {
	t.Helper()
	logs := &syncBuf{}
	args := append([]string{"--server", server, "--local-path", dir, "--token-file", tokenFile, "--once"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	code := Run(ctx, args, logs, logs)
	return code, logs.String()
}

// mustOnce is runOnce for steps that must succeed.
func mustOnce(t *testing.T, server, tokenFile, dir string, extra ...string) {
	t.Helper()
	if code, logs := runOnce(t, server, tokenFile, dir, extra...); code != 0 {
		t.Fatalf("--once on %s: exit %d\n%s", dir, code, logs)
	}
}

func TestConflictWhileOffline(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "notes.txt"), "v1")
	if code, logs := runOnce(t, srv.URL, tok, a); code != 0 {
		t.Fatalf("A once: %d\n%s", code, logs)
	}
	if code, logs := runOnce(t, srv.URL, tok, b); code != 0 {
		t.Fatalf("B once: %d\n%s", code, logs)
	}
	// Both edit while B is offline.
	ca := startClient(t, "A", srv.URL, tok, a, "--realtime")
	writeFile(t, filepath.Join(a, "notes.txt"), "from A")
	writeFile(t, filepath.Join(b, "notes.txt"), "from B")
	// B may start only once A's edit is on the server; otherwise B's edit could get
	// there first and the roles (winner, conflict copy) would swap.
	eventually(t, waitLong, "A's edit on the server", func() bool {
		d := t.TempDir()
		code, _ := runOnce(t, srv.URL, tok, d)
		return code == 0 && fileIs(filepath.Join(d, "notes.txt"), "from A")()
	})
	startClient(t, "B", srv.URL, tok, b, "--realtime")
	check := func(dir string) func() bool {
		return func() bool {
			tr := tree(t, dir)
			if tr["notes.txt"] != "from A" {
				return false
			}
			cc := conflictCopies(t, dir)
			return len(cc) == 1 && tr[cc[0]] == "from B" && strings.HasPrefix(cc[0], "notes.sync-conflict-") && strings.HasSuffix(cc[0], ".txt")
		}
	}
	eventually(t, waitLong, "B has both versions", check(b))
	eventually(t, waitLong, "A has both versions", check(a))
	_ = ca
	// status counts the copy where it was made (issue 13 item 4).
	eventually(t, waitLong, "B's status counts the conflict copy", func() bool {
		s, err := readStatusFile(b)
		return err == nil && s.ConflictCopies == 1
	})
	if s, err := readStatusFile(a); err != nil || s.ConflictCopies != 0 {
		t.Fatalf("A made no conflict copy: %+v %v", s, err)
	}
}

func TestOfflineEditsSyncOnReconnect(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "keep.txt"), "keep")
	writeFile(t, filepath.Join(a, "old.txt"), "old")
	ca := startClient(t, "A", srv.URL, tok, a, "--realtime")
	startClient(t, "B", srv.URL, tok, b, "--realtime")
	eventually(t, waitLong, "first sync", sameTree(t, a, b))
	if code := ca.stop(); code != 0 {
		t.Fatalf("A exit %d", code)
	}
	writeFile(t, filepath.Join(a, "offline.txt"), "made offline")
	writeFile(t, filepath.Join(a, "keep.txt"), "edited offline")
	os.Remove(filepath.Join(a, "old.txt"))
	startClient(t, "A2", srv.URL, tok, a, "--realtime")
	eventually(t, waitLong, "offline edits on B", func() bool {
		tr := tree(t, b)
		return tr["offline.txt"] == "made offline" && tr["keep.txt"] == "edited offline" && gone(filepath.Join(b, "old.txt"))()
	})
}

func TestDeleteVersusModify(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "x.txt"), "base")
	writeFile(t, filepath.Join(a, "y.txt"), "base")
	mustOnce(t, srv.URL, tok, a)
	mustOnce(t, srv.URL, tok, b)
	// B deletes x while A modifies it; A deletes y while B modifies it.
	os.Remove(filepath.Join(b, "x.txt"))
	writeFile(t, filepath.Join(b, "y.txt"), "B modified")
	writeFile(t, filepath.Join(a, "x.txt"), "A modified")
	os.Remove(filepath.Join(a, "y.txt"))
	if code, logs := runOnce(t, srv.URL, tok, a); code != 0 {
		t.Fatalf("A: %d %s", code, logs)
	}
	if code, logs := runOnce(t, srv.URL, tok, b); code != 0 {
		t.Fatalf("B: %d %s", code, logs)
	}
	if code, logs := runOnce(t, srv.URL, tok, a); code != 0 {
		t.Fatalf("A again: %d %s", code, logs)
	}
	for _, dir := range []string{a, b} {
		tr := tree(t, dir)
		if tr["x.txt"] != "A modified" || tr["y.txt"] != "B modified" || len(tr) != 2 {
			t.Fatalf("modify must beat delete; %s has %v", dir, tr)
		}
	}
}

func TestServerRestartReconnects(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	startClient(t, "A", srv.URL, tok, a, "--realtime", "--interval", "500ms")
	startClient(t, "B", srv.URL, tok, b, "--realtime", "--interval", "500ms")
	writeFile(t, filepath.Join(a, "before.txt"), "before")
	eventually(t, waitLong, "before restart", fileIs(filepath.Join(b, "before.txt"), "before"))
	if err := srv.Restart(context.Background(), srv.Addr()); err != nil {
		t.Fatalf("restart: %v", err)
	}
	writeFile(t, filepath.Join(a, "after.txt"), "after")
	eventually(t, 2*waitLong, "after restart A→B", fileIs(filepath.Join(b, "after.txt"), "after"))
	writeFile(t, filepath.Join(b, "back.txt"), "back")
	eventually(t, 2*waitLong, "after restart B→A", fileIs(filepath.Join(a, "back.txt"), "back"))
}

func TestUnicodeAndCaseCollisions(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	nfd, nfc := "e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"
	writeFile(t, filepath.Join(a, nfd), "decomposed")
	writeFile(t, filepath.Join(a, "Readme.md"), "upper")
	writeFile(t, filepath.Join(a, "README.md"), "all caps")
	// The losing name stays on A only: the folder and the server do not agree (exit 1).
	code, logs := runOnce(t, srv.URL, tok, a)
	if code != 1 {
		t.Fatalf("A: %d %s", code, logs)
	}
	if !strings.Contains(logs, "differs only in case") {
		t.Fatalf("case collision not reported: %s", logs)
	}
	if code, logs := runOnce(t, srv.URL, tok, b); code != 0 {
		t.Fatalf("B: %d %s", code, logs)
	}
	got := tree(t, b)
	if got[nfc] != "decomposed" {
		t.Fatalf("NFD name not synced as NFC: %v", got)
	}
	readmes := 0
	for k := range got {
		if strings.EqualFold(k, "readme.md") {
			readmes++
		}
	}
	if readmes != 1 || len(got) != 2 {
		t.Fatalf("case-only collision: B has %v", got)
	}
	// Both local names are kept on A, and A's NFD file stays as it is.
	for _, n := range []string{nfd, "Readme.md", "README.md"} {
		if _, err := os.Stat(filepath.Join(a, n)); err != nil {
			t.Fatalf("A lost %q: %v", n, err)
		}
	}
	// An update to the NFC name on B lands in A's NFD file (same name for the server).
	writeFile(t, filepath.Join(b, nfc), "edited on B")
	mustOnce(t, srv.URL, tok, b)
	if code, logs := runOnce(t, srv.URL, tok, a); code != 1 {
		t.Fatalf("A again: %d %s", code, logs)
	}
	if !fileIs(filepath.Join(a, nfd), "edited on B")() {
		t.Fatalf("NFD file on A not updated: %v", tree(t, a))
	}
	// A remote name differing only in case from a local unsynced file is the same name:
	// different content → conflict copy, not a second file.
	c := t.TempDir()
	writeFile(t, filepath.Join(c, "readme.MD"), "c's readme")
	mustOnce(t, srv.URL, tok, c)
	tc := tree(t, c)
	cc := conflictCopies(t, c)
	if len(cc) != 1 || tc[cc[0]] != "c's readme" {
		t.Fatalf("case-only clash with the server: C has %v", tc)
	}
}

func TestEpochChangeMergesWithoutDeletes(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a := t.TempDir()
	writeFile(t, filepath.Join(a, "same.txt"), "same")
	writeFile(t, filepath.Join(a, "differs.txt"), "A's version")
	writeFile(t, filepath.Join(a, "only-a.txt"), "only A")
	if code, logs := runOnce(t, srv.URL, tok, a); code != 0 {
		t.Fatalf("A: %d %s", code, logs)
	}
	// The server's history is lost: a new server (new epoch) on the same address,
	// filled by another client.
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Stop()
	srv2 := startServerAt(t, addr)
	tok2 := writeToken(t, srv2.Token)
	c := t.TempDir()
	writeFile(t, filepath.Join(c, "same.txt"), "same")
	writeFile(t, filepath.Join(c, "differs.txt"), "server's version")
	writeFile(t, filepath.Join(c, "only-server.txt"), "only server")
	mustOnce(t, srv2.URL, tok2, c)
	// A's base says only-server.txt never existed and the server lacks only-a.txt:
	// with a stale base that would be deletes on both sides. After an epoch change
	// nothing is deleted.
	code, logs := runOnce(t, srv2.URL, tok2, a)
	if code != 0 {
		t.Fatalf("A after epoch change: %d %s", code, logs)
	}
	if !strings.Contains(logs, "new epoch") {
		t.Fatalf("epoch change not noticed: %s", logs)
	}
	mustOnce(t, srv2.URL, tok2, c)
	for _, dir := range []string{a, c} {
		tr := tree(t, dir)
		if tr["same.txt"] != "same" || tr["only-a.txt"] != "only A" || tr["only-server.txt"] != "only server" || tr["differs.txt"] != "server's version" {
			t.Fatalf("%s after merge: %v", dir, tr)
		}
		cc := conflictCopies(t, dir)
		if len(cc) != 1 || tr[cc[0]] != "A's version" {
			t.Fatalf("%s conflict copies: %v", dir, tr)
		}
	}
}

func TestTokenFileRefresh(t *testing.T) {
	srv := startServer(t)
	tokPath := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	ca := startClient(t, "A", srv.URL, tokPath, a, "--realtime", "--interval", "300ms")
	startClient(t, "B", srv.URL, writeToken(t, srv.Token), b, "--realtime")
	writeFile(t, filepath.Join(b, "one.txt"), "1")
	eventually(t, waitLong, "first", fileIs(filepath.Join(a, "one.txt"), "1"))
	// A newer token of the same subject in the file (sent as Refresh on the live
	// socket), then the old token revoked: A keeps syncing with the new one.
	newTok := srv.Server.Token(t, "t1", "alice", "write")
	if err := os.WriteFile(tokPath+".new", []byte(newTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Rename(tokPath+".new", tokPath)
	eventually(t, waitLong, "token re-read", func() bool { return strings.Contains(ca.logs.String(), "new token in use") })
	if err := srv.D.Auth().RevokeJTI(context.Background(), jtiOf(t, srv.Token)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(a, "two.txt"), "2")
	b2 := t.TempDir()
	eventually(t, waitLong, "A still uploads", func() bool {
		code, _ := runOnce(t, srv.URL, writeToken(t, newTok), b2)
		return code == 0 && fileIs(filepath.Join(b2, "two.txt"), "2")()
	})
	if strings.Contains(ca.logs.String(), newTok) || strings.Contains(ca.logs.String(), srv.Token) {
		t.Fatal("token in the logs")
	}
}

func TestCaseOnlyDirectorySpelling(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "Docs", "a.txt"), "a")
	mustOnce(t, srv.URL, tok, a)
	// B has its own "docs" (other case) with a file of its own.
	writeFile(t, filepath.Join(b, "docs", "b.txt"), "b")
	if code, logs := runOnce(t, srv.URL, tok, b); code != 0 {
		t.Fatalf("B: %d %s", code, logs)
	}
	tb := tree(t, b)
	if tb["docs/a.txt"] != "a" || tb["docs/b.txt"] != "b" || len(tb) != 3 {
		t.Fatalf("B should keep one folder in its own spelling: %v", tb)
	}
	mustOnce(t, srv.URL, tok, a)
	ta := tree(t, a)
	if ta["Docs/a.txt"] != "a" || ta["Docs/b.txt"] != "b" || len(ta) != 3 {
		t.Fatalf("A: %v", ta)
	}
}

func TestRefusedNamesAndSymlinks(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret.txt"), "outside DIR")
	ca := startClient(t, "A", srv.URL, tok, a, "--realtime")
	eventually(t, waitLong, "A live", func() bool { return strings.Contains(ca.logs.String(), "live connection up") })
	bad := []string{"a:b.txt", "CON.txt", "trailing.", "what?.txt"}
	for _, n := range bad {
		writeFile(t, filepath.Join(a, n), "bad name")
	}
	os.Symlink(outside, filepath.Join(a, "linkdir"))
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(a, "link.txt"))
	writeFile(t, filepath.Join(a, "fine.txt"), "fine")
	// Touch the bad names again: still reported only once.
	time.Sleep(300 * time.Millisecond)
	for _, n := range bad {
		writeFile(t, filepath.Join(a, n), "bad name, edited")
	}
	startClient(t, "B", srv.URL, tok, b, "--realtime")
	eventually(t, waitLong, "fine.txt on B", fileIs(filepath.Join(b, "fine.txt"), "fine"))
	time.Sleep(500 * time.Millisecond)
	tb := tree(t, b)
	if len(tb) != 1 {
		t.Fatalf("B got more than fine.txt: %v", tb)
	}
	logs := ca.logs.String()
	for _, n := range bad {
		if _, err := os.Stat(filepath.Join(a, n)); err != nil {
			t.Fatalf("refused name %q not kept: %v", n, err)
		}
		if c := strings.Count(logs, "path=\""+n+"\"") + strings.Count(logs, "path="+n+" "); c != 1 {
			t.Errorf("%q reported %d times, want once", n, c)
		}
	}
	// A server file where B has a symlink: never written through the link.
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(b, "target.txt"))
	writeFile(t, filepath.Join(a, "target.txt"), "would overwrite")
	time.Sleep(time.Second)
	if !fileIs(filepath.Join(outside, "secret.txt"), "outside DIR")() {
		t.Fatal("download followed a symlink out of DIR")
	}
	// --once: a folder holding names the server refuses does not agree with it (exit
	// 1); symlinks alone are not synced by design and do not count.
	ca.stop()
	if code, logs := runOnce(t, srv.URL, tok, a); code != 1 {
		t.Fatalf("--once with refused names: exit %d, want 1\n%s", code, logs)
	}
	for _, n := range bad {
		os.Remove(filepath.Join(a, n))
	}
	if code, logs := runOnce(t, srv.URL, tok, a); code != 0 {
		t.Fatalf("--once with only symlinks left: exit %d, want 0\n%s", code, logs)
	}
}

func TestReadOnlyTokenDownloadsAndReportsRefusals(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, r := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "shared.txt"), "shared")
	mustOnce(t, srv.URL, tok, a)
	readTok, _, err := srv.D.Auth().IssueTenantToken(context.Background(), "t1", "reader", "read", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rtok := writeToken(t, readTok)
	c := startClient(t, "R", srv.URL, rtok, r, "--realtime")
	eventually(t, waitLong, "download with a read token", fileIs(filepath.Join(r, "shared.txt"), "shared"))
	writeFile(t, filepath.Join(r, "mine.txt"), "local only")
	eventually(t, waitLong, "refusal reported", func() bool { return strings.Contains(c.logs.String(), "refused") })
	time.Sleep(5 * time.Second) // several retry periods
	if n := strings.Count(c.logs.String(), "refused this local name or content"); n != 1 {
		t.Fatalf("refusal reported %d times", n)
	}
	if n := strings.Count(c.logs.String(), "forbidden"); n > 2 {
		t.Fatalf("refused upload retried in a loop (%d)", n)
	}
	if !fileIs(filepath.Join(r, "mine.txt"), "local only")() {
		t.Fatal("refused file not kept")
	}
	c.stop()
	if code, _ := runOnce(t, srv.URL, rtok, r); code != 1 {
		t.Fatalf("--once with a refused file: exit %d, want 1", code)
	}
}

// A case-only rename on one client reaches the server and the other client as a
// rename, in both directions, for a file and for a directory (live clients).
func TestCaseOnlyRenamePropagates(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	startClient(t, "A", srv.URL, tok, a, "--realtime")
	startClient(t, "B", srv.URL, tok, b, "--realtime")
	writeFile(t, filepath.Join(a, "Report.txt"), "report")
	writeFile(t, filepath.Join(a, "Photos", "p.jpg"), "jpeg")
	eventually(t, waitLong, "create A→B", func() bool {
		return fileIs(filepath.Join(b, "Report.txt"), "report")() && fileIs(filepath.Join(b, "Photos", "p.jpg"), "jpeg")()
	})
	if err := os.Rename(filepath.Join(a, "Report.txt"), filepath.Join(a, "report.txt")); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "case-only file rename A→B", func() bool {
		return fileIs(filepath.Join(b, "report.txt"), "report")() && gone(filepath.Join(b, "Report.txt"))()
	})
	if err := os.Rename(filepath.Join(b, "Photos"), filepath.Join(b, "photos")); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "case-only directory rename B→A", func() bool {
		return fileIs(filepath.Join(a, "photos", "p.jpg"), "jpeg")() && gone(filepath.Join(a, "Photos"))()
	})
	eventually(t, waitLong, "trees equal", sameTree(t, a, b))
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/list?recursive=true", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`"report.txt"`, `"photos"`, `"photos/p.jpg"`} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("server list lacks %s: %s", want, body)
		}
	}
	if strings.Contains(string(body), "Report") || strings.Contains(string(body), "Photos") {
		t.Fatalf("server keeps an old spelling: %s", body)
	}
}
