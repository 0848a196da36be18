package ctl

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokenIssueLink: --link prints PUBLIC_URL/#token=TOKEN on stdout and nothing else;
// the token in it works; PUBLIC_URL comes from --public-url, else the config's
// web.public_url, else the listen address.
func TestTokenIssueLink(t *testing.T) {
	d, data := startSyncd(t)
	run(t, "tenant", "create", "team", "--data", data).must(t)

	base := "http://" + d.Addr()
	r := run(t, "token", "issue", "--tenant", "team", "--subject", "ann", "--role", "read", "--link", "--public-url", base+"/", "--data", data).must(t)
	link := strings.TrimSuffix(r.stdout, "\n")
	if strings.Count(r.stdout, "\n") != 1 || !strings.HasPrefix(link, base+"/#token=") {
		t.Fatalf("stdout %q", r.stdout)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	frag, _ := url.ParseQuery(u.Fragment)
	token := frag.Get("token")
	if token == "" || strings.Contains(r.stderr, token) {
		t.Fatalf("no token in the link, or token on stderr: %q", r.stderr)
	}
	if code := apiStatus(t, d.Addr(), token); code != http.StatusOK {
		t.Fatalf("token of the link: %d", code)
	}
	// The page itself is served there.
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /: %d %v", resp.StatusCode, resp.Header)
	}

	// From the config's web.public_url, then derived from its listen address (with a note).
	dir := t.TempDir()
	for _, tc := range []struct{ cfg, want, note string }{
		{`{"data_dir":"` + data + `","web":{"public_url":"https://files.example.com/sync/"}}`, "https://files.example.com/sync/#token=", ""},
		{`{"data_dir":"` + data + `","listen":"127.0.0.1:9443","tls":{"mode":"manual","cert_file":"c","key_file":"k"}}`, "https://127.0.0.1:9443/#token=", "web.public_url"},
	} {
		cfg := filepath.Join(dir, "c.json")
		os.Remove(cfg)
		if err := os.WriteFile(cfg, []byte(tc.cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r := run(t, "token", "issue", "--tenant", "team", "--subject", "ann", "--role", "write", "--link", "--config", cfg).must(t)
		if !strings.HasPrefix(r.stdout, tc.want) || !strings.Contains(r.stderr, tc.note) {
			t.Errorf("config %s: stdout %q stderr %q", tc.cfg, r.stdout, r.stderr)
		}
	}

	// Bad usage.
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--link", "--out", filepath.Join(dir, "t")}, "choose one"},
		{[]string{"--public-url", base}, "goes with --link"},
		{[]string{"--link", "--public-url", "javascript:alert(1)"}, "--public-url"},
		{[]string{"--link", "--public-url", base + "/?x=1"}, "--public-url"},
	} {
		args := append([]string{"token", "issue", "--tenant", "team", "--subject", "ann", "--role", "read", "--data", data}, tc.args...)
		r := run(t, args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) || r.stdout != "" {
			t.Errorf("%v: exit %d stdout %q stderr %q", tc.args, r.code, r.stdout, r.stderr)
		}
	}
	r = run(t, "token", "issue", "--ops", "--subject", "o", "--link", "--data", data)
	if r.code != 2 || r.stdout != "" {
		t.Errorf("--ops --link: exit %d stdout %q", r.code, r.stdout)
	}
}
