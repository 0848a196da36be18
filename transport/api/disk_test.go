package api

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/syncspace/syncspace/tenants"
)

// TestChunkedUploadBelowDiskFloor: over HTTP, an upload without Content-Length
// (chunked) that would take the disk below limits.min_free_disk is answered 507
// insufficient_storage, and nothing is stored or left in tmp/. The disk is simulated
// (tenants.Limits.FreeDisk): a fixed capacity less what the tenants' files use.
func TestChunkedUploadBelowDiskFloor(t *testing.T) {
	const floor = 8 << 20
	var (
		mu       sync.Mutex
		capacity int64 = 1 << 50
		dir      string
	)
	used := func() int64 {
		var n int64
		filepath.WalkDir(filepath.Join(dir, "tenants"), func(_ string, de fs.DirEntry, err error) error {
			if err == nil && de.Type().IsRegular() {
				if fi, err := de.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
		return n
	}
	free := func() (uint64, error) {
		mu.Lock()
		c := capacity
		mu.Unlock()
		return uint64(max(c-used(), 0)), nil
	}
	e := newStreamEnv(t, tenants.Limits{MaxFileSize: 1 << 30, MinFreeDisk: floor, FreeDisk: free}, 0)
	dir = e.dir
	tok := e.token(t, "acme")
	mu.Lock()
	capacity = used() + floor + 3<<20
	mu.Unlock()

	put := func(name string, size int64, chunked bool) (int, string) {
		t.Helper()
		pr, pw := io.Pipe()
		go func() {
			buf := make([]byte, 64<<10)
			for sent := int64(0); sent < size; sent += int64(len(buf)) {
				if _, err := pw.Write(buf[:min(int64(len(buf)), size-sent)]); err != nil {
					return // the server answered and closed
				}
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("PUT", e.url+"/api/files/"+name, pr)
		req.Header.Set("Authorization", "Bearer "+tok)
		if chunked {
			req.ContentLength = -1
		} else {
			req.ContentLength = size
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("PUT %s: %v", name, err)
		}
		defer resp.Body.Close()
		var b struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		json.NewDecoder(resp.Body).Decode(&b)
		return resp.StatusCode, b.Error.Code
	}
	if st, code := put("big.bin", 6<<20, true); st != 507 || code != "insufficient_storage" {
		t.Fatalf("chunked upload over the floor: %d %s", st, code)
	}
	if st, code := put("big.bin", 6<<20, false); st != 507 || code != "insufficient_storage" {
		t.Fatalf("declared upload over the floor: %d %s", st, code)
	}
	sp, err := e.reg.Space(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Stat(t.Context(), "big.bin"); err == nil {
		t.Fatal("refused upload stored")
	}
	ents, err := os.ReadDir(filepath.Join(dir, "tenants", "acme", "tmp"))
	if err != nil || len(ents) != 0 {
		t.Fatalf("tmp after refused uploads: %v %v", ents, err)
	}
	if n := e.reg.InFlightDisk(); n != 0 {
		t.Fatalf("%d bytes still reserved", n)
	}
	if st, _ := put("fits.bin", 2<<20, true); st != 201 {
		t.Fatalf("chunked upload that fits: %d", st)
	}
}
