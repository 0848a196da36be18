package credential

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// TestSaveFailureKeepsTheNewSecret: when the rotated credential cannot be written
// (a full disk, a folder made read-only), the retries do not redeem the old secret
// again: the server keeps it redeemable only for its grace (SPEC §7.3: at most 60 s),
// and presenting it after that revokes the whole device. They write the new pair,
// which the client holds, once the file can be written, and then use it.
func TestSaveFailureKeepsTheNewSecret(t *testing.T) {
	var mu sync.Mutex
	var presented []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		presented = append(presented, r.PostForm.Get("refresh_token"))
		n := len(presented)
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at" + string(rune('0'+n)), "token_type": "Bearer",
			"expires_in": 900, "refresh_token": "rt" + string(rune('0'+n))})
	}))
	defer srv.Close()
	path := writeCred(t)
	block := func() { // a non-empty directory at path: the rename over it fails
		if err := os.Rename(path, path+".away"); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	src, err := Open(Options{Path: path, Endpoint: srv.URL, HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	block()
	for range 3 {
		if _, _, err := src.Refresh(context.Background()); err == nil {
			t.Fatal("Refresh succeeded without saving the credential")
		}
	}
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	access, _, err := src.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if access != "at1" || !slices.Equal(presented, []string{"rt0"}) {
		t.Fatalf("access %q, secrets presented %q: want at1 after presenting rt0 once", access, presented)
	}
	raw, _ := os.ReadFile(path)
	var c struct {
		RefreshToken string `json:"refresh_token"`
		Device       string `json:"device"`
	}
	if json.Unmarshal(raw, &c) != nil || c.RefreshToken != "rt1" || c.Device != "laptop" {
		t.Fatalf("saved credential %s", raw)
	}
}
