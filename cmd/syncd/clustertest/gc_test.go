//go:build !windows

package clustertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// blobStored reports whether the shared blob dir holds a blob of content (any tenant).
func (c *cluster) blobStored(t *testing.T, content string) bool {
	t.Helper()
	h := sha256.Sum256([]byte(content))
	x := hex.EncodeToString(h[:])
	found, err := filepath.Glob(filepath.Join(c.blobs, "t", "*", "sha256", x[:2], x))
	if err != nil {
		t.Fatal(err)
	}
	return len(found) > 0
}

// TestBlobCollection: with cluster.blob_gc_grace 2s, a file uploaded, replaced, and
// its version pruned: the node that leads removes the old blob from the shared store
// within a few grace periods; the current one stays and downloads through every node.
func TestBlobCollection(t *testing.T) {
	needServices(t)
	c := startCluster(t, "postgres", map[string]any{"blob_gc_grace": "2s"})
	writer, reader := c.tenant(t, "gc")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := "http://" + c.proxy
	const old, cur = "the first content of f.txt", "the second content of f.txt"
	for _, body := range []string{old, cur} {
		if st, err := put(ctx, base, writer, "f.txt", body); err != nil || st/100 != 2 {
			t.Fatalf("upload: %d %v", st, err)
		}
	}
	// Kept as a version: never collected.
	time.Sleep(5 * time.Second)
	if !c.blobStored(t, old) {
		t.Fatal("the blob of a kept version was collected")
	}
	conn, err := pgx.Connect(ctx, c.pg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DELETE FROM tenant_versions`); err != nil { // pruned
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.blobStored(t, old) {
		if time.Now().After(deadline) {
			t.Fatal("the old blob is still stored 30 s after its version was pruned")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !c.blobStored(t, cur) {
		t.Fatal("the current blob was collected")
	}
	for range c.nodes { // round robin: each node serves one
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/files/f.txt", nil)
		req.Header.Set("Authorization", "Bearer "+reader)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(b) != cur {
			t.Fatalf("download: %d %q %v", resp.StatusCode, b, err)
		}
	}
}
