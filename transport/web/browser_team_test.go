package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserTeam drives share links and team administration in Chromium against a real
// syncd: a write token shares a file (with and without a password), the link is opened
// in the browser, listed and revoked (404 after); an admin token invites a member with a
// folder scope, sees the token once and revokes it (401 after); a path-scoped token sees
// only the ancestors of its folder and what is inside. Each new view passes axe-core.
func TestBrowserTeam(t *testing.T) {
	exe := chromium(t)
	e := startEnv(t)
	b := newBrowser(t, exe)
	for p, c := range map[string]string{"shared/report.txt": "quarterly", "proj/deep/plan.txt": "the plan", "other/x.txt": "x"} {
		if code, body := e.do("PUT", "/api/files/"+p, []byte(c), nil); code != 201 {
			t.Fatalf("PUT %s: %d %s", p, code, body)
		}
	}
	b.run(chromedp.Navigate(e.base + "/#token=" + e.write))
	b.waitJS("the folder view", jsVisible("#list")+` && document.querySelector('#count').textContent !== ''`)
	if eval[bool](b, jsVisible("#btn-team")) {
		t.Fatal("a write token sees the Team button")
	}
	for _, sc := range []struct {
		name string
		fn   func(*testing.T, *env, *browser)
	}{
		{"share_links", testShares},
		{"team_admin", testTeam},
		{"path_scoped", testScoped},
	} {
		if !t.Run(sc.name, func(t *testing.T) { sc.fn(t, e, b.with(t)) }) {
			break // later scenarios build on earlier ones
		}
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// signInAs signs the tab out and in again with tok, at the root folder.
func (b *browser) signInAs(tok string) {
	b.t.Helper()
	b.run(chromedp.Click(chromedp.CSS(`#signout`)))
	b.waitJS("sign-in form", jsVisible("#token-input"))
	b.run(chromedp.SetValue(chromedp.CSS(`#token-input`), tok), chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)))
	b.waitFolderView()
}

// waitFolderView waits until the signed-in folder view shows its list and count with
// no banner.
func (b *browser) waitFolderView() {
	b.t.Helper()
	b.waitJS("the folder view", jsVisible("#list")+` && document.querySelector('#count').textContent !== '' && document.querySelector('#banner').hidden`)
}

// setValues sets form fields (selector → value) as typing or choosing would.
func (b *browser) setValues(fields map[string]string) {
	b.t.Helper()
	for sel, v := range fields {
		b.exec(fmt.Sprintf(`const f = document.querySelector(%q); f.value = %q; f.dispatchEvent(new Event('input', { bubbles: true })); f.dispatchEvent(new Event('change', { bubbles: true }))`, sel, v))
		if got := eval[string](b, fmt.Sprintf(`document.querySelector(%q).value`, sel)); got != v {
			b.t.Fatalf("%s: value %q, want %q", sel, got, v)
		}
	}
}

// fetchShare GETs a share URL from the page (same origin) and returns "status body".
func (b *browser) fetchShare(url, password string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`fetch(%q, { cache: 'no-store', headers: %q ? { 'X-Share-Password': %q } : {} }).then(async (r) => r.status + ' ' + (r.ok ? await r.text() : ''))`, url, password, password))
}

// share creates a link to the selected row through the Share dialog and returns its URL.
func (b *browser) share(expiry, password string) string {
	b.t.Helper()
	b.run(chromedp.Click(chromedp.CSS(`#btn-share`)))
	b.waitJS("share dialog", `document.querySelector('#dlg-share').open`)
	b.setValues(map[string]string{"#dlg-share-expiry": expiry, "#dlg-share-password": password})
	b.axe("share dialog")
	b.run(chromedp.Click(chromedp.CSS(`#dlg-share-ok`)))
	b.waitJS("share link", `document.querySelector('#dlg-share-url').value !== '' || document.querySelector('#dlg-share-error').textContent !== ''`)
	if msg := eval[string](b, `document.querySelector('#dlg-share-error').textContent`); msg != "" {
		b.t.Fatalf("share: %s", msg)
	}
	return eval[string](b, `document.querySelector('#dlg-share-url').value`)
}

