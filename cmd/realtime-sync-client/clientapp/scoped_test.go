package clientapp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
)

// scopedToken issues a write token of subject bob on t1 limited to paths (SPEC §7.5).
func scopedToken(t *testing.T, srv *server, paths ...string) string {
	t.Helper()
	tok, _, err := srv.D.Auth().IssueTenant(context.Background(), auth.TenantTokenRequest{
		Tenant: "t1", Subject: "bob", Role: "write", TTL: time.Hour, Paths: paths,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// onServer reports whether p holds content on the server.
func onServer(c engine.Remote, p, content string) func() bool {
	return func() bool {
		var b strings.Builder
		_, err := c.Download(context.Background(), p, &b)
		return err == nil && b.String() == content
	}
}

// A local name outside a path-scoped token's paths is one the server refuses (404 on
// PUT and mkdir, SPEC §7.5): it is reported once and kept, never retried in a loop
// (SPEC §1), while the rest of the folder syncs.
func TestScopedTokenLocalNameOutsideReportedOnce(t *testing.T) {
	srv := startServer(t)
	rc := realClient(t, srv.URL, srv.Token)
	tok := writeToken(t, scopedToken(t, srv, "proj"))
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "outside.txt"), "o")
	if err := os.Mkdir(filepath.Join(dir, "outdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "proj", "in.txt"), "in")
	c := startClient(t, "B", srv.URL, tok, dir, "--realtime")
	eventually(t, waitLong, "proj/in.txt uploaded", onServer(rc, "proj/in.txt", "in"))
	eventually(t, waitLong, "both names reported", func() bool {
		l := c.logs.String()
		return strings.Contains(l, "path=outside.txt") && strings.Contains(l, "path=outdir")
	})
	time.Sleep(3 * time.Second) // the first retry of a failed step comes after 2 s
	logs := c.logs.String()
	if strings.Contains(logs, "sync step failed") {
		t.Errorf("a name outside the token's paths is retried as a failure:\n%s", logs)
	}
	if n := strings.Count(logs, "kept but not synced"); n != 2 {
		t.Errorf("%d refusal reports, want one per name:\n%s", n, logs)
	}
	for _, p := range []string{"outside.txt", "outdir"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s not kept: %v", p, err)
		}
	}
	var sink strings.Builder
	if _, err := rc.Download(context.Background(), "outside.txt", &sink); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Errorf("outside.txt on the server: %v", err)
	}
}
