package clientapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// scopedToken issues a write token of subject bob on t1 limited to paths (SPEC §7.5).
func scopedToken(t *testing.T, srv *server, paths ...string) string {
	t.Helper()
	tok, _, err := srv.D.Auth().IssueTenant(context.Background(), auth.TenantTokenRequest{
		Tenant: "t1", Subject: "bob", Role: "write", TTL: time.Hour, Paths: paths,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// put uploads content to p through c (a whole-tenant client of the test).
func put(t *testing.T, c engine.Remote, p, content string) {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	o := engine.UploadOptions{SHA256: hex.EncodeToString(sum[:])}
	if _, _, err := c.Upload(context.Background(), p, strings.NewReader(content), int64(len(content)), o); err != nil {
		t.Errorf("upload %s: %v", p, err)
	}
}

// onServer reports whether p holds content on the server.
func onServer(c engine.Remote, p, content string) func() bool {
	return func() bool {
		var b strings.Builder
		_, err := c.Download(context.Background(), p, &b)
		return err == nil && b.String() == content
	}
}

// A local name outside a path-scoped token's paths is one the server refuses (404 on
// PUT and mkdir, SPEC §7.5): it is reported once and kept, never retried in a loop
// (SPEC §1), while the rest of the folder syncs.
func TestScopedTokenLocalNameOutsideReportedOnce(t *testing.T) {
	srv := startServer(t)
	rc := realClient(t, srv.URL, srv.Token)
	tok := writeToken(t, scopedToken(t, srv, "proj"))
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "outside.txt"), "o")
	if err := os.Mkdir(filepath.Join(dir, "outdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "proj", "in.txt"), "in")
	c := startClient(t, "B", srv.URL, tok, dir, "--realtime")
	eventually(t, waitLong, "proj/in.txt uploaded", onServer(rc, "proj/in.txt", "in"))
	eventually(t, waitLong, "both names reported", func() bool {
		l := c.logs.String()
		return strings.Contains(l, "path=outside.txt") && strings.Contains(l, "path=outdir")
	})
	time.Sleep(3 * time.Second) // the first retry of a failed step comes after 2 s
	logs := c.logs.String()
	if strings.Contains(logs, "sync step failed") {
		t.Errorf("a name outside the token's paths is retried as a failure:\n%s", logs)
	}
	if n := strings.Count(logs, "kept but not synced"); n != 2 {
		t.Errorf("%d refusal reports, want one per name:\n%s", n, logs)
	}
	for _, p := range []string{"outside.txt", "outdir"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s not kept: %v", p, err)
		}
	}
	var sink strings.Builder
	if _, err := rc.Download(context.Background(), "outside.txt", &sink); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Errorf("outside.txt on the server: %v", err)
	}
}

// listCounter is the real client with its full listings counted (each one is a full
// reconcile) and, once, a hook run after the first upload succeeded.
type listCounter struct {
	*syncclient.Client
	lists       atomic.Int32
	afterUpload func()
	once        sync.Once
}

func (r *listCounter) List(ctx context.Context, head func(string, int64) error, each func(protocol.Metadata) error) error {
	r.lists.Add(1)
	return r.Client.List(ctx, head, each)
}

func (r *listCounter) Upload(ctx context.Context, p string, body io.Reader, size int64, o engine.UploadOptions) (protocol.Metadata, bool, error) {
	m, created, err := r.Client.Upload(ctx, p, body, size, o)
	if err == nil && r.afterUpload != nil {
		r.once.Do(r.afterUpload)
	}
	return m, created, err
}

// A path-scoped token sees gaps in seq (changes outside its paths) and a directory
// moved in as several Creates with one seq (SPEC §7.5): a client on such a token
// takes them as they are, live or polling, without a failed pass or a full
// reconcile per event, and gets every file moved in.
func TestScopedTokenAcceptsGapsInSeq(t *testing.T) {
	for _, realtime := range []bool{true, false} {
		t.Run(fmt.Sprintf("realtime=%v", realtime), func(t *testing.T) {
			srv := startServer(t)
			rc := realClient(t, srv.URL, srv.Token)
			put(t, rc, "proj/x.txt", "x")
			r := &listCounter{Client: realClient(t, srv.URL, scopedToken(t, srv, "proj"))}
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "proj", "mine.txt"), "mine") // not an empty folder: a listing
			logs := &syncBuf{}
			e, err := engine.Open(engine.Options{Root: dir, Remote: r, Realtime: realtime,
				Interval: 200 * time.Millisecond, RescanInterval: time.Hour,
				Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("engine: %v", err)
				}
				e.Close()
				if t.Failed() {
					t.Logf("engine logs:\n%s", logs.String())
				}
			}()
			eventually(t, waitLong, "first sync", func() bool {
				return fileIs(filepath.Join(dir, "proj", "x.txt"), "x")() && onServer(rc, "proj/mine.txt", "mine")()
			})
			if realtime {
				eventually(t, waitLong, "live", func() bool { return strings.Contains(logs.String(), "live connection up") })
			}
			lists := r.lists.Load()
			for i := range 3 {
				put(t, rc, fmt.Sprintf("other/d/f%d.txt", i), fmt.Sprint(i)) // outside: gaps
				put(t, rc, fmt.Sprintf("proj/in%d.txt", i), fmt.Sprint(i))
				eventually(t, waitLong, "in", fileIs(filepath.Join(dir, "proj", fmt.Sprintf("in%d.txt", i)), fmt.Sprint(i)))
			}
			if _, err := rc.Move(context.Background(), "other/d", "proj/d", "", "mover"); err != nil {
				t.Fatal(err)
			}
			eventually(t, waitLong, "the moved-in directory", func() bool {
				for i := range 3 {
					if !fileIs(filepath.Join(dir, "proj", "d", fmt.Sprintf("f%d.txt", i)), fmt.Sprint(i))() {
						return false
					}
				}
				return true
			})
			if n := r.lists.Load() - lists; n != 0 {
				t.Errorf("%d full listings after the first sync, want 0 (a gap in seq is not a lost event here)", n)
			}
			if l := logs.String(); strings.Contains(l, "sync pass failed") {
				t.Errorf("a pass failed on a gap in seq")
			}
		})
	}
}

