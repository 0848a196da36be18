package syncclient_test

// Delta transfer end to end: two real engines against a real syncd, through a
// loopback TCP proxy that counts the bytes on the wire in each direction.

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
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

// countingProxy forwards loopback TCP connections to a target and counts the bytes
// each way.
type countingProxy struct {
	ln       net.Listener
	target   string
	up, down atomic.Int64 // client → server, server → client
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *countingProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(s, c, &p.up)
		go p.pipe(c, s, &p.down)
	}
}

func (p *countingProxy) pipe(dst, src net.Conn, n *atomic.Int64) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			n.Add(int64(k))
			if _, werr := dst.Write(buf[:k]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
}

func (p *countingProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// reset returns the bytes counted so far each way and starts again from zero.
func (p *countingProxy) reset() (up, down int64) { return p.up.Swap(0), p.down.Swap(0) }

// deltaRemote counts the transfers an engine asks for and lets a test tamper with
// the delta calls.
type deltaRemote struct {
	*syncclient.Client
	uploads, downloads, deltaUps, rangeGets atomic.Int64
	// Hooks (nil = pass through).
	beforeDeltaUpload func() error
	tamperRanges      bool
	noDeltaRoutes     bool // Chunks and UploadDelta answer not_found, as a server without the routes
}

func (r *deltaRemote) Chunks(ctx context.Context, p string) (engine.ChunkList, error) {
	if r.noDeltaRoutes {
		return engine.ChunkList{}, protocol.Errorf(protocol.CodeNotFound, "no such route")
	}
	return r.Client.Chunks(ctx, p)
}

func (r *deltaRemote) Upload(ctx context.Context, p string, body io.Reader, size int64, o engine.UploadOptions) (protocol.Metadata, bool, error) {
	r.uploads.Add(1)
	return r.Client.Upload(ctx, p, body, size, o)
}

func (r *deltaRemote) Download(ctx context.Context, p string, w io.Writer) (protocol.Metadata, error) {
	r.downloads.Add(1)
	return r.Client.Download(ctx, p, w)
}

func (r *deltaRemote) UploadDelta(ctx context.Context, p string, body io.ReadCloser, o engine.UploadOptions) (protocol.Metadata, bool, error) {
	r.deltaUps.Add(1)
	if r.beforeDeltaUpload != nil {
		if err := r.beforeDeltaUpload(); err != nil {
			body.Close()
			return protocol.Metadata{}, false, err
		}
	}
	if r.noDeltaRoutes {
		body.Close()
		return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeNotFound, "no such route")
	}
	return r.Client.UploadDelta(ctx, p, body, o)
}

func (r *deltaRemote) DownloadRanges(ctx context.Context, p, hash string, ranges []engine.ByteRange, fn func(engine.ByteRange, io.Reader) error) (protocol.Metadata, error) {
	r.rangeGets.Add(1)
	if r.tamperRanges {
		inner := fn
		fn = func(br engine.ByteRange, body io.Reader) error {
			b, err := io.ReadAll(body)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x55
			return inner(br, bytes.NewReader(b))
		}
	}
	return r.Client.DownloadRanges(ctx, p, hash, ranges, fn)
}

// counts returns and clears the transfer counters: whole uploads, whole downloads,
// delta uploads, ranged GETs.
func (r *deltaRemote) counts() [4]int64 {
	return [4]int64{r.uploads.Swap(0), r.downloads.Swap(0), r.deltaUps.Swap(0), r.rangeGets.Swap(0)}
}

type deltaSide struct {
	dir    string
	remote *deltaRemote
	e      *engine.Engine
	logs   *logBuf
}

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

