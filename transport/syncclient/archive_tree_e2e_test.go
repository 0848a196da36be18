package syncclient_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// TestTreeArchiveOldServer: a server that ignores dirs=1 (no X-Archive-Dirs in its
// answer) makes the first sync list and plan as before.
func TestTreeArchiveOldServer(t *testing.T) {
	s := startSyncd(t, 200)
	target, _ := url.Parse(s.base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		r.Header.Del("X-Archive-Dirs")
		return nil
	}
	fake := httptest.NewServer(proxy)
	defer fake.Close()
	dir := t.TempDir()
	cr, logs := syncOnce(t, fake.URL, s.token, dir)
	checkTree(t, dir, s.files, logs)
	if cr.trees.Load() != 1 || cr.lists.Load() != 1 || cr.archives.Load() != 1 || cr.downloads.Load() != 0 {
		t.Fatalf("%d archives of the tree, %d listings, %d archives, %d downloads; want 1, 1, 1, 0\n%s",
			cr.trees.Load(), cr.lists.Load(), cr.archives.Load(), cr.downloads.Load(), tail(logs))
	}
}

// treeBody returns the server's archive of the tree (dirs=1) without its end blocks,
// and its answer headers.
func treeBody(t *testing.T, s *server) ([]byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/api/archive?dirs=1", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Archive-Dirs") != "1" {
		t.Fatalf("archive: %d %v %v", resp.StatusCode, resp.Header, err)
	}
	for len(b) >= 512 && bytes.Count(b[len(b)-512:], []byte{0}) == 512 {
		b = b[:len(b)-512]
	}
	return b, resp.Header
}

