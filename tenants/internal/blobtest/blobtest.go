// Package blobtest is the behaviour every content-addressed blob store must show, run
// by tenants/dirblobs and tenants/s3blobs against a temp dir and a real S3 server.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/syncspace/syncspace/tenants/blobkey"
)

// Store is the low-level blob store both adapters implement.
type Store interface {
	Put(ctx context.Context, tenantID, sha256hex string, size int64, r io.Reader) error
	Open(ctx context.Context, tenantID, sha256hex string, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, tenantID, sha256hex string) (blobkey.Info, error)
	Delete(ctx context.Context, tenantID, sha256hex string) error
	List(ctx context.Context, tenantID string, fn func(blobkey.Info) error) error
	Tenants(ctx context.Context, fn func(tenantID string) error) error
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// failReader fails the test if it is read.
type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("Put read the content of a blob that already exists")
	return 0, io.EOF
}

// brokenReader returns n bytes, then an error.
type brokenReader struct{ n int }

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(p), b.n)
	b.n -= k
	return k, nil
}

func read(t *testing.T, s Store, tenant, h string, off, n int64) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), tenant, h, off, n)
	if err != nil {
		t.Fatalf("open %s [%d,+%d]: %v", h[:8], off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func list(t *testing.T, s Store, tenant string) []string {
	t.Helper()
	var out []string
	if err := s.List(context.Background(), tenant, func(i blobkey.Info) error {
		if i.TenantID != tenant {
			t.Errorf("List(%s) returned a blob of %s", tenant, i.TenantID)
		}
		out = append(out, fmt.Sprintf("%s:%d", i.SHA256[:8], i.Size))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// The tenants and contents Run uses.
const a, b = "tenant-a", "tenant-b"

var (
	content = bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB
	h       = sum(content)
	small   = []byte("small")
	hs      = sum(small)
)

// Run runs the behaviour tests on s, in order, on one store.
func Run(t *testing.T, s Store) {
	testRefused(t, s)
	testStored(t, s)
	testTenantsApart(t, s)
	testDelete(t, s)
}

// testRefused: missing blobs, and content that does not match, which leaves nothing.
func testRefused(t *testing.T, s Store) {
	ctx := context.Background()
	if got := list(t, s, a); len(got) != 0 {
		t.Fatalf("empty store lists %v", got)
	}
	if _, err := s.Stat(ctx, a, h); !errors.Is(err, blobkey.ErrNotFound) {
		t.Fatalf("Stat of a missing blob: %v", err)
	}
	if _, err := s.Open(ctx, a, h, 0, -1); !errors.Is(err, blobkey.ErrNotFound) {
		t.Fatalf("Open of a missing blob: %v", err)
	}

	// Content that does not match is refused and leaves nothing visible.
	for name, tc := range map[string]struct {
		r    io.Reader
		size int64
	}{
		"other content": {bytes.NewReader(small), int64(len(small))},
		"longer":        {bytes.NewReader(append(append([]byte{}, content...), 'x')), int64(len(content))},
		"shorter":       {bytes.NewReader(content[:len(content)-1]), int64(len(content))},
		"wrong size":    {bytes.NewReader(content), int64(len(content)) + 1},
	} {
		if err := s.Put(ctx, a, h, tc.size, tc.r); !errors.Is(err, blobkey.ErrMismatch) {
			t.Errorf("%s: Put = %v, want ErrMismatch", name, err)
		}
	}
	if err := s.Put(ctx, a, h, int64(len(content)), &brokenReader{n: 1000}); err == nil {
		t.Error("Put with a reader that fails succeeded")
	}
	if _, err := s.Stat(ctx, a, h); !errors.Is(err, blobkey.ErrNotFound) {
		t.Fatalf("after refused puts the blob is visible: %v", err)
	}
	if got := list(t, s, a); len(got) != 0 {
		t.Fatalf("after refused puts List shows %v", got)
	}

}

// testStored: stored, read whole and in ranges, idempotent.
func testStored(t *testing.T, s Store) {
	ctx := context.Background()
	if err := s.Put(ctx, a, h, int64(len(content)), bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, a, h, int64(len(content)), failReader{t}); err != nil {
		t.Fatalf("second Put: %v", err)
	}
	if got := read(t, s, a, h, 0, -1); !bytes.Equal(got, content) {
		t.Fatalf("read back %d bytes, want %d", len(got), len(content))
	}
	if got := read(t, s, a, h, 12345, 100); !bytes.Equal(got, content[12345:12445]) {
		t.Errorf("range read: %q", got)
	}
	if got := read(t, s, a, h, int64(len(content))-3, -1); !bytes.Equal(got, content[len(content)-3:]) {
		t.Errorf("tail read: %q", got)
	}
	info, err := s.Stat(ctx, a, h)
	if err != nil || info.Size != int64(len(content)) || info.SHA256 != h || info.TenantID != a || info.Modified.IsZero() {
		t.Errorf("Stat: %+v, %v", info, err)
	}

}

// testTenantsApart: the same content is another blob; List sees one tenant.
func testTenantsApart(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.Stat(ctx, b, h); !errors.Is(err, blobkey.ErrNotFound) {
		t.Errorf("tenant b sees tenant a's blob: %v", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Put(ctx, b, hs, int64(len(small)), bytes.NewReader(small)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Put %d: %v", i, err)
		}
	}
	if got, want := strings.Join(list(t, s, a), ","), h[:8]+":1000000"; got != want {
		t.Errorf("List(a) = %s, want %s", got, want)
	}
	if got, want := strings.Join(list(t, s, b), ","), hs[:8]+":5"; got != want {
		t.Errorf("List(b) = %s, want %s", got, want)
	}
	stopErr := errors.New("stop")
	if err := s.List(ctx, a, func(blobkey.Info) error { return stopErr }); !errors.Is(err, stopErr) {
		t.Errorf("List does not return fn's error: %v", err)
	}
	var ids []string
	if err := s.Tenants(ctx, func(id string) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatalf("Tenants: %v", err)
	}
	if got, want := strings.Join(ids, ","), a+","+b; got != want {
		t.Errorf("Tenants = %s, want %s", got, want)
	}
	if err := s.Tenants(ctx, func(string) error { return stopErr }); !errors.Is(err, stopErr) {
		t.Errorf("Tenants does not return fn's error: %v", err)
	}

}

// testDelete: Delete, twice; bad keys.
func testDelete(t *testing.T, s Store) {
	ctx := context.Background()
	for range 2 {
		if err := s.Delete(ctx, a, h); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	if _, err := s.Stat(ctx, a, h); !errors.Is(err, blobkey.ErrNotFound) {
		t.Errorf("Stat after Delete: %v", err)
	}
	if got := read(t, s, b, hs, 0, -1); string(got) != "small" {
		t.Errorf("tenant b's blob after deleting a's: %q", got)
	}

	for _, bad := range [][2]string{{"../x", hs}, {a, "../../etc/passwd"}, {a, strings.ToUpper(hs)}} {
		if err := s.Put(ctx, bad[0], bad[1], 5, bytes.NewReader(small)); !errors.Is(err, blobkey.ErrBadKey) {
			t.Errorf("Put(%q, %q) = %v, want ErrBadKey", bad[0], bad[1], err)
		}
	}
}
