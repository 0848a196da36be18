package casblobs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/casblobs"
	"github.com/syncspace/syncspace/tenants/localbus"
	"github.com/syncspace/syncspace/tenants/s3blobs"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// stallProxy forwards TCP connections to a service until stall: from then on it
// reads what either side sends and passes nothing on (a hung server, or a network
// path that holds connections open), new connections included, until resume.
type stallProxy struct {
	ln   net.Listener
	to   string
	mu   sync.Mutex
	gate chan struct{} // closed while forwarding
}

func newStallProxy(t *testing.T, to string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &stallProxy{ln: ln, to: to, gate: make(chan struct{})}
	close(p.gate)
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		p.resume()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			open = append(open, c, up)
			mu.Unlock()
			conns.Add(2)
			go func() { defer conns.Done(); p.pipe(up, c) }()
			go func() { defer conns.Done(); p.pipe(c, up) }()
		}
	}()
	return p
}

func (p *stallProxy) addr() string { return p.ln.Addr().String() }

// pipe copies from src to dst, each chunk only while the proxy forwards.
func (p *stallProxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			g := p.gate
			p.mu.Unlock()
			<-g
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallProxy) stall() {
	p.mu.Lock()
	p.gate = make(chan struct{})
	p.mu.Unlock()
}

func (p *stallProxy) resume() {
	p.mu.Lock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
	p.mu.Unlock()
}

// TestS3StallFailsTransfers: an S3 server that stops answering (here a proxy that
// holds its connections open and forwards nothing) fails an upload and a download
// after Options.StallTimeout without progress, instead of holding them (and the
// tenant's commits queued behind the upload) for ever; once it answers again, both
// work. Before, casblobs called the store with context.Background(): the S3 client
// waited a minute for each of its ten tries of a request, and for ever for a body
// that stopped moving.
func TestS3StallFailsTransfers(t *testing.T) {
	e := servicetest.S3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	proxy := newStallProxy(t, strings.TrimPrefix(e.Endpoint, "http://"))
	obj, err := s3blobs.New(ctx, s3blobs.Settings{Endpoint: "http://" + proxy.addr(), AccessKey: e.AccessKey, SecretKey: e.SecretKey,
		Bucket: e.Bucket, CreateBucket: true})
	must(t, err)
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "syncd.db"))
	must(t, err)
	t.Cleanup(func() { db.Close() })
	idx, err := sqlite.NewStore(ctx, db, nil)
	must(t, err)
	const stall = 2 * time.Second
	store, err := casblobs.New(obj, nil, filepath.Join(dir, "tmp"), casblobs.Options{StallTimeout: stall})
	must(t, err)
	reg, err := tenants.Open(ctx, tenants.Deps{Index: idx, Bus: localbus.New(), Blobs: store}, tenants.Limits{}, nil)
	must(t, err)
	t.Cleanup(func() { reg.Close() })
	tn, err := reg.Create(ctx, "acme", tenants.Options{})
	must(t, err)
	sp, err := reg.Space(ctx, "acme")
	must(t, err)

	big := make([]byte, 24<<20) // more than the sockets buffer between S3 and the reader
	_, _ = rand.Read(big)
	// Stored beforehand, so that the upload finds it there: S3's copy into place of
	// 24 MiB may take longer than the test's StallTimeout on a busy machine.
	sum := sha256.Sum256(big)
	must(t, obj.Put(ctx, tn.ID, hex.EncodeToString(sum[:]), int64(len(big)), bytes.NewReader(big)))
	_, _, err = sp.Put(ctx, "big.bin", bytes.NewReader(big), tenants.PutOptions{Size: int64(len(big))})
	must(t, err)
	f, _, err := sp.Open(ctx, "big.bin")
	must(t, err)
	defer f.Close()
	head := make([]byte, 1024)
	_, err = io.ReadFull(f, head)
	must(t, err)

	proxy.stall()
	// Not a speed check: without the watchdog these take minutes, or never end.
	const bound = 30 * time.Second
	within(t, bound, "the rest of a download", func() error {
		_, err := io.Copy(io.Discard, f)
		return err
	})
	within(t, bound, "an upload", func() error {
		_, _, err := sp.Put(ctx, "stalled.txt", strings.NewReader("stalled upload"), tenants.PutOptions{Size: 14})
		return err
	})

	proxy.resume()
	_, _, err = sp.Put(ctx, "after.txt", strings.NewReader("after the stall"), tenants.PutOptions{Size: 15})
	must(t, err)
	g, _, err := sp.Open(ctx, "big.bin")
	must(t, err)
	defer g.Close()
	got, err := io.ReadAll(g)
	must(t, err)
	if !bytes.Equal(got, big) {
		t.Errorf("big.bin after the stall: %d bytes, not the content uploaded", len(got))
	}
	if m, err := sp.Stat(ctx, "stalled.txt"); err == nil {
		t.Errorf("the upload that failed is listed: %+v", m)
	}
}

// within runs fn and requires it to fail, and to return within bound.
func within(t *testing.T, bound time.Duration, what string, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- fn() }()
	select {
	case err := <-done:
		t.Logf("%s failed after %v: %v", what, time.Since(start).Round(time.Millisecond), err)
		if err == nil {
			t.Errorf("%s succeeded while S3 stalled", what)
		}
	case <-time.After(bound):
		t.Fatalf("%s still waits for the stalled S3 server after %v", what, bound)
	}
}