// rawTar writes entries (no end blocks): a body of nil writes none.
func rawTar(t *testing.T, hdrs []*tar.Header, bodies [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, h := range hdrs {
		if h.Format == tar.FormatUnknown {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		tw.Write(bodies[i])
	}
	tw.Flush()
	return buf.Bytes()
}

// TestHostileTreeArchive: an archive of the tree (X-Archive-Dirs: 1) with hostile
// entries before, among or after the server's: nothing escapes the folder or reaches
// the state dir, nothing hostile is written, the folder ends as the server's tree.
// A bad name cuts the archive (the pass then lists); a repeated name or a directory
// over a file is skipped.
func TestHostileTreeArchive(t *testing.T) {
	s := startSyncd(t, 200)
	good, hdr := treeBody(t, s)
	evil := []byte("evil")
	file := func(name string, body []byte, hash string) (*tar.Header, []byte) {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(body)), Mode: 0o644,
			PAXRecords: map[string]string{"comment": protocol.ArchiveComment(hash, 1)}}, body
	}
	dirEntry := func(name, hash string) (*tar.Header, []byte) {
		return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755,
			PAXRecords: map[string]string{"comment": protocol.ArchiveComment(hash, 1)}}, nil
	}
	one := func(h *tar.Header, b []byte) []byte { return rawTar(t, []*tar.Header{h}, [][]byte{b}) }
	end := make([]byte, 1024)
	cases := []struct {
		name        string
		before      []byte // hostile entries before the server's
		after       []byte // after them
		wantListing bool   // the archive is cut: the pass lists
	}{
		{name: "dotdot first", before: one(file("../escape.txt", evil, hashOf(evil))), wantListing: true},
		{name: "dotdot last", after: one(file("../escape.txt", evil, hashOf(evil))), wantListing: true},
		{name: "absolute", after: one(file("/abs.txt", evil, hashOf(evil))), wantListing: true},
		{name: "state dir", after: one(file(".syncspace/state.json", evil, hashOf(evil))), wantListing: true},
		{name: "temp name the folder ignores", after: one(file(".syncspace-tmp-planted", evil, hashOf(evil)))},
		{name: "over-long name", after: one(file(strings.Repeat("n", 300), evil, hashOf(evil))), wantListing: true},
		{name: "dotdot directory", after: one(dirEntry("../up/", "")), wantListing: true},
		{name: "directory with a hash", after: one(dirEntry("newdir/", hashOf(evil))), wantListing: true},
		{name: "directory without its slash", after: one(&tar.Header{Typeflag: tar.TypeDir, Name: "nodslash", Mode: 0o755,
			PAXRecords: map[string]string{"comment": protocol.ArchiveComment("", 1)}}, nil), wantListing: true},
		{name: "symlink", after: one(&tar.Header{Typeflag: tar.TypeSymlink, Name: "d00/link", Linkname: "/etc"}, nil), wantListing: true},
		{name: "directory over a file", after: one(dirEntry("d00/f0000.txt/", ""))},
		{name: "repeated name", after: one(file("d03/f0003.txt", evil, hashOf(evil)))},
		{name: "repeated name, content not its hash", after: one(file("d03/f0003.txt", evil, hashOf(s.files["d03/f0003.txt"])))},
	}
	target, _ := url.Parse(s.base)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxy := httputil.NewSingleHostReverseProxy(target)
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/archive" || r.URL.Query().Get("dirs") != "1" {
					proxy.ServeHTTP(w, r)
					return
				}
				for _, k := range []string{"Content-Type", "X-Sync-Epoch", "X-Sync-Seq", "X-Archive-Dirs"} {
					w.Header().Set(k, hdr.Get(k))
				}
				w.Write(tc.before)
				w.Write(good)
				w.Write(tc.after)
				w.Write(end)
			}))
			defer fake.Close()
			parent := t.TempDir()
			dir := filepath.Join(parent, "root")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			cr, logs := syncOnce(t, fake.URL, s.token, dir)
			checkTree(t, dir, s.files, logs)
			if cr.trees.Load() != 1 || (cr.lists.Load() == 1) != tc.wantListing {
				t.Fatalf("%d archives of the tree, %d listings (listing wanted: %v)\n%s", cr.trees.Load(), cr.lists.Load(), tc.wantListing, tail(logs))
			}
			for _, p := range []string{"escape.txt", "up", "abs.txt"} {
				if _, err := os.Lstat(filepath.Join(parent, p)); err == nil {
					t.Fatalf("%s escaped the folder", p)
				}
			}
			if _, err := os.Lstat(filepath.Join(dir, "newdir")); err == nil {
				t.Fatal("a directory entry with a hash was made")
			}
			// The state vouches for nothing hostile.
			b, err := os.ReadFile(filepath.Join(dir, ".syncspace", "state.json"))
			if err != nil || !bytes.Contains(b, []byte(hashOf(s.files["d03/f0003.txt"]))) || bytes.Contains(b, []byte(hashOf(evil))) {
				t.Fatalf("state: %v\n%.300s", err, b)
			}
		})
	}
}

// changingRemote changes the server while the engine reads the archive of the tree:
// at the entry named at, once, change runs.
type changingRemote struct {
	*countingRemote
	at     string
	change func()
}

func (c *changingRemote) ArchiveTree(ctx context.Context) (engine.TreeReader, error) {
	rd, err := c.countingRemote.ArchiveTree(ctx)
	if err != nil {
		return nil, err
	}
	return &changingReader{TreeReader: rd, c: c}, nil
}

type changingReader struct {
	engine.TreeReader
	c    *changingRemote
	once sync.Once
}

func (r *changingReader) Next() (protocol.Metadata, io.Reader, error) {
	m, rd, err := r.TreeReader.Next()
	if err == nil && m.Path == r.c.at {
		r.once.Do(r.c.change)
	}
	return m, rd, err
}

