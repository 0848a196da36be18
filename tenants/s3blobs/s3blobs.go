// Package s3blobs is a content-addressed blob store on any S3-compatible service
// (minio-go): blobs live at t/<tenant id>/sha256/<h[0:2]>/<h> in one bucket. Put
// uploads to a temporary key while hashing, verifies hash and size, then copies the
// object server-side to its final key and answers only after that copy succeeded, so a
// blob is visible only complete and with the announced content.
package s3blobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/syncspace/syncspace/tenants/blobkey"
)

// tmpPrefix starts the keys of uploads in progress; the collector removes what a
// crashed node left there (SweepTemps). The keys are flat (no "/"
// after the prefix): on S3 servers over a file system (versitygw's posix backend), the
// removal of one temporary object removes its emptied parent directory, which would
// fail a concurrent upload into that same directory.
const tmpPrefix = "tmp-"

// maxCopy is the largest object one CopyObject copies; larger ones are composed in
// parts.
const maxCopy = 5 << 30

// Settings address the service and the bucket.
type Settings struct {
	Endpoint  string // http(s)://host[:port]
	Region    string // "" = the client's default
	AccessKey string
	SecretKey string
	Bucket    string
	// CreateBucket creates the bucket when it is missing.
	CreateBucket bool
}

// Store is a blob store on one bucket, safe for concurrent use.
type Store struct {
	client *minio.Client
	bucket string
}

// New connects to the service and checks (or creates) the bucket.
func New(ctx context.Context, s Settings) (*Store, error) {
	u, err := url.Parse(s.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("s3blobs: endpoint must be http(s)://host[:port], got %q", s.Endpoint)
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: u.Scheme == "https",
		Region: s.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3blobs: %w", err)
	}
	ok, err := client.BucketExists(ctx, s.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3blobs: bucket %s: %w", s.Bucket, err)
	}
	if !ok {
		if !s.CreateBucket {
			return nil, fmt.Errorf("s3blobs: bucket %s does not exist", s.Bucket)
		}
		if err := client.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: s.Region}); err != nil {
			if code := minio.ToErrorResponse(err).Code; code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return nil, fmt.Errorf("s3blobs: create bucket %s: %w", s.Bucket, err)
			}
		}
	}
	return &Store{client: client, bucket: s.Bucket}, nil
}

// Put stores size bytes of r as the tenant's blob sha256hex. Another hash or size is
// blobkey.ErrMismatch and stores nothing. A blob already stored is not uploaded again
// (r is not read).
func (s *Store) Put(ctx context.Context, tenantID, sha256hex string, size int64, r io.Reader) error {
	key, err := blobkey.Key(tenantID, sha256hex)
	if err != nil {
		return err
	}
	if oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err == nil && oi.Size == size {
		return nil
	} else if err != nil && !notFound(err) {
		return fmt.Errorf("s3blobs: stat: %w", err)
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := tmpPrefix + tenantID + "-" + sha256hex[:16] + "-" + hex.EncodeToString(rnd[:])
	defer func() {
		// Removed in every case: after the copy it is a duplicate, after a failure junk.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tmpRemoveTimeout)
		defer cancel()
		_ = s.client.RemoveObject(rctx, s.bucket, tmp, minio.RemoveObjectOptions{})
	}()
	v := blobkey.NewVerifier(r, sha256hex, size)
	// Exactly size bytes are sent; Verify then checks that r ends there and hashes right.
	if _, err := s.client.PutObject(ctx, s.bucket, tmp, io.LimitReader(v, size), size,
		minio.PutObjectOptions{ContentType: "application/octet-stream"}); err != nil {
		if v.Ended() {
			if verr := v.Verify(); verr != nil {
				return verr // the content was shorter than announced
			}
		}
		return fmt.Errorf("s3blobs: upload: %w", err)
	}
	if err := v.Verify(); err != nil {
		return err
	}
	dst := minio.CopyDestOptions{Bucket: s.bucket, Object: key}
	src := minio.CopySrcOptions{Bucket: s.bucket, Object: tmp}
	if size <= maxCopy {
		_, err = s.client.CopyObject(ctx, dst, src)
	} else {
		_, err = s.client.ComposeObject(ctx, dst, src)
	}
	if err != nil {
		// Another writer may have put the same content at the same key at the same moment,
		// and some S3 servers (versitygw's posix backend) refuse the loser of that race.
		// The key names its content, so the blob being there with its size is success.
		if oi, serr := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); serr == nil && oi.Size == size {
			return nil
		}
		return fmt.Errorf("s3blobs: copy into place: %w", err)
	}
	return nil
}

