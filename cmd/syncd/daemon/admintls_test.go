package daemon

import (
	"bytes"
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
)

// TestManualTLSAdminListen: in manual mode admin_listen serves TLS with the main
// listener's certificate (loopback included: an internal CA can name 127.0.0.1), and
// syncctl reaches it with --ca-file. The two servers had shared one *tls.Config,
// which net/http changes when it starts serving (it adds "h2"): a data race between
// the two listeners' start (caught by -race).
func TestManualTLSAdminListen(t *testing.T) {
	ctx := context.Background()
	ca := newTestCA(t)
	cert, key := ca.issue(t, 2, x509.ExtKeyUsageServerAuth)
	dir := t.TempDir()
	d := startWithConfig(t, map[string]any{
		"listen": "127.0.0.2:0", "admin_listen": "127.0.0.1:0",
		"tls": map[string]any{"mode": "manual", "cert_file": writeTestFile(t, dir, "cert.pem", cert), "key_file": writeTestFile(t, dir, "key.pem", key)},
	})
	ops, _, err := d.Auth().IssueOpsToken(ctx, "op", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokFile := writeTestFile(t, dir, "ops.token", []byte(ops+"\n"))
	caFile := writeTestFile(t, dir, "ca.pem", ca.pem)
	var out, errb bytes.Buffer
	if code := ctl.Run(ctx, []string{"--server", "https://" + d.AdminAddr(), "--token-file", tokFile, "--ca-file", caFile, "tenant", "list", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("syncctl over the TLS admin listener: exit %d: %s", code, errb.String())
	}
	out.Reset()
	if code := ctl.Run(ctx, []string{"--server", "http://" + d.AdminAddr(), "--token-file", tokFile, "tenant", "list", "--json"}, &out, &errb); code == 0 {
		t.Fatal("manual mode's admin listener answered plain HTTP")
	}
}
