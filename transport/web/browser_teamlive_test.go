package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/tenants"
)

// TestBrowserTeamLiveOnly opens the Team panel after a member's token and a device
// credential have expired (auth.device_ttl 2s): it lists neither, as it lists no
// revoked one (the Share links panel does the same for links), and still lists the
// live token.
func TestBrowserTeamLiveOnly(t *testing.T) {
	exe := chromium(t)
	s := syncdtest.Start(t, syncdtest.Options{Config: map[string]any{
		"log": map[string]any{"level": "error"}, "auth": map[string]any{"device_ttl": "2s"}}})
	s.Tenant(t, "team", tenants.Options{})
	e := &env{t: t, d: s.D, base: s.URL, data: s.DataDir, admin: s.Token(t, "team", "boss", auth.RoleAdmin)}
	b := newBrowser(t, exe)
	start := time.Now()
	for _, req := range []map[string]string{
		{"subject": "shorty", "role": "read", "ttl": "1s"},
		{"subject": "longer", "role": "read", "ttl": "24h"},
		{"subject": "phoneowner", "role": "read", "device": "oldphone"},
	} {
		if code, body := e.call(e.admin, "POST", "/api/team/tokens", req); code != 201 {
			t.Fatalf("issue %v: %d %s", req, code, body)
		}
	}
	time.Sleep(time.Until(start.Add(3 * time.Second)))
	b.run(chromedp.Navigate(e.base + "/#token=" + e.admin))
	b.waitJS("the folder view", jsVisible("#list")+` && document.querySelector('#banner').hidden`)
	b.run(chromedp.Click(chromedp.CSS(`#btn-team`)))
	b.waitJS("the team's tokens", `document.querySelector('#team-tokens').textContent.includes('longer') && document.querySelector('#team-status').textContent === ''`)
	toks := eval[string](b, `document.querySelector('#team-tokens').textContent`)
	devs := eval[string](b, `document.querySelector('#team-devices').textContent`)
	if strings.Contains(toks, "shorty") || strings.Contains(devs, "oldphone") {
		t.Fatalf("team panel lists expired credentials as live: tokens %q, devices %q", toks, devs)
	}
}
