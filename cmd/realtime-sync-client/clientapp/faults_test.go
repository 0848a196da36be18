package clientapp

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPollingWhenWebSocketRefused(t *testing.T) {
	srv := startServer(t)
	px := startProxy(t, srv.URL)
	px.refuseWS.Store(true)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	ca := startClient(t, "A", px.URL, tok, a, "--realtime", "--interval", "300ms")
	cb := startClient(t, "B", px.URL, tok, b, "--realtime", "--interval", "300ms")
	writeFile(t, filepath.Join(a, "polled.txt"), "via polling")
	eventually(t, waitLong, "A→B by polling", fileIs(filepath.Join(b, "polled.txt"), "via polling"))
	os.Remove(filepath.Join(b, "polled.txt"))
	eventually(t, waitLong, "delete B→A by polling", gone(filepath.Join(a, "polled.txt")))
	if strings.Contains(ca.logs.String(), "live connection up") || strings.Contains(cb.logs.String(), "live connection up") {
		t.Fatal("a live connection came up through a proxy that refuses upgrades")
	}
	// Upgrades allowed again: the client reconnects (backoff) and goes live.
	px.refuseWS.Store(false)
	eventually(t, 2*waitLong, "reconnect", func() bool { return strings.Contains(cb.logs.String(), "live connection up") })
}

func TestKilledMidDownload(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	big := make([]byte, 4<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(a, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(a, "small.txt"), "small")
	if code, logs := runOnce(t, srv.URL, tok, a); code != 0 {
		t.Fatalf("A: %d %s", code, logs)
	}
	px := startProxy(t, srv.URL)
	px.throttleBS.Store(512 << 10) // 8 s for big.bin
	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "--server", px.URL, "--local-path", b, "--token-file", tok, "--once")
	cmd.Env = append(os.Environ(), "RSC_CHILD=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tmpSeen := func() bool {
		ents, _ := os.ReadDir(b)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".syncspace-tmp-") {
				fi, _ := e.Info()
				return fi != nil && fi.Size() > 0
			}
		}
		return false
	}
	eventually(t, waitLong, "download in progress", tmpSeen)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(b, "big.bin")); !os.IsNotExist(err) {
		t.Fatalf("partial file visible under its name after SIGKILL: %v", err)
	}
	// Restart: converges, no temp file left.
	if code, logs := runOnce(t, srv.URL, tok, b); code != 0 {
		t.Fatalf("B after kill: %d %s", code, logs)
	}
	got, err := os.ReadFile(filepath.Join(b, "big.bin"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big.bin after restart: %v (len %d)", err, len(got))
	}
	for name := range tree(t, b) {
		if strings.Contains(name, ".syncspace-tmp-") {
			t.Fatalf("temp file left: %s", name)
		}
	}
}

func TestInitialSyncThousandFiles(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	for i := 0; i < 1000; i++ {
		writeFile(t, filepath.Join(a, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%04d.txt", i)), fmt.Sprintf("content %d", i))
	}
	if code, logs := runOnce(t, srv.URL, tok, a); code != 0 {
		t.Fatalf("A: %d %s", code, logs)
	}
	start := time.Now()
	if code, logs := runOnce(t, srv.URL, tok, b, "--initial-sync"); code != 0 {
		t.Fatalf("B: %d %s", code, logs)
	}
	t.Logf("initial sync of 1000 files: %v", time.Since(start))
	if !sameTree(t, a, b)() {
		t.Fatal("trees differ after initial sync")
	}
	// A second --once finds nothing to do.
	code, logs := runOnce(t, srv.URL, tok, b)
	if code != 0 || strings.Contains(logs, "downloaded") || strings.Contains(logs, "uploaded") {
		t.Fatalf("second pass not idle: %d %s", code, logs)
	}
}

func TestIgnoreRules(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, ".syncignore"), "*.log\nbuild/\n!keep.log\n!Thumbs.db\n")
	for _, f := range []string{"a.txt", "x.log", "keep.log", "build/out.bin", "src/build/o.bin", ".DS_Store",
		"sub/desktop.ini", "~$doc.docx", ".~lock.doc.odt#", "Thumbs.db", "src/main.go"} {
		writeFile(t, filepath.Join(a, f), f)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(a, "link")); err != nil {
		t.Fatal(err)
	}
	if code, logs := runOnce(t, srv.URL, tok, a); code != 0 {
		t.Fatalf("A: %d %s", code, logs)
	}
	if code, logs := runOnce(t, srv.URL, tok, b); code != 0 {
		t.Fatalf("B: %d %s", code, logs)
	}
	got := tree(t, b)
	want := map[string]string{".syncignore": "*.log\nbuild/\n!keep.log\n!Thumbs.db\n", "a.txt": "a.txt", "keep.log": "keep.log",
		"Thumbs.db": "Thumbs.db", "src": "/", "src/main.go": "src/main.go", "sub": "/"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("B %s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("B has %s, which should have been ignored", k)
		}
	}
	// B's own ignored files are never uploaded and never deleted.
	writeFile(t, filepath.Join(b, "b.log"), "local only")
	if code, logs := runOnce(t, srv.URL, tok, b); code != 0 {
		t.Fatalf("B again: %d %s", code, logs)
	}
	mustOnce(t, srv.URL, tok, a)
	if _, err := os.Stat(filepath.Join(a, "b.log")); !os.IsNotExist(err) {
		t.Fatal("ignored file uploaded")
	}
	if _, err := os.Stat(filepath.Join(b, "b.log")); err != nil {
		t.Fatal("ignored file deleted")
	}
}