// tmpRemoveTimeout bounds the clean-up of a temporary object.
const tmpRemoveTimeout = 30 * time.Second

// Open reads length bytes of the blob from offset (length < 0: to the end).
func (s *Store) Open(ctx context.Context, tenantID, sha256hex string, offset, length int64) (io.ReadCloser, error) {
	key, err := blobkey.Key(tenantID, sha256hex)
	if err != nil {
		return nil, err
	}
	opts := minio.GetObjectOptions{}
	switch {
	case length == 0:
		return io.NopCloser(strings.NewReader("")), nil
	case length > 0:
		err = opts.SetRange(offset, offset+length-1)
	case offset > 0:
		err = opts.SetRange(offset, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("s3blobs: range: %w", err)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, mapErr(err)
	}
	// GetObject is lazy: Stat makes the request, so a missing blob is reported here.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, mapErr(err)
	}
	return obj, nil
}

// Stat describes the blob.
func (s *Store) Stat(ctx context.Context, tenantID, sha256hex string) (blobkey.Info, error) {
	key, err := blobkey.Key(tenantID, sha256hex)
	if err != nil {
		return blobkey.Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return blobkey.Info{}, mapErr(err)
	}
	return blobkey.Info{TenantID: tenantID, SHA256: sha256hex, Size: oi.Size, Modified: oi.LastModified}, nil
}

// Delete removes the blob; a missing blob is not an error.
func (s *Store) Delete(ctx context.Context, tenantID, sha256hex string) error {
	key, err := blobkey.Key(tenantID, sha256hex)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return fmt.Errorf("s3blobs: delete: %w", err)
	}
	return nil
}

// List calls fn for each blob of the tenant, in key order, until fn returns an error
// (which List returns). For the garbage collector.
func (s *Store) List(ctx context.Context, tenantID string, fn func(blobkey.Info) error) error {
	prefix, err := blobkey.TenantPrefix(tenantID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine when fn ends early
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return fmt.Errorf("s3blobs: list: %w", oi.Err)
		}
		id, h, err := blobkey.Parse(oi.Key)
		if err != nil {
			continue // not a blob: leave it
		}
		if err := fn(blobkey.Info{TenantID: id, SHA256: h, Size: oi.Size, Modified: oi.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Tenants calls fn with the id of each tenant that has a blob (a prefix t/<id>/), in
// key order, until fn returns an error (which Tenants returns). For the garbage
// collector, which also removes the blobs of deleted tenants.
func (s *Store) Tenants(ctx context.Context, fn func(tenantID string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: "t/"}) {
		if oi.Err != nil {
			return fmt.Errorf("s3blobs: list: %w", oi.Err)
		}
		id := strings.TrimSuffix(strings.TrimPrefix(oi.Key, "t/"), "/")
		if _, err := blobkey.TenantPrefix(id); err != nil || !strings.HasSuffix(oi.Key, "/") {
			continue // not a tenant's prefix: leave it
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// SweepTemps removes what uploads that never finished left (a node that died between
// storing a temporary object and removing it, or in the middle of its multipart
// upload): the temporary objects written, and the multipart uploads of temporary keys
// started, before before. It returns how many it removed (casblobs.TempSweeper, for
// the garbage collector).
func (s *Store) SweepTemps(ctx context.Context, before time.Time) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutines when a removal fails
	var n int64
	for oi := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: tmpPrefix}) {
		if oi.Err != nil {
			return n, fmt.Errorf("s3blobs: list: %w", oi.Err)
		}
		if !oi.LastModified.Before(before) || strings.Contains(oi.Key, "/") {
			continue
		}
		if err := s.client.RemoveObject(ctx, s.bucket, oi.Key, minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
			return n, fmt.Errorf("s3blobs: remove %s: %w", oi.Key, err)
		}
		n++
	}
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, tmpPrefix, false) {
		if u.Err != nil {
			return n, fmt.Errorf("s3blobs: list multipart uploads: %w", u.Err)
		}
		if !u.Initiated.Before(before) {
			continue
		}
		if err := s.client.RemoveIncompleteUpload(ctx, s.bucket, u.Key); err != nil && !notFound(err) {
			return n, fmt.Errorf("s3blobs: abort the multipart upload of %s: %w", u.Key, err)
		}
		n++
	}
	return n, nil
}

func notFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey"
}

func mapErr(err error) error {
	if notFound(err) {
		return fmt.Errorf("s3blobs: %w", blobkey.ErrNotFound)
	}
	return fmt.Errorf("s3blobs: %w", err)
}
