package casblobs_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/blobkey"
	"github.com/syncspace/syncspace/tenants/casblobs"
	"github.com/syncspace/syncspace/tenants/dirblobs"
	"github.com/syncspace/syncspace/tenants/localbus"
	"github.com/syncspace/syncspace/tenants/pgindex"
	"github.com/syncspace/syncspace/tenants/pgschema"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
	"github.com/syncspace/syncspace/tenants/s3blobs"
)

func TestCollectOverDirblobs(t *testing.T) {
	url := pgtest.Postgres(t) // skips first without PostgreSQL
	obj, err := dirblobs.Open(filepath.Join(t.TempDir(), "blobs"), true)
	must(t, err)
	t.Cleanup(func() { obj.Close() })
	runCollect(t, url, obj)
}

func TestCollectOverS3(t *testing.T) {
	url := pgtest.Postgres(t)
	e := servicetest.S3(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obj, err := s3blobs.New(ctx, s3blobs.Settings{Endpoint: e.Endpoint, AccessKey: e.AccessKey, SecretKey: e.SecretKey,
		Bucket: e.Bucket, CreateBucket: true})
	must(t, err)
	runCollect(t, url, obj)
}

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// gcGrace is the tests' grace period: short, yet far longer than a commit here.
const gcGrace = 1500 * time.Millisecond

// gcEnv is a registry on PostgreSQL (the book) and obj, and its collector.
type gcEnv struct {
	t    *testing.T
	ctx  context.Context
	obj  casblobs.Objects
	idx  *pgindex.Store
	book *pgindex.BlobBook
	reg  *tenants.Registry
	gc   *casblobs.Collector
	// hourGC is a collector of the same store with an hour's grace: a pass of it shows
	// what a pass keeps within the grace period, however slow the steps before it.
	hourGC *casblobs.Collector
}

func newGCEnv(t *testing.T, ctx context.Context, url string, obj casblobs.Objects) *gcEnv {
	conn, err := pgx.Connect(ctx, url)
	must(t, err)
	must(t, pgschema.Apply(ctx, conn))
	conn.Close(ctx)
	pool, err := pgxpool.New(ctx, url)
	must(t, err)
	t.Cleanup(pool.Close)
	idx, err := pgindex.New(ctx, pool, pgindex.Options{})
	must(t, err)
	book := pgindex.NewBlobBook(pool)
	store, err := casblobs.New(obj, book, filepath.Join(t.TempDir(), "tmp"), casblobs.Options{})
	must(t, err)
	reg, err := tenants.Open(ctx, tenants.Deps{Index: idx, Bus: localbus.New(), Blobs: store}, tenants.Limits{}, nil)
	must(t, err)
	t.Cleanup(func() { reg.Close() })
	return &gcEnv{t: t, ctx: ctx, obj: obj, idx: idx, book: book, reg: reg,
		gc: store.Collector(casblobs.CollectorOptions{Grace: gcGrace}), hourGC: store.Collector(casblobs.CollectorOptions{Grace: time.Hour})}
}

// has reports whether the store holds the tenant's blob of content.
func (e *gcEnv) has(tid, content string) bool {
	e.t.Helper()
	_, err := e.obj.Stat(e.ctx, tid, hashOf(content))
	if err != nil && !errors.Is(err, blobkey.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

// collect runs a pass and returns what it removed.
func (e *gcEnv) collect() (int64, int64) {
	e.t.Helper()
	n, b, err := e.gc.Collect(e.ctx)
	must(e.t, err)
	return n, b
}

// afterGrace sleeps past the grace period, then runs a pass.
func (e *gcEnv) afterGrace() (int64, int64) {
	time.Sleep(gcGrace + 100*time.Millisecond)
	return e.collect()
}

// runCollect: upload, replace, prune versions, collect: the old content goes after
// the grace period (not before), the current one stays and still downloads; a blob
// stored by an upload not yet committed survives the pass a grace period later; an
// upload of content the collector is removing at that moment waits, then stores it
// again; a deleted tenant's blobs go at the next pass after the grace period.
//
// No step may assume that another one is quick (a loaded machine stalls any for
// seconds): a blob's age only grows, so every check that something stays holds
// whatever time passed before it (the in-flight blob is stored after the pass that
// marks the others; "not within the grace period" is checked by a pass with an hour's).
func runCollect(t *testing.T, url string, obj casblobs.Objects) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newGCEnv(t, ctx, url, obj)
	tn, err := e.reg.Create(ctx, "acme", tenants.Options{})
	must(t, err)
	sp, err := e.reg.Space(ctx, "acme")
	must(t, err)
	put := func(sp *tenants.Space, p, body string) {
		t.Helper()
		_, _, err := sp.Put(ctx, p, strings.NewReader(body), tenants.PutOptions{Size: int64(len(body))})
		must(t, err)
	}
	put(sp, "a.txt", "old content")
	put(sp, "a.txt", "new content")
	put(sp, "b.txt", "deleted content")
	_, err = sp.Delete(ctx, "b.txt", tenants.DeleteOptions{})
	must(t, err)

	// Versions refer to the old and the deleted content: nothing goes.
	if n, _ := e.afterGrace(); n != 0 {
		t.Fatalf("a pass removed %d blobs while every blob is referenced", n)
	}
	if n, _ := e.afterGrace(); n != 0 || !e.has(tn.ID, "old content") {
		t.Fatalf("a pass removed %d blobs while every blob is referenced", n)
	}
	vs, err := e.idx.OldestVersions(ctx, tn.ID, time.Time{}, 100)
	must(t, err)
	must(t, e.idx.DeleteVersions(ctx, vs))

	// The first pass finds them unreferenced; only a pass a grace period later
	// removes them.
	if n, _ := e.collect(); n != 0 {
		t.Fatalf("the pass that found the blobs unreferenced removed %d at once", n)
	}

	// Meanwhile an upload stored its blob and has not committed yet (what Place does
	// before the commit): a pass within the grace period does not even find it
	// unreferenced (or the next one would remove it), and the next pass, a grace
	// period later, keeps it. (Stored before the pass above, a slow step could have
	// let that pass find it unreferenced already, a grace period after its upload, as
	// it should.)
	inflight := "in-flight content"
	must(t, e.book.TouchBlob(ctx, tn.ID, hashOf(inflight), int64(len(inflight))))
	must(t, obj.Put(ctx, tn.ID, hashOf(inflight), int64(len(inflight)), strings.NewReader(inflight)))
	if n, _, err := e.hourGC.Collect(ctx); err != nil || n != 0 {
		t.Fatalf("a pass within the grace period: %d removed, %v", n, err)
	}
	n, b := e.afterGrace()
	if want := int64(len("old content") + len("deleted content")); n != 2 || b != want {
		t.Fatalf("collected %d blobs, %d bytes; want 2, %d", n, b, want)
	}
	if e.has(tn.ID, "old content") || e.has(tn.ID, "deleted content") {
		t.Fatal("unreferenced blobs still stored")
	}
	if !e.has(tn.ID, "new content") || !e.has(tn.ID, inflight) {
		t.Fatal("the current content or the in-flight upload's blob was removed")
	}
	f, _, err := sp.Open(ctx, "a.txt")
	must(t, err)
	got, err := io.ReadAll(f)
	f.Close()
	must(t, err)
	if string(got) != "new content" {
		t.Fatalf("a.txt downloads %q", got)
	}

	// The in-flight upload never committed (it failed): its blob goes too, a grace
	// period after it was found unreferenced.
	e.afterGrace()
	if e.has(tn.ID, inflight) {
		e.afterGrace()
	}
	if e.has(tn.ID, inflight) {
		t.Fatal("an aborted upload's blob is never collected")
	}

	raceUploadWithCollection(t, e, tn.ID, sp)

	// A tenant deleted by a node that died before removing its blobs: they go at the
	// first pass a grace period after their upload (not before: a tenant being
	// imported has its blobs before its row), without waiting to be marked.
	gone, err := e.reg.Create(ctx, "gone", tenants.Options{})
	must(t, err)
	gsp, err := e.reg.Space(ctx, "gone")
	must(t, err)
	put(gsp, "x.txt", "a deleted tenant's content")
	must(t, e.idx.DeleteTenant(ctx, gone.ID))
	n, _, err = e.hourGC.Collect(ctx)
	must(t, err)
	if n != 0 || !e.has(gone.ID, "a deleted tenant's content") {
		t.Fatalf("a pass removed %d blobs touched within the grace period", n)
	}
	if n, _ := e.afterGrace(); n != 1 || e.has(gone.ID, "a deleted tenant's content") {
		t.Fatalf("a deleted tenant's blob: %d removed, still stored %v", n, e.has(gone.ID, "a deleted tenant's content"))
	}
}

// raceUploadWithCollection: a blob the collector is removing (it holds its record)
// while an upload of the same content reaches its commit. The upload waits for the
// collection, then stores the blob again: the file it commits downloads.
func raceUploadWithCollection(t *testing.T, e *gcEnv, tid string, sp *tenants.Space) {
	ctx := e.ctx
	content := "content being collected"
	must(t, e.book.TouchBlob(ctx, tid, hashOf(content), int64(len(content))))
	must(t, e.obj.Put(ctx, tid, hashOf(content), int64(len(content)), strings.NewReader(content)))
	e.afterGrace() // marked
	time.Sleep(gcGrace + 100*time.Millisecond)

	removing, resume := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(resume) })
	defer release() // a failing test must not leave the collector holding a connection
	collected := make(chan error, 1)
	go func() {
		_, _, err := e.book.CollectBlobs(ctx, gcGrace, 10, func(tenantID, hash string) error {
			if err := e.obj.Delete(ctx, tenantID, hash); err != nil {
				return err
			}
			close(removing)
			<-resume // the record stays locked meanwhile
			return nil
		})
		collected <- err
	}()
	select {
	case <-removing:
	case err := <-collected:
		t.Fatalf("the collector did not take the blob: %v", err)
	}
	uploaded := make(chan error, 1)
	go func() {
		_, _, err := sp.Put(ctx, "raced.txt", strings.NewReader(content), tenants.PutOptions{Size: int64(len(content))})
		uploaded <- err
	}()
	select {
	case err := <-uploaded:
		t.Fatalf("the upload committed while the collector removed its blob: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	must(t, <-collected)
	must(t, <-uploaded)
	f, _, err := sp.Open(ctx, "raced.txt")
	must(t, err)
	got, err := io.ReadAll(f)
	f.Close()
	must(t, err)
	if string(got) != content {
		t.Fatalf("raced.txt downloads %q", got)
	}
	// Referenced now: later passes keep it.
	e.afterGrace()
	e.afterGrace()
	if !e.has(tid, content) {
		t.Fatal("the raced upload's blob was collected")
	}
}
