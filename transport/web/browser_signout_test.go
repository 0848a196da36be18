package web_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/syncspace/syncspace/transport/web"
)

// TestBrowserSignOutStopsUploads signs out while an upload is still being hashed (the
// CPU slowed down so that it is): the token is forgotten, so the upload must not be
// sent afterwards, into a space the tab has left, with a token it no longer holds.
func TestBrowserSignOutStopsUploads(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	b := newBrowser(t, exe)
	app, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	b.run(chromedp.Navigate(e.base + "/#token=" + e.write))
	b.waitFolderView()

	const size = 32 << 20
	throttle := func(rate float64) {
		t.Helper()
		if _, err := chromedp.Call(b.ctx, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: rate}); err != nil {
			t.Fatal(err)
		}
	}
	throttle(50)
	defer throttle(1)
	b.exec(fmt.Sprintf(`const dt = new DataTransfer();
dt.items.add(new File([new Uint8Array(%d).fill(7)], 'late.bin', { type: 'application/octet-stream' }));
const target = document.getElementById('list');
for (const type of ['dragenter', 'dragover', 'drop']) target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }))`, size))
	b.waitJS("hashing", `Array.from(document.querySelectorAll('#upload-list .ustate')).some((s) => s.textContent === 'Checking…')`)
	b.exec(`document.getElementById('signout').click()`)
	throttle(1)
	b.waitJS("sign-in form", jsVisible("#token-input"))

	// By the time the page has hashed as much again, the first hash would be done.
	took := eval[float64](b, fmt.Sprintf(`(async () => {
  const { hashBlob } = await import(%q);
  const t0 = performance.now();
  await hashBlob(new Blob([new Uint8Array(%d)]));
  return performance.now() - t0;
})()`, app.AssetPath("sha256.js"), size))
	t.Logf("hashing %d MiB in the page: %.0f ms", size>>20, took)
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if h := e.hashOf("late.bin"); h != "" {
			t.Fatal("an upload started before sign-out was sent after it, with the forgotten token")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %q", errs)
	}
}

