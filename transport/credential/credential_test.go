package credential

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// endpoint answers like POST /api/token: a new pair for the expected secret, else
// invalid_grant. (The real endpoint is exercised end to end in the client's tests;
// this one forces the answers.)
func endpoint(t *testing.T, status *atomic.Int32) *httptest.Server {
	n := atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "refresh_token" {
			w.WriteHeader(400)
			return
		}
		if s := status.Load(); s != 200 {
			w.WriteHeader(int(s))
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "spent"})
			return
		}
		i := n.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"access_token": "at" + string(rune('0'+i)), "token_type": "Bearer",
			"expires_in": 3, "refresh_token": "rt" + string(rune('0'+i))})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func writeCred(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "dev.json")
	os.WriteFile(p, []byte(`{"refresh_token":"rt0","server":"https://x","device":"laptop","extra":{"kept":true}}`), 0o600)
	return p
}

func TestRefreshRewritesFileFirst(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	srv := endpoint(t, &status)
	path := writeCred(t)
	var steps []string
	src, err := Open(Options{Path: path, Endpoint: srv.URL, HTTP: srv.Client(), Step: func(s string) {
		raw, _ := os.ReadFile(path)
		var c struct {
			RefreshToken string `json:"refresh_token"`
		}
		json.Unmarshal(raw, &c)
		steps = append(steps, s+":"+c.RefreshToken)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.Server() != "https://x" {
		t.Fatalf("server %q", src.Server())
	}
	access, exp, err := src.Refresh(context.Background())
	if err != nil || access != "at1" || time.Until(exp) > 3*time.Second {
		t.Fatalf("refresh: %q %v %v", access, exp, err)
	}
	if len(steps) != 2 || steps[0] != "redeemed:rt0" || steps[1] != "saved:rt1" {
		t.Fatalf("the file must hold the old secret until saved: %q", steps)
	}
	var got map[string]any
	raw, _ := os.ReadFile(path)
	json.Unmarshal(raw, &got)
	if got["refresh_token"] != "rt1" || got["device"] != "laptop" || got["extra"] == nil {
		t.Fatalf("rewritten file %s", raw)
	}
	if fi, _ := os.Stat(path); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	status.Store(400)
	_, _, err = src.Refresh(context.Background())
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Code != "invalid_grant" {
		t.Fatalf("refusal: %v", err)
	}
	if err := src.Keep(context.Background(), time.Now(), func(string) {}); !errors.As(err, &refused) {
		t.Fatalf("Keep must end on a refusal: %v", err)
	}
}

func TestSecondOpenRefused(t *testing.T) {
	path := writeCred(t)
	a, err := Open(Options{Path: path, HTTP: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Path: path, HTTP: http.DefaultClient}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v", err)
	}
	a.Close()
	b, err := Open(Options{Path: path, HTTP: http.DefaultClient})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	b.Close()
}

func TestKeepRotatesAheadOfExpiry(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	srv := endpoint(t, &status)
	src, err := Open(Options{Path: writeCred(t), Endpoint: srv.URL, HTTP: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan string, 10)
	go src.Keep(ctx, time.Now().Add(1500*time.Millisecond), func(a string) { got <- a })
	select {
	case a := <-got: // at 2/3 of 1.5 s
		if a != "at1" {
			t.Fatalf("token %q", a)
		}
	case <-ctx.Done():
		t.Fatal("no rotation ahead of expiry")
	}
	src.Kick() // within minGap of the last rotation: deferred to minGap
	kicked := time.Now()
	select {
	case a := <-got:
		if el := time.Since(kicked); el < minGap/2 {
			t.Fatalf("a kick right after a rotation rotated again at once (%v): %q", el, a)
		}
	case <-ctx.Done():
		t.Fatal("the deferred kick never rotated")
	}
}
