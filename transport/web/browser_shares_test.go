package web_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserShareLinksLiveOnly opens the "Share links" panel after one of two links
// has expired: it lists the live one only, as a revoked link is not listed either.
func TestBrowserShareLinksLiveOnly(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	b := newBrowser(t, exe)
	for _, p := range []string{"short.txt", "long.txt"} {
		if code, body := e.do("PUT", "/api/files/"+p, []byte(p), nil); code != 201 {
			t.Fatalf("PUT %s: %d %s", p, code, body)
		}
	}
	var short struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	for p, d := range map[string]string{"short.txt": "1s", "long.txt": "24h"} {
		code, body := e.call(e.write, "POST", "/api/shares", map[string]string{"path": p, "expires_in": d})
		if code != 201 {
			t.Fatalf("share %s: %d %s", p, code, body)
		}
		if p == "short.txt" {
			if err := json.Unmarshal(body, &short); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(time.Until(short.ExpiresAt) + 100*time.Millisecond)
	if code, body := e.call(e.write, "GET", "/api/shares", nil); code != 200 {
		t.Fatalf("GET /api/shares: %d %s", code, body)
	}
	b.run(chromedp.Navigate(e.base + "/#token=" + e.write))
	b.waitJS("the folder view", jsHasRow("long.txt")+` && document.querySelector('#banner').hidden`)
	b.run(chromedp.Click(chromedp.CSS(`#btn-shares`)))
	b.waitJS("share links", `document.querySelector('#shares-status').textContent !== 'Loading…'`)
	got := eval[[]string](b, `Array.from(document.querySelectorAll('#shares-list li .dpath'), (e) => e.textContent)`)
	if len(got) != 1 || got[0] != "long.txt" {
		t.Fatalf("share links listed: %q, want only the live one (long.txt)", got)
	}
}