// TestBrowserLinkSwitchesSession opens another space's sign-in link in a signed-in tab
// while an upload is still being hashed: the new sign-in starts afresh, so the upload
// of the session left behind is not sent (with a token the tab no longer uses) and its
// file never shows up in the new space's list.
func TestBrowserLinkSwitchesSession(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	b := newBrowser(t, exe)
	b.run(chromedp.Navigate(e.base + "/#token=" + e.write))
	b.waitFolderView()
	throttle := func(rate float64) {
		t.Helper()
		if _, err := chromedp.Call(b.ctx, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: rate}); err != nil {
			t.Fatal(err)
		}
	}
	throttle(50)
	defer throttle(1)
	b.exec(`const dt = new DataTransfer();
dt.items.add(new File([new Uint8Array(16 << 20).fill(7)], 'left-behind.bin'));
document.getElementById('list').dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }))`)
	b.waitJS("hashing", `Array.from(document.querySelectorAll('#upload-list .ustate')).some((s) => s.textContent === 'Checking…')`)
	b.exec(fmt.Sprintf(`location.hash = %q`, "#token="+e.tiny))
	throttle(1)
	b.waitJS("the other space", jsVisible("#list")+` && document.querySelector('#count').textContent === '0 items' && document.querySelector('#banner').hidden`)
	if n := eval[int](b, `document.querySelectorAll('#upload-list li').length`); n != 0 {
		t.Errorf("the new session shows %d uploads of the old one", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if e.hashOf("left-behind.bin") != "" {
			t.Fatal("the old session's upload was sent after the tab signed in with another token")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if eval[bool](b, jsHasRow("left-behind.bin")) {
		t.Fatal("the old session's file is listed in the new space")
	}
}

// TestBrowserSignOutForgetsThePage signs an admin out, by the button and by a
// revocation while a dialog is open: nothing of the session may stay in the page for
// whoever uses the tab next (no token, no share link, no file name, no open dialog).
func TestBrowserSignOutForgetsThePage(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	b := newBrowser(t, exe)
	if code, body := e.do("PUT", "/api/files/secret-plans.txt", []byte("plans"), nil); code != 201 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	b.run(chromedp.Navigate(e.base + "/#token=" + e.admin))
	b.waitJS("the folder view", jsHasRow("secret-plans.txt")+` && document.querySelector('#banner').hidden`)

	// An invited member's token and a share link, each shown once, then closed.
	b.run(chromedp.Click(chromedp.CSS(`#btn-team`)))
	b.run(chromedp.Click(chromedp.CSS(`#btn-invite`)))
	b.waitJS("invite dialog", `document.querySelector('#dlg-invite').open`)
	b.setValues(map[string]string{"#dlg-invite-subject": "erin"})
	b.run(chromedp.Click(chromedp.CSS(`#dlg-invite-ok`)))
	b.waitJS("the new token", `document.querySelector('#dlg-invite-token').value !== ''`)
	invited := eval[string](b, `document.querySelector('#dlg-invite-token').value`)
	b.run(chromedp.Click(chromedp.CSS(`#dlg-invite-cancel`)))
	b.selectRow("secret-plans.txt")
	link := b.share("24h", "")
	id := link[strings.LastIndex(link, "/")+1:]
	b.run(chromedp.Click(chromedp.CSS(`#dlg-share-cancel`)))
	// A second link, revoked from the panel: its status names the file.
	b.share("24h", "")
	b.run(chromedp.Click(chromedp.CSS(`#dlg-share-cancel`)))
	b.run(chromedp.Click(chromedp.CSS(`#btn-shares`)))
	b.waitJS("two share links", `document.querySelectorAll('#shares-list li').length === 2`)
	b.exec(`document.querySelector('#shares-list li button').click()`)
	b.waitJS("revoked", `document.querySelector('#shares-status').textContent.startsWith('Revoked')`)

	left := func(when string) {
		t.Helper()
		const page = `[document.body.innerHTML, ...Array.from(document.querySelectorAll('input, textarea'), (f) => f.value)].join('\n')`
		text := eval[string](b, page)
		for what, s := range map[string]string{"the invited token": invited, "the share link": id, "the signed-in token": e.admin, "a file name": "secret-plans"} {
			if strings.Contains(text, s) {
				t.Errorf("%s: %s is still in the page", when, what)
			}
		}
		if n := eval[int](b, `document.querySelectorAll('dialog[open]').length`); n != 0 {
			t.Errorf("%s: %d dialogs still open", when, n)
		}
	}
	b.run(chromedp.Click(chromedp.CSS(`#signout`)))
	b.waitJS("sign-in form", jsVisible("#token-input"))
	left("after sign-out")

	// Signed out by the server while the share dialog shows a new link.
	b.run(chromedp.SetValue(chromedp.CSS(`#token-input`), e.admin), chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)))
	b.waitJS("the folder view", jsHasRow("secret-plans.txt")+` && document.querySelector('#banner').hidden`)
	b.selectRow("secret-plans.txt")
	link = b.share("24h", "")
	id = link[strings.LastIndex(link, "/")+1:]
	if _, err := e.d.Auth().RevokeSubject(context.Background(), "team", "boss"); err != nil {
		t.Fatal(err)
	}
	b.waitJS("signed out by the revocation", jsVisible("#token-input"))
	left("after a revocation")
}