func testShares(t *testing.T, e *env, b *browser) {
	b.exec(`location.hash = '#/shared'`)
	b.waitJS("folder shared", jsHasRow("report.txt"))
	b.selectRow("report.txt")
	open := b.share("24h", "")
	if !strings.HasPrefix(open, e.base+"/s/") {
		t.Fatalf("share URL %q", open)
	}
	b.shot("share-link")
	b.axe("share link shown")
	b.run(chromedp.Click(chromedp.CSS(`#dlg-share-cancel`)))
	if got := b.fetchShare(open, ""); got != "200 quarterly" {
		t.Fatalf("GET %s: %q", open, got)
	}
	locked := b.share("720h", "s3cret")
	b.run(chromedp.Click(chromedp.CSS(`#dlg-share-cancel`)))
	if got := b.fetchShare(locked, ""); got != "401 " {
		t.Fatalf("GET %s without the password: %q", locked, got)
	}
	if got := b.fetchShare(locked, "s3cret"); got != "200 quarterly" {
		t.Fatalf("GET %s with the password: %q", locked, got)
	}

	// The list of the tenant's links; revoke the one without a password.
	b.run(chromedp.Click(chromedp.CSS(`#btn-shares`)))
	b.waitJS("two share links", `document.querySelectorAll('#shares-list li').length === 2`)
	b.shot("shares")
	b.axe("share links")
	if !eval[bool](b, `(() => { const li = Array.from(document.querySelectorAll('#shares-list li')).find((li) => !li.textContent.includes('password')); if (!li) return false; li.querySelector('button').click(); return true; })()`) {
		t.Fatal("no link without a password listed")
	}
	b.waitJS("one share link left", `document.querySelectorAll('#shares-list li').length === 1 && document.querySelector('#shares-status').textContent.startsWith('Revoked')`)
	if got := b.fetchShare(open, ""); got != "404 " {
		t.Fatalf("GET %s after the revocation: %q", open, got)
	}
	if got := b.fetchShare(locked, "s3cret"); got != "200 quarterly" {
		t.Fatalf("the other link after the revocation: %q", got)
	}
}

// call calls the API with tok and returns the status and body.
func (e *env) call(tok, method, path string, body any) (int, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.base+path, r)
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// rootNames lists the root folder with tok.
func (e *env) rootNames(tok string) []string {
	e.t.Helper()
	code, body := e.call(tok, "GET", "/api/list", nil)
	if code != 200 {
		e.t.Fatalf("list with a new token: %d %s", code, body)
	}
	var ans struct{ Entries []struct{ Path string } }
	if err := json.Unmarshal(body, &ans); err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, m := range ans.Entries {
		names = append(names, m.Path)
	}
	slices.Sort(names)
	return names
}

