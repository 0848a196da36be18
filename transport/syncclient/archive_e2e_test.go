package syncclient_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// server is a real syncd on 127.0.0.1:0 holding files, with a write token.
type server struct {
	base  string
	token string
	files map[string][]byte
}

func startSyncd(t *testing.T, n int) *server {
	t.Helper()
	ctx := context.Background()
	srv := syncdtest.Start(t, syncdtest.Options{})
	srv.Tenant(t, "t", tenants.Options{})
	tok := srv.Token(t, "t", "tester", "write")
	s := &server{base: srv.URL, token: tok, files: map[string][]byte{}}
	c, err := syncclient.New(syncclient.Options{Server: s.base, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		sem = make(chan struct{}, 8)
	)
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("d%02d/f%04d.txt", i%10, i)
		body := []byte(fmt.Sprintf("file %d %s", i, strings.Repeat("z", i%300)))
		mu.Lock()
		s.files[p] = body
		mu.Unlock()
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, _, err := c.Upload(ctx, p, bytes.NewReader(body), int64(len(body)), engine.UploadOptions{SHA256: hashOf(body)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return s
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// countingRemote counts the per-file downloads, archives, archives of the tree and
// listings the engine asks for.
type countingRemote struct {
	*syncclient.Client
	downloads, archives, trees, lists atomic.Int64
}

func (c *countingRemote) ArchiveTree(ctx context.Context) (engine.TreeReader, error) {
	c.trees.Add(1)
	return c.Client.ArchiveTree(ctx)
}

func (c *countingRemote) List(ctx context.Context, head func(string, int64) error, each func(protocol.Metadata) error) error {
	c.lists.Add(1)
	return c.Client.List(ctx, head, each)
}

// noTree is a countingRemote without ArchiveTree: a first sync lists and plans.
type noTree struct {
	engine.Remote
	engine.Archiver
}

func (c *countingRemote) Download(ctx context.Context, p string, w io.Writer) (protocol.Metadata, error) {
	c.downloads.Add(1)
	return c.Client.Download(ctx, p, w)
}

func (c *countingRemote) Archive(ctx context.Context, dir string) (engine.ArchiveReader, error) {
	c.archives.Add(1)
	return c.Client.Archive(ctx, dir)
}

// syncOnce runs one pass of an engine on dir against server URL base.
func syncOnce(t *testing.T, base, token, dir string) (*countingRemote, string) {
	return syncOnceWith(t, base, token, dir, nil)
}

// syncOnceWith is syncOnce with the remote wrapped by wrap (nil: none).
func syncOnceWith(t *testing.T, base, token, dir string, wrap func(*countingRemote) engine.Remote) (*countingRemote, string) {
	t.Helper()
	c, err := syncclient.New(syncclient.Options{Server: base, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	cr := &countingRemote{Client: c}
	var remote engine.Remote = cr
	if wrap != nil {
		remote = wrap(cr)
	}
	var logs bytes.Buffer
	var lmu sync.Mutex
	lw := writerFunc(func(b []byte) (int, error) { lmu.Lock(); defer lmu.Unlock(); return logs.Write(b) })
	e, err := engine.Open(engine.Options{Root: dir, Remote: remote, Logger: slog.New(slog.NewTextHandler(lw, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < 3; i++ {
		agreed, err := e.SyncOnce(ctx)
		if err != nil {
			t.Fatalf("SyncOnce: %v\n%s", err, logs.String())
		}
		if agreed {
			break
		}
	}
	lmu.Lock()
	defer lmu.Unlock()
	return cr, logs.String()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// checkTree fails unless dir holds exactly want (besides the state dir).
func checkTree(t *testing.T, dir string, want map[string][]byte, logs string) {
	t.Helper()
	got := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel == ".syncspace" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got[filepath.ToSlash(rel)] = b
		return nil
	})
	if len(got) != len(want) {
		t.Fatalf("%d files, want %d\n%s", len(got), len(want), tail(logs))
	}
	for p, b := range want {
		if !bytes.Equal(got[p], b) {
			t.Fatalf("%s: %q, want %q\n%s", p, got[p], b, tail(logs))
		}
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}

// TestInitialSyncUsesArchive: a first sync into an empty folder reads one archive of
// the tree (GET /api/archive?dirs=1) and nothing else: no listing, no single download.
func TestInitialSyncUsesArchive(t *testing.T) {
	s := startSyncd(t, 1000)
	dir := t.TempDir()
	cr, logs := syncOnce(t, s.base, s.token, dir)
	checkTree(t, dir, s.files, logs)
	if cr.trees.Load() != 1 || cr.archives.Load() != 0 || cr.downloads.Load() != 0 || cr.lists.Load() != 0 {
		t.Fatalf("%d archives of the tree, %d archives, %d single downloads, %d listings; want 1, 0, 0, 0\n%s",
			cr.trees.Load(), cr.archives.Load(), cr.downloads.Load(), cr.lists.Load(), tail(logs))
	}
	if !strings.Contains(logs, "archive done") || !strings.Contains(logs, "written=1000") {
		t.Fatalf("archive not logged as used:\n%s", tail(logs))
	}
	// Mtimes are the server's.
	fi, err := os.Stat(filepath.Join(dir, "d03/f0003.txt"))
	if err != nil || time.Since(fi.ModTime()) > time.Hour {
		t.Fatalf("mtime: %v %v", fi.ModTime(), err)
	}
	// Nothing temporary left behind.
	if m, _ := filepath.Glob(filepath.Join(dir, "*", ".syncspace-tmp-*")); len(m) > 0 {
		t.Fatalf("temp files left: %v", m)
	}
}

// TestInitialSyncListsWithoutTree: without ArchiveTree, a first sync lists, plans and
// fetches one archive of the downloads' directory.
func TestInitialSyncListsWithoutTree(t *testing.T) {
	s := startSyncd(t, 1000)
	dir := t.TempDir()
	cr, logs := syncOnceWith(t, s.base, s.token, dir, func(cr *countingRemote) engine.Remote { return noTree{cr, cr} })
	checkTree(t, dir, s.files, logs)
	if cr.archives.Load() != 1 || cr.downloads.Load() != 0 || cr.lists.Load() != 1 {
		t.Fatalf("%d archives, %d single downloads, %d listings; want 1, 0, 1\n%s", cr.archives.Load(), cr.downloads.Load(), cr.lists.Load(), tail(logs))
	}
}

// TestSmallSyncSkipsArchive: a pass of few downloads (here a first sync of a remote
// without ArchiveTree) downloads them one by one.
func TestSmallSyncSkipsArchive(t *testing.T) {
	s := startSyncd(t, 20)
	dir := t.TempDir()
	cr, logs := syncOnceWith(t, s.base, s.token, dir, func(cr *countingRemote) engine.Remote { return noTree{cr, cr} })
	checkTree(t, dir, s.files, logs)
	if cr.archives.Load() != 0 || cr.downloads.Load() != 20 {
		t.Fatalf("%d archives, %d downloads; want 0 and 20", cr.archives.Load(), cr.downloads.Load())
	}
}

// hostileArchive builds a tar of the files with hdr applied to each header.
func hostileArchive(t *testing.T, files map[string][]byte, edit func(h *tar.Header, body []byte) []byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for p, b := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: p, Size: int64(len(b)), Mode: 0o644, ModTime: time.Now(), Format: tar.FormatPAX,
			PAXRecords: map[string]string{"SYNCSPACE.hash": hashOf(b), "SYNCSPACE.seq": "1"}}
		if edit != nil {
			b = edit(h, b)
			h.Size = int64(len(b))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	return buf.Bytes()
}

func TestHostileArchiveFallsBack(t *testing.T) {
	s := startSyncd(t, 200)
	target, _ := url.Parse(s.base)
	cases := []struct {
		name string
		body func() []byte
	}{
		{"garbage", func() []byte { return bytes.Repeat([]byte("not a tar "), 5000) }},
		{"truncated", func() []byte { b := hostileArchive(t, s.files, nil); return b[:len(b)/2+100] }},
		{"dotdot entry", func() []byte {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			evil := []byte("escaped")
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "../x", Size: int64(len(evil)), Mode: 0o644, Format: tar.FormatPAX,
				PAXRecords: map[string]string{"SYNCSPACE.hash": hashOf(evil), "SYNCSPACE.seq": "1"}})
			tw.Write(evil)
			tw.Flush()
			return append(buf.Bytes(), hostileArchive(t, s.files, nil)...)
		}},
		{"content differs from its hash", func() []byte {
			return hostileArchive(t, s.files, func(h *tar.Header, b []byte) []byte { return append([]byte("EVIL "), b...) })
		}},
		{"hash differs from the listing", func() []byte {
			return hostileArchive(t, s.files, func(h *tar.Header, _ []byte) []byte {
				b := []byte("other content")
				h.PAXRecords["SYNCSPACE.hash"] = hashOf(b)
				return b
			})
		}},
		{"symlink entry", func() []byte {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "d00", Linkname: "/etc", Format: tar.FormatPAX})
			tw.Flush()
			return append(buf.Bytes(), hostileArchive(t, s.files, nil)...)
		}},
		{"refused", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxy := httputil.NewSingleHostReverseProxy(target)
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/archive" {
					proxy.ServeHTTP(w, r)
					return
				}
				if tc.body == nil {
					http.Error(w, `{"error":{"code":"not_found","message":"no"}}`, 404)
					return
				}
				w.Header().Set("Content-Type", "application/x-tar")
				w.Write(tc.body())
			}))
			defer fake.Close()
			parent := t.TempDir()
			dir := filepath.Join(parent, "root")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			cr, logs := syncOnce(t, fake.URL, s.token, dir)
			checkTree(t, dir, s.files, logs)
			if cr.archives.Load() != 1 || cr.downloads.Load() == 0 {
				t.Fatalf("%d archives, %d downloads", cr.archives.Load(), cr.downloads.Load())
			}
			if _, err := os.Lstat(filepath.Join(parent, "x")); err == nil {
				t.Fatal("an archive entry escaped the folder")
			}
			for p := range s.files {
				if fi, err := os.Lstat(filepath.Join(dir, p)); err != nil || !fi.Mode().IsRegular() {
					t.Fatalf("%s: %v %v", p, fi, err)
				}
			}
		})
	}
}

// TestArchiveOfDirectory checks the client's reading of an archive against the real
// server's answer, including a directory request and its bounds.
func TestArchiveOfDirectory(t *testing.T) {
	s := startSyncd(t, 30)
	c, err := syncclient.New(syncclient.Options{Server: s.base, Token: s.token})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := c.Archive(context.Background(), "d04")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	n := 0
	for {
		m, r, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		if !strings.HasPrefix(m.Path, "d04/") || !bytes.Equal(b, s.files[m.Path]) || m.Hash != hashOf(b) || m.Seq <= 0 || m.Size != int64(len(b)) {
			t.Fatalf("entry %+v %q", m, b)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
	if _, err := c.Archive(context.Background(), "../x"); protocol.CodeOf(err) != protocol.CodeInvalidPath {
		t.Fatalf("bad dir: %v", err)
	}
	if _, err := c.Archive(context.Background(), "nope"); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatalf("missing dir: %v", err)
	}
}