// TestTreeArchiveServerChangesDuring: files changed, deleted and created on the
// server while the archive of the tree is read (before and after their place in it)
// end as the server holds them: the changes feed from the archive's seq brings them,
// without a listing.
func TestTreeArchiveServerChangesDuring(t *testing.T) {
	s := startSyncd(t, 200)
	c, err := syncclient.New(syncclient.Options{Server: s.base, Token: s.token})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(p, body string) {
		b := []byte(body)
		if _, _, err := c.Upload(ctx, p, bytes.NewReader(b), int64(len(b)), engine.UploadOptions{SHA256: hashOf(b)}); err != nil {
			t.Error(err)
		}
		s.files[p] = b
	}
	change := func() {
		put("d00/f0000.txt", "changed after the archive sent it")
		put("d09/f0009.txt", "changed before the archive reaches it")
		put("zz/new.txt", "created during the archive")
		if _, err := c.Delete(ctx, "d01/f0001.txt", engine.DeleteOptions{}); err != nil {
			t.Error(err)
		}
		delete(s.files, "d01/f0001.txt")
	}
	dir := t.TempDir()
	var cr *countingRemote
	_, logs := syncOnceWith(t, s.base, s.token, dir, func(c *countingRemote) engine.Remote {
		cr = c
		return &changingRemote{countingRemote: c, at: "d05/f0005.txt", change: change}
	})
	checkTree(t, dir, s.files, logs)
	if cr.trees.Load() != 1 || cr.lists.Load() != 0 || cr.downloads.Load() < 1 {
		t.Fatalf("%d archives of the tree, %d listings, %d downloads; want 1, 0, at least 1\n%s",
			cr.trees.Load(), cr.lists.Load(), cr.downloads.Load(), tail(logs))
	}
}

// handRemote runs hand once, at the first changes-feed request (the pass after the
// archive of the tree, once every file is written and recorded).
type handRemote struct {
	*countingRemote
	once sync.Once
	hand func()
}

func (h *handRemote) Changes(ctx context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error) {
	h.once.Do(h.hand)
	return h.countingRemote.Changes(ctx, since, epoch, limit)
}

// TestTreeSyncHandChangeFoundNext: the pass after a first sync from the archive of the
// tree does not walk the folder; files changed, deleted or created by hand while it
// runs are found by the next start's scan (the state recorded what was written) and
// synced then, nothing overwritten.
func TestTreeSyncHandChangeFoundNext(t *testing.T) {
	s := startSyncd(t, 200)
	dir := t.TempDir()
	same := []byte(strings.Repeat("H", len(s.files["d00/f0000.txt"]))) // same size, other content
	hand := func() {
		if err := os.WriteFile(filepath.Join(dir, "d00", "f0000.txt"), same, 0o644); err != nil {
			t.Error(err)
		}
		if err := os.Remove(filepath.Join(dir, "d02", "f0002.txt")); err != nil {
			t.Error(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "hand"), 0o755); err != nil {
			t.Error(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "hand", "new.txt"), []byte("made by hand"), 0o644); err != nil {
			t.Error(err)
		}
	}
	cr, logs := syncOnceWith(t, s.base, s.token, dir, func(c *countingRemote) engine.Remote {
		return &handRemote{countingRemote: c, hand: hand}
	})
	if cr.trees.Load() != 1 || cr.lists.Load() != 0 {
		t.Fatalf("%d archives of the tree, %d listings\n%s", cr.trees.Load(), cr.lists.Load(), tail(logs))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "d00", "f0000.txt")); !bytes.Equal(b, same) {
		t.Fatalf("the hand change was overwritten: %q", b)
	}
	// The next start finds all three.
	cr2, logs2 := syncOnce(t, s.base, s.token, dir)
	if cr2.trees.Load() != 0 || cr2.lists.Load() != 1 {
		t.Fatalf("next start: %d archives of the tree, %d listings", cr2.trees.Load(), cr2.lists.Load())
	}
	want := map[string][]byte{}
	for p, b := range s.files {
		want[p] = b
	}
	want["d00/f0000.txt"] = same
	delete(want, "d02/f0002.txt")
	want["hand/new.txt"] = []byte("made by hand")
	checkTree(t, dir, want, logs2)
	c, err := syncclient.New(syncclient.Options{Server: s.base, Token: s.token})
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range map[string][]byte{"d00/f0000.txt": same, "hand/new.txt": []byte("made by hand")} {
		var buf bytes.Buffer
		if _, err := c.Download(context.Background(), p, &buf); err != nil || !bytes.Equal(buf.Bytes(), b) {
			t.Fatalf("server %s: %q %v\n%s", p, buf.Bytes(), err, tail(logs2))
		}
	}
	if _, err := c.Download(context.Background(), "d02/f0002.txt", io.Discard); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatalf("d02/f0002.txt deleted by hand is still on the server: %v\n%s", err, tail(logs2))
	}
}
