package s3blobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants/internal/blobtest"
	"github.com/syncspace/syncspace/tenants/s3blobs"
)

func settings(t *testing.T) s3blobs.Settings {
	e := servicetest.S3(t)
	return s3blobs.Settings{Endpoint: e.Endpoint, AccessKey: e.AccessKey, SecretKey: e.SecretKey, Bucket: e.Bucket}
}

func TestStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	set := settings(t)
	if _, err := s3blobs.New(ctx, set); err == nil {
		t.Fatal("New on a missing bucket without CreateBucket succeeded")
	}
	set.CreateBucket = true
	s, err := s3blobs.New(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	// Created once, found the second time.
	if _, err := s3blobs.New(ctx, set); err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, s)
}

func TestNewRefusesBadEndpoint(t *testing.T) {
	for _, e := range []string{"", "ftp://x", "127.0.0.1:9000"} {
		if _, err := s3blobs.New(context.Background(), s3blobs.Settings{Endpoint: e, Bucket: "b"}); err == nil {
			t.Errorf("endpoint %q accepted", e)
		}
	}
}
