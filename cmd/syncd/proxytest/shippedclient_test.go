//go:build !windows

package proxytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/internal/testbin"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
)

// TestShippedConfClient runs the real client through docs/deploy/syncd.nginx.conf
// over https and wss (HTTP/2 for content): a 3 MiB upload (above nginx's default body
// limit), a delta upload of a change in it, a change by another client arriving live
// after the socket has been idle longer than the proxy's read timeout (syncd's pings
// keep it open), and syncd restarted behind the proxy (nginx answers 502 meanwhile):
// the client reconnects and a later change still arrives.
func TestShippedConfClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the client")
	}
	e := startShipped(t)
	c := clientFrom("127.0.0.1", e.trust)
	dir, out := startClient(t, e)

	content := make([]byte, 3<<20)
	if _, err := rand.Read(content); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "big.bin"), content)
	waitFor(t, "big.bin on the server", func() bool {
		code, body, _ := do(t, c, "GET", e.base+"/api/files/big.bin", e.write, nil, nil)
		return code == 200 && body == string(content)
	})
	changeUntilDelta(t, e, c, dir, content)

	time.Sleep(4 * time.Second) // longer than nginx's proxy_read_timeout (3 s)
	putAndWait(t, e, c, dir, "live.txt")
	if strings.Contains(out.String(), "live connection down") {
		t.Error("the live connection went down before syncd was restarted")
	}

	if err := e.srv.Restart(context.Background(), e.srv.Addr()); err != nil {
		t.Fatalf("restart syncd: %v", err)
	}
	putAndWait(t, e, c, dir, "after-restart.txt")
}

// changeUntilDelta changes 4 KiB in the middle of dir/big.bin (holding content) and
// waits for the server to hold the result, until one change went up as a delta
// through the proxy (POST /api/delta answered 200), at most three times: the client
// may send a change whole instead (a delta is an optimisation it can give up, e.g.
// when its read is slow), which a loaded machine makes happen now and then.
func changeUntilDelta(t *testing.T, e *shipped, c *http.Client, dir string, content []byte) {
	t.Helper()
	const delta = "method=POST path=/api/delta/big.bin route=/api/delta/* status=200"
	for i := 0; i < 3 && !strings.Contains(e.logs.String(), delta); i++ {
		copy(content[1<<20+i*4096:], bytes.Repeat([]byte(fmt.Sprintf("change%d ", i)), 512))
		writeFile(t, filepath.Join(dir, "big.bin"), content)
		waitFor(t, "the changed big.bin on the server", func() bool {
			code, body, _ := do(t, c, "GET", e.base+"/api/files/big.bin", e.write, nil, nil)
			return code == 200 && body == string(content)
		})
	}
	if !strings.Contains(e.logs.String(), delta) {
		t.Error("three changes of big.bin, none went up as a delta (no POST /api/delta/big.bin answered 200)")
	}
}

// startClient runs realtime-sync-client --realtime against e's proxy with e's write
// token and returns its folder and its output.
func startClient(t *testing.T, e *shipped) (string, *syncdtest.Buffer) {
	t.Helper()
	dir, tok := t.TempDir(), filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte(e.write+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncdtest.Buffer{}
	cmd := exec.Command(testbin.Path(t, testbin.Client), "--server", e.base, "--ca-file", e.certFile,
		"--local-path", dir, "--token-file", tok, "--realtime")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("client output:\n%s", out.Tail(40))
		}
	})
	waitFor(t, "the client's live connection", func() bool { return strings.Contains(out.String(), "live connection up") })
	return dir, out
}

// putAndWait uploads name through the proxy (retrying while syncd is away: nginx
// answers 502) and waits for the client to write it into dir.
func putAndWait(t *testing.T, e *shipped, c *http.Client, dir, name string) {
	t.Helper()
	waitFor(t, "PUT "+name+" through the proxy", func() bool {
		code, _, _ := do(t, c, "PUT", e.base+"/api/files/"+name, e.write, strings.NewReader(name), nil)
		return code == http.StatusCreated
	})
	waitFor(t, name+" in the client's folder", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return err == nil && string(b) == name
	})
}

// writeFile replaces path by a file holding b, written beside the synced folder and
// renamed into it.
func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
