package casblobs_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants/casblobs"
	"github.com/syncspace/syncspace/tenants/dirblobs"
	"github.com/syncspace/syncspace/tenants/pgindex"
	"github.com/syncspace/syncspace/tenants/pgschema"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
	"github.com/syncspace/syncspace/tenants/s3blobs"
)

var (
	_ casblobs.TempSweeper = (*s3blobs.Store)(nil)
	_ casblobs.TempSweeper = (*dirblobs.Store)(nil)
)

// tempAge is the tests' casblobs.CollectorOptions.TempAge (measured on a clock the
// test stops, so a slow pass cannot age the young leftover past it).
const tempAge = 4 * time.Second

// leftovers is what a node that died in the middle of uploads left in a store: leave
// adds one more temporary object (old, or one of an upload still running), names lists
// those there now.
type leftovers struct {
	leave func(name string)
	names func() []string
}

// TestCollectSweepsTempsOverDirblobs, TestCollectSweepsTempsOverS3: a collector's
// pass that lists the store removes the temporary objects (and, on S3, multipart
// uploads) of uploads that never finished once they are older than TempAge, and keeps
// younger ones and every blob.
func TestCollectSweepsTempsOverDirblobs(t *testing.T) {
	url := pgtest.Postgres(t)
	dir := filepath.Join(t.TempDir(), "blobs")
	obj, err := dirblobs.Open(dir, true)
	must(t, err)
	t.Cleanup(func() { obj.Close() })
	runSweep(t, url, obj, leftovers{
		leave: func(name string) { must(t, os.WriteFile(filepath.Join(dir, "tmp", name), []byte("partial"), 0o600)) },
		names: func() []string {
			ents, err := os.ReadDir(filepath.Join(dir, "tmp"))
			must(t, err)
			var out []string
			for _, e := range ents {
				out = append(out, e.Name())
			}
			return out
		},
	})
}

func TestCollectSweepsTempsOverS3(t *testing.T) {
	url := pgtest.Postgres(t)
	e := servicetest.S3(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obj, err := s3blobs.New(ctx, s3blobs.Settings{Endpoint: e.Endpoint, AccessKey: e.AccessKey, SecretKey: e.SecretKey,
		Bucket: e.Bucket, CreateBucket: true})
	must(t, err)
	host, secure := strings.CutPrefix(e.Endpoint, "https://")
	host = strings.TrimPrefix(host, "http://")
	c, err := minio.New(host, &minio.Options{Creds: credentials.NewStaticV4(e.AccessKey, e.SecretKey, ""), Secure: secure})
	must(t, err)
	core := minio.Core{Client: c}
	runSweep(t, url, obj, leftovers{
		leave: func(name string) {
			// A temporary object stored, and a multipart upload begun, by a node that
			// then died.
			_, err := c.PutObject(ctx, e.Bucket, "tmp-"+name, strings.NewReader("partial"), 7, minio.PutObjectOptions{})
			must(t, err)
			_, err = core.NewMultipartUpload(ctx, e.Bucket, "tmp-"+name+"-mp", minio.PutObjectOptions{})
			must(t, err)
		},
		names: func() []string {
			var out []string
			for oi := range c.ListObjects(ctx, e.Bucket, minio.ListObjectsOptions{Prefix: "tmp-"}) {
				must(t, oi.Err)
				out = append(out, strings.TrimPrefix(oi.Key, "tmp-"))
			}
			for u := range c.ListIncompleteUploads(ctx, e.Bucket, "tmp-", false) {
				must(t, u.Err)
				out = append(out, strings.TrimPrefix(u.Key, "tmp-"))
			}
			slices.Sort(out)
			return out
		},
	})
}

func runSweep(t *testing.T, url string, obj casblobs.Objects, l leftovers) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	must(t, err)
	must(t, pgschema.Apply(ctx, conn))
	conn.Close(ctx)
	pool, err := pgxpool.New(ctx, url)
	must(t, err)
	t.Cleanup(pool.Close)
	store, err := casblobs.New(obj, pgindex.NewBlobBook(pool), filepath.Join(t.TempDir(), "tmp"), casblobs.Options{})
	must(t, err)
	// The pass's clock stands still at the young leftover's writing: however long the
	// pass takes to reach its sweep (it lists the store first), the young one stays
	// younger than tempAge, and the old one is older by the sleep's margin.
	var young time.Time
	gc := store.Collector(casblobs.CollectorOptions{Grace: time.Hour, TempAge: tempAge,
		Now: func() time.Time { return young }})
	kept := "a stored blob"
	tid := strings.Repeat("ab", 16)
	must(t, obj.Put(ctx, tid, hashOf(kept), int64(len(kept)), strings.NewReader(kept)))
	l.leave("old")
	time.Sleep(tempAge + 200*time.Millisecond)
	young = time.Now()
	l.leave("young")
	_, _, err = gc.Collect(ctx)
	must(t, err)
	got := l.names()
	if slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, "old") }) ||
		!slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, "young") }) {
		t.Errorf("temporary objects after a pass: %q; want the young ones only", got)
	}
	if _, err := obj.Stat(ctx, tid, hashOf(kept)); err != nil {
		t.Errorf("a blob after the sweep: %v", err)
	}
}
