package casblobs_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/blobkey"
	"github.com/syncspace/syncspace/tenants/casblobs"
	"github.com/syncspace/syncspace/tenants/dirblobs"
	"github.com/syncspace/syncspace/tenants/localbus"
	"github.com/syncspace/syncspace/tenants/s3blobs"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOverDirblobs(t *testing.T) {
	obj, err := dirblobs.Open(filepath.Join(t.TempDir(), "blobs"), true)
	must(t, err)
	t.Cleanup(func() { obj.Close() })
	run(t, obj)
}

func TestOverS3(t *testing.T) {
	e := servicetest.S3(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obj, err := s3blobs.New(ctx, s3blobs.Settings{Endpoint: e.Endpoint, AccessKey: e.AccessKey, SecretKey: e.SecretKey,
		Bucket: e.Bucket, CreateBucket: true})
	must(t, err)
	run(t, obj)
}

// run drives a registry whose content is in obj through puts, reads with ranges,
// moves, versions, a restore, a delete and the tenant's removal.
func run(t *testing.T, obj casblobs.Objects) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "syncd.db"))
	must(t, err)
	t.Cleanup(func() { db.Close() })
	idx, err := sqlite.NewStore(ctx, db, nil)
	must(t, err)
	store, err := casblobs.New(obj, nil, filepath.Join(dir, "tmp"), casblobs.Options{})
	must(t, err)
	reg, err := tenants.Open(ctx, tenants.Deps{Index: idx, Bus: localbus.New(), Blobs: store}, tenants.Limits{}, nil)
	must(t, err)
	t.Cleanup(func() { reg.Close() })
	tn, err := reg.Create(ctx, "acme", tenants.Options{})
	must(t, err)
	sp, err := reg.Space(ctx, "acme")
	must(t, err)
	put := func(p, body string) {
		t.Helper()
		_, _, err := sp.Put(ctx, p, strings.NewReader(body), tenants.PutOptions{Size: int64(len(body))})
		must(t, err)
	}
	read := func(p string, off int64) string {
		t.Helper()
		f, _, err := sp.Open(ctx, p)
		must(t, err)
		defer f.Close()
		_, err = f.Seek(off, io.SeekStart)
		must(t, err)
		b, err := io.ReadAll(f)
		must(t, err)
		return string(b)
	}
	put("d/a.txt", "first version")
	put("d/a.txt", "second version")
	if got := read("d/a.txt", 7); got != "version" {
		t.Fatalf("range from 7 = %q", got)
	}
	if _, err := sp.Move(ctx, "d", "e", "", tenants.Source{}); err != nil {
		t.Fatal(err)
	}
	if got := read("e/a.txt", 0); got != "second version" {
		t.Fatalf("after the move: %q", got)
	}
	vs, err := sp.Versions(ctx, "e/a.txt")
	must(t, err)
	var old string
	for _, v := range vs {
		if v.Size == int64(len("first version")) {
			old = v.ID
		}
	}
	if old == "" {
		t.Fatalf("no kept version in %+v", vs)
	}
	if _, err := sp.Restore(ctx, "e/a.txt", old, "", tenants.Source{}); err != nil {
		t.Fatal(err)
	}
	if got := read("e/a.txt", 0); got != "first version" {
		t.Fatalf("after the restore: %q", got)
	}
	if _, err := sp.Delete(ctx, "e", tenants.DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sp.Open(ctx, "e/a.txt"); err == nil {
		t.Fatal("deleted file still opens")
	}
	must(t, reg.Delete(ctx, "acme"))
	n := 0
	must(t, obj.List(ctx, tn.ID, func(blobkey.Info) error { n++; return nil }))
	if n != 0 {
		t.Fatalf("%d blobs left after the tenant's removal", n)
	}
}
