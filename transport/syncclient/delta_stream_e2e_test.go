package syncclient_test

// The streamed delta upload end to end: the scan leaves an edited large file
// unhashed, and its upload reads it once while the op stream goes out, the whole-file
// hash last ('H' op).

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// streamRemote is a deltaRemote that records the delta uploads' declared hashes and
// lets a test act when a whole upload starts or when a delta body is first read.
type streamRemote struct {
	*deltaRemote
	mu       sync.Mutex
	declared []string // o.SHA256 of each delta upload ("" = hash in the stream)
	onUpload func()
	onBody   func() // once, at the first read of a delta body
}

func (r *streamRemote) Upload(ctx context.Context, p string, body io.Reader, size int64, o engine.UploadOptions) (protocol.Metadata, bool, error) {
	if r.onUpload != nil {
		r.onUpload()
	}
	return r.deltaRemote.Upload(ctx, p, body, size, o)
}

func (r *streamRemote) UploadDelta(ctx context.Context, p string, body io.ReadCloser, o engine.UploadOptions) (protocol.Metadata, bool, error) {
	r.mu.Lock()
	r.declared = append(r.declared, o.SHA256)
	r.mu.Unlock()
	if r.onBody != nil {
		body = &firstRead{ReadCloser: body, fn: r.onBody}
	}
	return r.deltaRemote.UploadDelta(ctx, p, body, o)
}

func (r *streamRemote) takeDeclared() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.declared
	r.declared = nil
	return d
}

type firstRead struct {
	io.ReadCloser
	once sync.Once
	fn   func()
}

func (f *firstRead) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if n > 0 {
		f.once.Do(f.fn)
	}
	return n, err
}