func testTeam(t *testing.T, e *env, b *browser) {
	b.signInAs(e.admin)
	b.run(chromedp.Click(chromedp.CSS(`#btn-team`)))
	b.waitJS("the team's tokens", `document.querySelector('#team-tokens').textContent.includes('boss') && document.querySelector('#team-status').textContent === ''`)
	b.axe("team")

	// Invite carol, read only, to proj: the token and the link are shown once.
	b.run(chromedp.Click(chromedp.CSS(`#btn-invite`)))
	b.waitJS("invite dialog", `document.querySelector('#dlg-invite').open`)
	b.setValues(map[string]string{"#dlg-invite-subject": "carol", "#dlg-invite-role": "read", "#dlg-invite-path": "proj"})
	b.axe("invite dialog")
	b.run(chromedp.Click(chromedp.CSS(`#dlg-invite-ok`)))
	b.waitJS("the new token", `document.querySelector('#dlg-invite-token').value !== '' || document.querySelector('#dlg-invite-error').textContent !== ''`)
	if msg := eval[string](b, `document.querySelector('#dlg-invite-error').textContent`); msg != "" {
		t.Fatalf("invite: %s", msg)
	}
	tok := eval[string](b, `document.querySelector('#dlg-invite-token').value`)
	if link := eval[string](b, `document.querySelector('#dlg-invite-link').value`); link != e.base+"/#token="+tok {
		t.Fatalf("sign-in link %q for token %q", link, tok)
	}
	b.shot("invite")
	b.axe("invite shown")
	b.run(chromedp.Click(chromedp.CSS(`#dlg-invite-cancel`)))
	if got := e.rootNames(tok); !slices.Equal(got, []string{"proj"}) {
		t.Fatalf("carol's root: %v", got)
	}
	if code, _ := e.call(tok, "PUT", "/api/files/proj/w.txt", "x"); code != 403 {
		t.Fatalf("carol (read) may write: %d", code)
	}

	// Revoke carol's token from the list: it stops working.
	b.waitJS("carol listed", `document.querySelector('#team-tokens').textContent.includes('carol')`)
	b.shot("team")
	if !eval[bool](b, `(() => { const li = Array.from(document.querySelectorAll('#team-tokens li')).find((li) => li.textContent.includes('carol')); const btn = li && li.querySelector('button'); if (!btn) return false; btn.click(); return true; })()`) {
		t.Fatal("no revoke button for carol")
	}
	b.waitJS("carol gone", `!document.querySelector('#team-tokens').textContent.includes('carol') && document.querySelector('#team-status').textContent.startsWith('Revoked')`)
	if code, body := e.call(tok, "GET", "/api/usage", nil); code != 401 {
		t.Fatalf("carol's token after the revocation: %d %s", code, body)
	}
	if !eval[bool](b, `document.querySelector('#team-tokens').textContent.includes('boss')`) {
		t.Fatal("the admin's own token left the list")
	}
}

func testScoped(t *testing.T, e *env, b *browser) {
	code, body := e.call(e.admin, "POST", "/api/team/tokens", map[string]any{"subject": "dave", "role": "write", "paths": []string{"proj/deep"}})
	if code != 201 {
		t.Fatalf("issue a scoped token: %d %s", code, body)
	}
	var ans struct{ Token string }
	if err := json.Unmarshal(body, &ans); err != nil {
		t.Fatal(err)
	}
	b.signInAs(ans.Token)
	b.waitJS("only the ancestor", jsHasRow("proj")+` && document.querySelectorAll('#list .row').length === 1`)
	b.exec(`location.hash = '#/proj'`)
	b.waitJS("only the scoped folder", jsHasRow("deep")+` && document.querySelectorAll('#list .row').length === 1`)
	b.run(chromedp.Click(chromedp.CSS(`#btn-deleted`)))
	b.waitJS("recently deleted", `document.querySelector('#deleted-status').textContent !== 'Loading…'`)
	b.run(chromedp.Click(chromedp.CSS(`#btn-deleted`)))
	b.exec(`location.hash = '#/proj/deep'`)
	b.waitJS("the file inside", jsHasRow("plan.txt"))
	// Share links made outside the scope are not listed.
	b.run(chromedp.Click(chromedp.CSS(`#btn-shares`)))
	b.waitJS("share links", `document.querySelector('#shares-status').textContent !== 'Loading…'`)
	if n := eval[int](b, `document.querySelectorAll('#shares-list li').length`); n != 0 {
		t.Fatalf("a scoped token sees %d share links from outside its scope", n)
	}
	for _, id := range []string{"#action-status", "#deleted-status", "#shares-status"} {
		if eval[bool](b, fmt.Sprintf(`document.querySelector(%q).classList.contains('bad')`, id)) {
			t.Fatalf("%s: %s", id, eval[string](b, fmt.Sprintf(`document.querySelector(%q).textContent`, id)))
		}
	}
	b.axe("path-scoped")
}