func openDeltaSide(t *testing.T, server, token string) *deltaSide {
	t.Helper()
	c, err := syncclient.New(syncclient.Options{Server: server, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	s := &deltaSide{dir: t.TempDir(), remote: &deltaRemote{Client: c}, logs: &logBuf{}}
	s.e, err = engine.Open(engine.Options{Root: s.dir, Remote: s.remote,
		Logger: slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.e.Close() })
	return s
}

func (s *deltaSide) sync(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	agreed, err := s.e.SyncOnce(ctx)
	if err != nil || !agreed {
		t.Fatalf("SyncOnce: agreed %v, err %v\n%s", agreed, err, tail(s.logs.String()))
	}
}

func (s *deltaSide) write(t *testing.T, name string, b []byte) {
	t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (s *deltaSide) read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pseudoRandom(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, (n+7)/8*8)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}

// deltaPair starts a syncd behind a counting proxy and two engines A and B on it,
// both holding name with content base.
func deltaPair(t *testing.T, name string, base []byte) (a, b *deltaSide, px *countingProxy, srv *syncdtest.Server, tok string) {
	t.Helper()
	srv = syncdtest.Start(t, syncdtest.Options{Config: map[string]any{"log": map[string]string{"level": "error"}}})
	srv.Tenant(t, "t", tenants.Options{})
	tok = srv.Token(t, "t", "tester", "write")
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	px = newCountingProxy(t, u.Host)
	via := "http://" + px.ln.Addr().String()
	a, b = openDeltaSide(t, via, tok), openDeltaSide(t, via, tok)
	a.write(t, name, base)
	a.sync(t)
	b.sync(t)
	if !bytes.Equal(b.read(t, name), base) {
		t.Fatal("B did not get the first version")
	}
	a.remote.counts()
	b.remote.counts()
	px.reset()
	return a, b, px, srv, tok
}

// wireBound is the most a delta of one small edit may cost on the wire for a file
// of size bytes here: the changed chunks (at most 256 KiB each, an edit touches at
// most two or three) plus the chunk list, HTTP framing and the passes' listings.
func wireBound(size int) int64 { return 3*256<<10 + int64(size)/100 + 64<<10 }

func TestDeltaBothDirections(t *testing.T) {
	const name = "big/data.bin"
	base := pseudoRandom(8<<20, 1)
	a, b, px, _, _ := deltaPair(t, name, base)
	edits := []struct {
		what string
		edit func([]byte) []byte
	}{
		{"one byte", func(c []byte) []byte { c = bytes.Clone(c); c[len(c)/2] ^= 1; return c }},
		{"100-byte insertion", func(c []byte) []byte {
			return append(append(append([]byte{}, c[:len(c)/3]...), bytes.Repeat([]byte{'+'}, 100)...), c[len(c)/3:]...)
		}},
	}
	cur := base
	for _, ed := range edits {
		cur = ed.edit(cur)
		a.write(t, name, cur)
		a.sync(t)
		up, down := px.reset()
		if n := a.remote.counts(); n != [4]int64{0, 0, 1, 0} {
			t.Errorf("%s, upload: transfers (whole up, whole down, delta up, ranged GETs) = %v, want one delta upload\n%s", ed.what, n, tail(a.logs.String()))
		}
		if up+down > wireBound(len(cur)) {
			t.Errorf("%s, upload: %d bytes up, %d down for an %d-byte file, want ≤ %d", ed.what, up, down, len(cur), wireBound(len(cur)))
		}
		t.Logf("%s: A → server %d bytes up, %d down", ed.what, up, down)

		b.sync(t)
		up, down = px.reset()
		if got := b.read(t, name); !bytes.Equal(got, cur) {
			t.Fatalf("%s: B's file differs from A's (len %d, want %d)", ed.what, len(got), len(cur))
		}
		if n := b.remote.counts(); n != [4]int64{0, 0, 0, 1} {
			t.Errorf("%s, download: transfers = %v, want one ranged GET\n%s", ed.what, n, tail(b.logs.String()))
		}
		if up+down > wireBound(len(cur)) {
			t.Errorf("%s, download: %d bytes up, %d down, want ≤ %d", ed.what, up, down, wireBound(len(cur)))
		}
		t.Logf("%s: server → B %d bytes down, %d up", ed.what, down, up)
	}
	// Nothing left to do on either side.
	a.sync(t)
	b.sync(t)
	if n := a.remote.counts(); n != [4]int64{} {
		t.Errorf("A transfers again: %v", n)
	}
}

func TestDeltaSmallFilesTravelWhole(t *testing.T) {
	const name = "small.bin"
	base := pseudoRandom(1<<20-1, 2)
	a, b, _, _, _ := deltaPair(t, name, base)
	next := bytes.Clone(base)
	next[10] ^= 1
	a.write(t, name, next)
	a.sync(t)
	b.sync(t)
	if !bytes.Equal(b.read(t, name), next) {
		t.Fatal("B's file differs")
	}
	if n := a.remote.counts(); n != [4]int64{1, 0, 0, 0} {
		t.Errorf("A: transfers %v, want one whole upload", n)
	}
	if n := b.remote.counts(); n != [4]int64{0, 1, 0, 0} {
		t.Errorf("B: transfers %v, want one whole download", n)
	}
}

func TestDeltaFallbacks(t *testing.T) {
	const name = "f.bin"
	base := pseudoRandom(3<<20, 3)
	a, b, _, _, _ := deltaPair(t, name, base)

	// The server refuses the delta as malformed: A uploads the whole file.
	a.remote.beforeDeltaUpload = func() error { return protocol.Errorf(protocol.CodeBadDelta, "refused by the test") }
	v2 := bytes.Clone(base)
	v2[100] ^= 1
	a.write(t, name, v2)
	a.sync(t)
	if n := a.remote.counts(); n != [4]int64{1, 0, 1, 0} {
		t.Errorf("refused delta: transfers %v, want a delta attempt then one whole upload\n%s", n, tail(a.logs.String()))
	}
	a.remote.beforeDeltaUpload = nil

	// Ranges corrupted on the way: the whole-file hash fails and B downloads whole;
	// nothing wrong is ever placed.
	b.remote.tamperRanges = true
	b.sync(t)
	if !bytes.Equal(b.read(t, name), v2) {
		t.Fatal("B placed wrong content")
	}
	if n := b.remote.counts(); n != [4]int64{0, 1, 0, 1} {
		t.Errorf("corrupted ranges: transfers %v, want a ranged GET then one whole download\n%s", n, tail(b.logs.String()))
	}
	b.remote.tamperRanges = false

	// A server without the delta routes: both sides transfer whole.
	a.remote.noDeltaRoutes, b.remote.noDeltaRoutes = true, true
	v25 := bytes.Clone(v2)
	v25[200] ^= 1
	a.write(t, name, v25)
	a.sync(t)
	b.sync(t)
	if !bytes.Equal(b.read(t, name), v25) {
		t.Fatal("B's file differs (server without delta routes)")
	}
	// A knows the base's chunk list (it uploaded that content), so it tries the
	// delta without asking for the list; refused, the file goes whole.
	if n := a.remote.counts(); n != [4]int64{1, 0, 1, 0} {
		t.Errorf("no delta routes, A: transfers %v, want a refused delta then one whole upload", n)
	}
	if n := b.remote.counts(); n != [4]int64{0, 1, 0, 0} {
		t.Errorf("no delta routes, B: transfers %v, want one whole download\n%s", n, tail(b.logs.String()))
	}
	a.remote.noDeltaRoutes, b.remote.noDeltaRoutes = false, false

	// Mostly new content: not worth a delta either way.
	v3 := pseudoRandom(3<<20, 33)
	a.write(t, name, v3)
	a.sync(t)
	b.sync(t)
	if !bytes.Equal(b.read(t, name), v3) {
		t.Fatal("B's file differs")
	}
	// A streams the delta while it reads the file (the scan left it unhashed) and
	// breaks it off once the literals pass half the file: then one whole upload.
	if n := a.remote.counts(); n != [4]int64{1, 0, 1, 0} {
		t.Errorf("new content, A: transfers %v, want a broken-off delta then one whole upload", n)
	}
	if n := b.remote.counts(); n != [4]int64{0, 1, 0, 0} {
		t.Errorf("new content, B: transfers %v, want one whole download", n)
	}
}

func TestDeltaUploadConflict(t *testing.T) {
	const name = "shared.bin"
	base := pseudoRandom(3<<20, 4)
	a, b, _, srv, tok := deltaPair(t, name, base)
	other, err := syncclient.New(syncclient.Options{Server: srv.URL, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	// Someone else writes the file between A's chunk list and A's delta: the delta
	// (If-Match the old base) is refused with 412, nothing of either version is lost.
	theirs := bytes.Clone(base)
	theirs[5] ^= 1
	var once sync.Once
	hooked := false
	a.remote.beforeDeltaUpload = func() error {
		once.Do(func() {
			hooked = true
			_, _, err := other.Upload(context.Background(), name, bytes.NewReader(theirs), int64(len(theirs)),
				engine.UploadOptions{SHA256: hashOf(theirs)})
			if err != nil {
				t.Error(err)
			}
		})
		return nil
	}
	mine := bytes.Clone(base)
	mine[len(mine)-5] ^= 1
	a.write(t, name, mine)
	a.sync(t)
	if !hooked {
		t.Fatalf("A never tried a delta upload\n%s", tail(a.logs.String()))
	}
	b.sync(t)
	a.sync(t)
	for _, s := range []*deltaSide{a, b} {
		if got := s.read(t, name); !bytes.Equal(got, theirs) && !bytes.Equal(got, mine) {
			t.Fatalf("%s holds neither version", s.dir)
		}
	}
	// Both versions survive: one under the name, the other as a conflict copy.
	var found [2]bool
	entries, _ := os.ReadDir(a.dir)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		got := a.read(t, e.Name())
		found[0] = found[0] || bytes.Equal(got, theirs)
		found[1] = found[1] || bytes.Equal(got, mine)
	}
	if !found[0] || !found[1] {
		t.Fatalf("A lost a version (theirs %v, mine %v)\n%s", found[0], found[1], tail(a.logs.String()))
	}
	if !bytes.Equal(a.read(t, name), b.read(t, name)) {
		t.Fatal("A and B disagree on the file")
	}
}