// streamPair is deltaPair with A on a streamRemote.
func streamPair(t *testing.T, name string, base []byte) (a *deltaSide, ar *streamRemote, b *deltaSide, check *syncclient.Client) {
	t.Helper()
	a0, b, px, srv, tok := deltaPair(t, name, base)
	a0.e.Close()
	ar = &streamRemote{deltaRemote: a0.remote}
	a = &deltaSide{dir: a0.dir, remote: a0.remote, logs: &logBuf{}}
	var err error
	a.e, err = engine.Open(engine.Options{Root: a.dir, Remote: ar,
		Logger: slog.New(slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.e.Close() })
	a.sync(t) // reopened: nothing to do
	a.remote.counts()
	px.reset()
	check, err = syncclient.New(syncclient.Options{Server: srv.URL, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	return a, ar, b, check
}

func serverHas(t *testing.T, c *syncclient.Client, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := c.Download(context.Background(), name, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// writeLater writes b to name with an mtime of at, so that an edit is seen as one
// whatever the file system's time stamps.
func (s *deltaSide) writeAt(t *testing.T, name string, b []byte, at time.Time) {
	t.Helper()
	s.write(t, name, b)
	if err := os.Chtimes(filepath.Join(s.dir, name), at, at); err != nil {
		t.Fatal(err)
	}
}

// TestDeltaStreamedUpload: an edit of a synced large file goes up as a streamed
// delta (no X-Content-SHA256: the hash comes last, from the upload's own read), the
// server stores exactly the file, and the next pass has nothing to do (the hash the
// upload took is recorded, with the chunk list for the next delta).
func TestDeltaStreamedUpload(t *testing.T) {
	const name = "big/data.bin"
	base := pseudoRandom(12<<20, 11)
	a, ar, b, check := streamPair(t, name, base)
	when := time.Now().Add(-time.Hour)
	cur := base
	for i, ed := range []func([]byte) []byte{
		func(c []byte) []byte { c = bytes.Clone(c); c[len(c)/2] ^= 1; return c },
		func(c []byte) []byte {
			return append(append(append([]byte{}, c[:len(c)/3]...), bytes.Repeat([]byte{'+'}, 100)...), c[len(c)/3:]...)
		},
	} {
		cur = ed(cur)
		when = when.Add(time.Minute)
		a.writeAt(t, name, cur, when)
		a.sync(t)
		if n := a.remote.counts(); n != [4]int64{0, 0, 1, 0} {
			t.Fatalf("edit %d: transfers %v, want one delta upload\n%s", i, n, tail(a.logs.String()))
		}
		if d := ar.takeDeclared(); len(d) != 1 || d[0] != "" {
			t.Fatalf("edit %d: delta uploads declared %q, want one streamed (no header)", i, d)
		}
		if !strings.Contains(a.logs.String(), "uploaded as streamed delta") {
			t.Fatalf("edit %d: no streamed delta in the logs\n%s", i, tail(a.logs.String()))
		}
		if got := serverHas(t, check, name); !bytes.Equal(got, cur) {
			t.Fatalf("edit %d: the server holds other content", i)
		}
		a.sync(t)
		if n := a.remote.counts(); n != [4]int64{} {
			t.Fatalf("edit %d: A transfers again: %v", i, n)
		}
		b.sync(t)
		if !bytes.Equal(b.read(t, name), cur) {
			t.Fatalf("edit %d: B's file differs", i)
		}
	}
}

// TestDeltaStreamBrokenOff: mostly new content is sent as a delta until its
// literals pass half the file; the request is then broken off, the server keeps the
// old content (checked when the whole upload starts), and the whole upload stores
// the new one.
func TestDeltaStreamBrokenOff(t *testing.T) {
	const name = "f.bin"
	base := pseudoRandom(6<<20, 12)
	a, ar, b, check := streamPair(t, name, base)
	next := pseudoRandom(6<<20, 13)
	var sawOld bool
	ar.onUpload = func() {
		sawOld = bytes.Equal(serverHas(t, check, name), base)
	}
	a.writeAt(t, name, next, time.Now().Add(-time.Hour))
	a.sync(t)
	if n := a.remote.counts(); n != [4]int64{1, 0, 1, 0} {
		t.Fatalf("transfers %v, want a broken-off delta then a whole upload\n%s", n, tail(a.logs.String()))
	}
	if !sawOld {
		t.Fatal("the broken-off delta changed the server's content")
	}
	if got := serverHas(t, check, name); !bytes.Equal(got, next) {
		t.Fatal("the server holds other content")
	}
	b.sync(t)
	if !bytes.Equal(b.read(t, name), next) {
		t.Fatal("B's file differs")
	}
	a.sync(t)
	if n := a.remote.counts(); n != [4]int64{} {
		t.Fatalf("A transfers again: %v", n)
	}
}

// TestDeltaStreamFileChangedDuringUpload: the file is edited again while its
// streamed delta is on the way. Whatever the upload read is what the server checks
// against the stream's hash; the edit is then seen (its stat differs from the one
// recorded) and uploaded too: in the end the server and B hold the last content.
func TestDeltaStreamFileChangedDuringUpload(t *testing.T) {
	const name = "f.bin"
	base := pseudoRandom(24<<20, 14)
	a, ar, b, check := streamPair(t, name, base)
	v1 := bytes.Clone(base)
	v1[len(v1)/2] ^= 1
	v2 := bytes.Clone(v1)
	v2[1000] ^= 1         // read already when the body starts
	v2[len(v2)-1000] ^= 1 // perhaps not yet
	when := time.Now().Add(-time.Hour)
	var once sync.Once
	ar.onBody = func() {
		once.Do(func() { a.writeAt(t, name, v2, when.Add(time.Minute)) })
	}
	a.writeAt(t, name, v1, when)
	a.sync(t) // SyncOnce runs passes until both sides agree
	ar.onBody = nil
	if got := serverHas(t, check, name); !bytes.Equal(got, v2) {
		t.Fatalf("the server holds other content (v1: %v)\n%s", bytes.Equal(got, v1), tail(a.logs.String()))
	}
	b.sync(t)
	if !bytes.Equal(b.read(t, name), v2) {
		t.Fatal("B's file differs")
	}
	a.remote.counts()
	a.sync(t)
	if n := a.remote.counts(); n != [4]int64{} {
		t.Fatalf("A transfers again: %v", n)
	}
	t.Logf("%s", grepLines(a.logs.String(), "upload"))
}

// TestDeltaStreamRefused: a streamed delta the server refuses (here the quota, as
// the hook answers) is reported once with the hash of the refused content, taken
// from the file since the upload did not finish: later passes do not upload the same
// content again, and an edit is uploaded.
func TestDeltaStreamRefused(t *testing.T) {
	const name = "f.bin"
	base := pseudoRandom(4<<20, 15)
	a, _, _, check := streamPair(t, name, base)
	next := bytes.Clone(base)
	next[len(next)/2] ^= 1
	a.remote.beforeDeltaUpload = func() error {
		return protocol.Errorf(protocol.CodeQuotaExceeded, "refused by the test")
	}
	when := time.Now().Add(-time.Hour)
	a.writeAt(t, name, next, when)
	refusedSync := func() {
		t.Helper()
		if agreed, err := a.e.SyncOnce(context.Background()); err != nil || agreed {
			t.Fatalf("SyncOnce: agreed %v (want false: a file is refused), err %v", agreed, err)
		}
	}
	refusedSync()
	if n := a.remote.counts(); n != [4]int64{0, 0, 1, 0} {
		t.Fatalf("transfers %v, want one refused delta\n%s", n, tail(a.logs.String()))
	}
	for range 2 {
		refusedSync()
		if n := a.remote.counts(); n != [4]int64{} {
			t.Fatalf("the refused content is uploaded again: %v\n%s", n, tail(a.logs.String()))
		}
	}
	if !bytes.Equal(serverHas(t, check, name), base) {
		t.Fatal("the server's content changed")
	}
	a.remote.beforeDeltaUpload = nil
	next[10] ^= 1
	a.writeAt(t, name, next, when.Add(time.Minute))
	a.sync(t)
	if n := a.remote.counts(); n != [4]int64{0, 0, 1, 0} {
		t.Fatalf("edit after the refusal: transfers %v, want one delta\n%s", n, tail(a.logs.String()))
	}
	if !bytes.Equal(serverHas(t, check, name), next) {
		t.Fatal("the server does not hold the edit")
	}
}

// TestDeltaStreamUnchangedContent: a synced large file touched (a new mtime, the
// same bytes) is read once by its upload, which finds the base's content and breaks
// the request off: the server commits nothing (no new seq), and A records the file
// as synced.
func TestDeltaStreamUnchangedContent(t *testing.T) {
	const name = "f.bin"
	base := pseudoRandom(4<<20, 16)
	a, ar, _, check := streamPair(t, name, base)
	seq := func() int64 {
		t.Helper()
		var s int64
		err := check.List(context.Background(), func(_ string, n int64) error { s = n; return nil }, func(protocol.Metadata) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := seq()
	a.writeAt(t, name, base, time.Now().Add(-time.Hour))
	a.sync(t)
	if n := a.remote.counts(); n != [4]int64{} {
		t.Fatalf("transfers %v, want none: the content read was the base's all along\n%s", n, tail(a.logs.String()))
	}
	if d := ar.takeDeclared(); len(d) != 0 {
		t.Fatalf("declared %q, want no delta request at all", d)
	}
	if after := seq(); after != before {
		t.Fatalf("the server's seq moved from %d to %d for unchanged content", before, after)
	}
	if !strings.Contains(a.logs.String(), "delta upload not needed") {
		t.Fatalf("no unchanged-content note in the logs\n%s", tail(a.logs.String()))
	}
	a.sync(t)
	if n := a.remote.counts(); n != [4]int64{} {
		t.Fatalf("A transfers again: %v", n)
	}
}