func TestMassDeleteGuard(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	for i := 0; i < 150; i++ {
		writeFile(t, filepath.Join(a, fmt.Sprintf("f%03d.txt", i)), fmt.Sprint(i))
	}
	mustOnce(t, srv.URL, tok, a)
	mustOnce(t, srv.URL, tok, b)
	for i := 0; i < 150; i++ {
		os.Remove(filepath.Join(a, fmt.Sprintf("f%03d.txt", i)))
	}
	code, logs := runOnce(t, srv.URL, tok, a)
	if code != 1 || !strings.Contains(logs, "mass delete") || !strings.Contains(logs, "--allow-mass-delete") {
		t.Fatalf("guard did not trip: %d %s", code, logs)
	}
	mustOnce(t, srv.URL, tok, b)
	if n := len(tree(t, b)); n != 150 {
		t.Fatalf("B lost files although the guard tripped: %d left", n)
	}
	// A running client stops too.
	c := startClient(t, "A", srv.URL, tok, a)
	code, ok := c.exited(waitLong)
	if !ok || code != 1 {
		t.Fatalf("running client did not stop on the guard: %v %d", ok, code)
	}
	if code, logs := runOnce(t, srv.URL, tok, a, "--allow-mass-delete"); code != 0 {
		t.Fatalf("allowed: %d %s", code, logs)
	}
	mustOnce(t, srv.URL, tok, b, "--allow-mass-delete")
	if n := len(tree(t, b)); n != 0 {
		t.Fatalf("B still has %d files", n)
	}
}

func TestVanishedRootStops(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	parent := t.TempDir()
	a := filepath.Join(parent, "mnt")
	os.Mkdir(a, 0o755)
	writeFile(t, filepath.Join(a, "precious.txt"), "precious")
	c := startClient(t, "A", srv.URL, tok, a, "--realtime")
	b := t.TempDir()
	eventually(t, waitLong, "synced", func() bool {
		code, _ := runOnce(t, srv.URL, tok, b)
		return code == 0 && fileIs(filepath.Join(b, "precious.txt"), "precious")()
	})
	// The disk goes away: the folder is replaced by an empty mount point, at once, as
	// an unmount does (not file by file: an rm -rf that the client caught between two
	// of its unlinks would be a user's deletes, fairly sent on).
	if err := os.Rename(a, a+"-unmounted"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(a, 0o755); err != nil {
		t.Fatal(err)
	}
	code, ok := c.exited(waitLong)
	if !ok || code != 1 || !strings.Contains(c.logs.String(), "vanished") {
		t.Fatalf("client did not stop: %v %d\n%s", ok, code, c.logs.String())
	}
	b2 := t.TempDir()
	mustOnce(t, srv.URL, tok, b2)
	if !fileIs(filepath.Join(b2, "precious.txt"), "precious")() {
		t.Fatal("remote file deleted after the local folder vanished")
	}
	_ = context.Background
}

func TestSIGINTExitsCleanlyWithStateSaved(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "s.txt"), "saved")
	mustOnce(t, srv.URL, tok, a)
	cmd := exec.Command(os.Args[0], "-test.run=^$", "--", "--server", srv.URL, "--local-path", b, "--token-file", tok, "--realtime")
	cmd.Env = append(os.Environ(), "RSC_CHILD=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, waitLong, "child synced", fileIs(filepath.Join(b, "s.txt"), "saved"))
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, out.String())
		}
	case <-time.After(waitLong):
		cmd.Process.Kill()
		t.Fatal("no exit after SIGINT")
	}
	st, err := os.ReadFile(filepath.Join(b, ".syncspace", "state.json"))
	if err != nil || !strings.Contains(string(st), `"s.txt"`) {
		t.Fatalf("state not saved: %v %s", err, st)
	}
	// The lock is released: another client can take the folder at once.
	if code, logs := runOnce(t, srv.URL, tok, b); code != 0 {
		t.Fatalf("restart: %d %s", code, logs)
	}
}

func TestSecondClientOnSameFolderRefused(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a := t.TempDir()
	c := startClient(t, "A", srv.URL, tok, a, "--realtime")
	eventually(t, waitLong, "A running", func() bool { return strings.Contains(c.logs.String(), "live connection up") })
	code, logs := runOnce(t, srv.URL, tok, a)
	if code != 1 || !strings.Contains(logs, "already syncing") {
		t.Fatalf("second client on the same folder: %d %s", code, logs)
	}
}