// --once with a path-scoped token ends with exit 0 (agreed) when changes outside its
// paths happen while it runs: the changes feed then answers a seq past its events.
func TestScopedTokenOnceWithChangesOutside(t *testing.T) {
	srv := startServer(t)
	rc := realClient(t, srv.URL, srv.Token)
	put(t, rc, "proj/x.txt", "x")
	r := &listCounter{Client: realClient(t, srv.URL, scopedToken(t, srv, "proj"))}
	r.afterUpload = func() { put(t, rc, "other/late.txt", "late") } // another user, outside
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "proj", "mine.txt"), "mine")
	logs := &syncBuf{}
	e, err := engine.Open(engine.Options{Root: dir, Remote: r, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	agreed, err := e.SyncOnce(ctx)
	if err != nil || !agreed {
		t.Fatalf("SyncOnce: agreed %v, err %v\n%s", agreed, err, logs.String())
	}
	if !onServer(rc, "proj/mine.txt", "mine")() || !fileIs(filepath.Join(dir, "proj", "x.txt"), "x")() {
		t.Fatalf("not synced: %v", tree(t, dir))
	}
}

// A folder above a path-scoped token's paths (listed as an ancestor, SPEC §7.5)
// deleted locally with everything under it: the files inside the paths are deleted on
// the server, not taken as deleted when the server answers 404 for the ancestor.
func TestScopedTokenDeleteAboveThePaths(t *testing.T) {
	srv := startServer(t)
	rc := realClient(t, srv.URL, srv.Token)
	put(t, rc, "a/b/f.txt", "f")
	put(t, rc, "a/b/g.txt", "g")
	put(t, rc, "a/other.txt", "o")
	tok := writeToken(t, scopedToken(t, srv, "a/b"))
	dir := t.TempDir()
	mustOnce(t, srv.URL, tok, dir)
	if !fileIs(filepath.Join(dir, "a", "b", "f.txt"), "f")() {
		t.Fatalf("first sync: %v", tree(t, dir))
	}
	if err := os.RemoveAll(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	code, logs := runOnce(t, srv.URL, tok, dir)
	for _, p := range []string{"a/b/f.txt", "a/b/g.txt"} {
		if onServer(rc, p, p[len(p)-5:len(p)-4])() {
			t.Errorf("%s still on the server after its local delete (exit %d)\n%s", p, code, logs)
		}
	}
	if !onServer(rc, "a/other.txt", "o")() {
		t.Error("a/other.txt, outside the token's paths, is gone")
	}
	mustOnce(t, srv.URL, tok, dir)
	if _, err := os.Lstat(filepath.Join(dir, "a", "b", "f.txt")); err == nil {
		t.Errorf("a/b/f.txt came back: %v", tree(t, dir))
	}
}