// TestBrowserSignInSurvivesAnOutage reloads the page while the server answers the
// sign-in check with 503 (a node that cannot reach its database, the connection limit)
// and then with a dropped connection: the page says so, and once the server answers
// again a reload signs in with the same token. Only sign-out, or a token the server
// refuses (401), forgets it: a link's token cannot be had again from the address bar.
func TestBrowserSignInSurvivesAnOutage(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	b := newBrowser(t, exe)
	b.run(chromedp.Navigate(e.base + "/#token=" + e.write))
	b.waitFolderView()

	ictx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	paused := chromedp.Events(ictx, fetch.RequestPaused)
	if _, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/api/usage"}}}); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			if n.Add(1) == 1 {
				chromedp.Call(ictx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 503,
					ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}, {Name: "Retry-After", Value: "1"}},
					Body:            []byte(`{"error":{"code":"unavailable","message":"the index does not answer"}}`)})
				continue
			}
			chromedp.Call(ictx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonConnectionReset})
		}
	}()
	for i := range 2 {
		b.run(chromedp.Reload())
		b.waitJS("the sign-in page", jsVisible("#signin"))
		t.Logf("reload %d: %s", i+1, eval[string](b, `document.querySelector('#signin-error').textContent`))
	}
	b.axe("sign-in retry")
	if _, err := chromedp.Call(b.ctx, fetch.Disable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	// The tab tries again by itself (5 s after the last failure).
	if sessionStorageToken := eval[string](b, `sessionStorage.getItem('syncspace.token') || ''`); sessionStorageToken != e.write {
		t.Fatal("after an outage the tab forgot its token")
	}
	b.waitJS("signed in again", jsVisible("#list")+` && document.querySelector('#count').textContent !== ''`)
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %q", errs)
	}
}

// TestBrowserForgetWinsOverARetry clicks "Forget the token" while the sign-in retry's
// request is on its way: when the server then answers 200, the tab stays signed out.
func TestBrowserForgetWinsOverARetry(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	b := newBrowser(t, exe)
	b.run(chromedp.Navigate(e.base + "/#token=" + e.write))
	b.waitFolderView()

	ictx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	paused := chromedp.Events(ictx, fetch.RequestPaused)
	if _, err := chromedp.Call(b.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/api/usage"}}}); err != nil {
		t.Fatal(err)
	}
	held := make(chan fetch.RequestID, 1)
	go func() {
		first := true
		for ev, err := range paused {
			if err != nil {
				return
			}
			if first {
				first = false
				chromedp.Call(ictx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonConnectionReset})
				continue
			}
			held <- ev.RequestID // the retry: answered once Forget has been clicked
			return
		}
	}()
	b.run(chromedp.Reload())
	b.waitJS("the retry offered", jsVisible("#signin-forget"))
	var id fetch.RequestID
	select {
	case id = <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no retry within 30 s")
	}
	b.run(chromedp.Click(chromedp.CSS(`#signin-forget`)))
	b.waitJS("forgotten", `sessionStorage.getItem('syncspace.token') === null && !document.querySelector('#signin').hidden`)
	if _, err := chromedp.Call(ictx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id}); err != nil {
		t.Fatal(err)
	}
	// The answer arrives; give the page a moment to (wrongly) act on it.
	b.exec(`await new Promise((r) => setTimeout(r, 1000))`)
	if eval[bool](b, jsVisible("#list")) || eval[string](b, `sessionStorage.getItem('syncspace.token') || ''`) != "" {
		t.Fatal("signed in again after Forget, by a retry that was on its way")
	}
}

// TestBrowserRefusedLinkForgotten opens links whose token the app refuses before asking
// the server (an ops token, something that is no token): the page says why and keeps
// nothing of it in the tab's sessionStorage.
func TestBrowserRefusedLinkForgotten(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	b := newBrowser(t, exe)
	ops, _, err := e.d.Auth().IssueOpsToken(context.Background(), "operator", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{ops, "not-a-token"} {
		b.run(chromedp.Navigate(e.base + "/#token=" + tok))
		b.waitJS("the refusal", jsVisible("#signin")+` && document.querySelector('#signin-error').textContent !== ''`)
		if kept := eval[string](b, `sessionStorage.getItem('syncspace.token') || ''`); kept != "" {
			t.Errorf("a refused token (%d bytes) stays in sessionStorage: %s", len(tok), eval[string](b, `document.querySelector('#signin-error').textContent`))
		}
	}
}
