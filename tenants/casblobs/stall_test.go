package casblobs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/blob"
	"github.com/syncspace/syncspace/tenants/casblobs"
	"github.com/syncspace/syncspace/tenants/localbus"
	"github.com/syncspace/syncspace/tenants/pgindex"
	"github.com/syncspace/syncspace/tenants/pgschema"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
	"github.com/syncspace/syncspace/tenants/s3blobs"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

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
	proxy := servicetest.NewStallProxy(t, strings.TrimPrefix(e.Endpoint, "http://"))
	obj, err := s3blobs.New(ctx, s3blobs.Settings{Endpoint: "http://" + proxy.Addr(), AccessKey: e.AccessKey, SecretKey: e.SecretKey,
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

	proxy.Stall()
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

	proxy.Resume()
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

// TestS3StallFailsTenantDelete: deleting a tenant lists and removes its blobs; with
// the S3 server stalled that fails after Options.StallTimeout without progress
// instead of holding the admin request (DELETE /admin/tenants/NAME) for ever. Before,
// Store.Delete called the store with context.Background().
func TestS3StallFailsTenantDelete(t *testing.T) {
	e := servicetest.S3(t)
	ctx := context.Background()
	proxy := servicetest.NewStallProxy(t, strings.TrimPrefix(e.Endpoint, "http://"))
	obj, err := s3blobs.New(ctx, s3blobs.Settings{Endpoint: "http://" + proxy.Addr(), AccessKey: e.AccessKey, SecretKey: e.SecretKey,
		Bucket: e.Bucket, CreateBucket: true})
	must(t, err)
	dir := t.TempDir()
	store, err := casblobs.New(obj, nil, filepath.Join(dir, "tmp"), casblobs.Options{StallTimeout: 2 * time.Second})
	must(t, err)
	tn := blob.Tenant{Name: "acme", ID: "0123456789abcdef0123456789abcdef"}
	must(t, store.Create(tn))
	sum := sha256.Sum256([]byte("content"))
	must(t, obj.Put(ctx, tn.ID, hex.EncodeToString(sum[:]), 7, strings.NewReader("content")))
	proxy.Stall()
	within(t, 30*time.Second, "a tenant's delete", func() error { return store.Delete(tn) })
	proxy.Resume()
	must(t, store.Delete(tn))
	if _, err := obj.Stat(ctx, tn.ID, hex.EncodeToString(sum[:])); err == nil {
		t.Error("the tenant's blob is still there after its delete")
	}
}

// TestS3StallFailsCollection: a collection pass lists the store (the first pass of a
// leader) and removes blobs; with the S3 server stalled the pass fails after
// Options.StallTimeout without progress, instead of holding the leader's once-only
// jobs for ever (before session 26 it called the store with the pass's context,
// which has no deadline).
func TestS3StallFailsCollection(t *testing.T) {
	e := servicetest.S3(t)
	url := pgtest.Postgres(t)
	ctx := context.Background()
	proxy := servicetest.NewStallProxy(t, strings.TrimPrefix(e.Endpoint, "http://"))
	obj, err := s3blobs.New(ctx, s3blobs.Settings{Endpoint: "http://" + proxy.Addr(), AccessKey: e.AccessKey, SecretKey: e.SecretKey,
		Bucket: e.Bucket, CreateBucket: true})
	must(t, err)
	conn, err := pgx.Connect(ctx, url)
	must(t, err)
	must(t, pgschema.Apply(ctx, conn))
	conn.Close(ctx)
	pool, err := pgxpool.New(ctx, url)
	must(t, err)
	t.Cleanup(pool.Close)
	store, err := casblobs.New(obj, pgindex.NewBlobBook(pool), filepath.Join(t.TempDir(), "tmp"), casblobs.Options{StallTimeout: 2 * time.Second})
	must(t, err)
	gc := store.Collector(casblobs.CollectorOptions{Grace: time.Second})
	proxy.Stall()
	within(t, 30*time.Second, "a collection pass", func() error {
		_, _, err := gc.Collect(ctx)
		return err
	})
	proxy.Resume()
	_, _, err = gc.Collect(ctx)
	must(t, err)
}
