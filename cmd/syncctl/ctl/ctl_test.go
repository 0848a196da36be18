package ctl

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/sqlindex"
	"github.com/syncspace/syncspace/tenants/sqlite"
	"github.com/syncspace/syncspace/transport/admin"
	"github.com/syncspace/syncspace/transport/authmw"
	"github.com/syncspace/syncspace/transport/httperr"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func (r result) must(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	return r
}

// startSyncd runs the real daemon on loopback (cmd/syncd/syncdtest) and returns it
// and its data dir.
func startSyncd(t *testing.T) (*daemon.Daemon, string) {
	t.Helper()
	s := syncdtest.Start(t, syncdtest.Options{Config: map[string]any{"log": map[string]any{"level": "error"}, "limits": nil}})
	return s.D, s.DataDir
}

func apiStatus(t *testing.T, addr, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/list", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// within polls until the API answers want for token, failing after d.
func within(t *testing.T, d time.Duration, addr, token string, want int) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if apiStatus(t, addr, token) == want {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("API did not answer %d within %v", want, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLocalModeWithRunningSyncd: syncctl works on the data dir of a running syncd;
// tokens it issues work at once, revocations, key retirements and tenant deletions
// reach the server within a second.
func TestLocalModeWithRunningSyncd(t *testing.T) {
	d, data := startSyncd(t)
	addr := d.Addr()
	L := func(args ...string) result { return run(t, append(args, "--data", data)...) }

	r := L("tenant", "create", "acme", "--quota", "10GiB", "--max-file-size", "500MB", "--max-entries", "1000").must(t)
	if !strings.HasPrefix(r.stdout, "created tenant acme (id ") {
		t.Fatalf("stdout %q", r.stdout)
	}
	var ts []tenants.Tenant
	r = run(t, "--json", "--data", data, "tenant", "list").must(t) // flags before the command
	if err := json.Unmarshal([]byte(r.stdout), &ts); err != nil || len(ts) != 1 || ts[0].Quota != 10<<30 || ts[0].MaxFileSize != 500e6 || ts[0].MaxEntries != 1000 {
		t.Fatalf("tenant list %q %v", r.stdout, err)
	}
	if r := L("tenant", "list"); !strings.Contains(r.stdout, "acme") || !strings.Contains(r.stdout, "10GiB") {
		t.Fatalf("table %q", r.stdout)
	}

	r = L("token", "issue", "--tenant", "acme", "--subject", "alice", "--role", "write").must(t)
	tok := strings.TrimSuffix(r.stdout, "\n")
	if strings.Count(r.stdout, "\n") != 1 || strings.Count(tok, ".") != 2 || !strings.Contains(r.stderr, "jti ") {
		t.Fatalf("token issue stdout %q stderr %q", r.stdout, r.stderr)
	}
	if st := apiStatus(t, addr, tok); st != 200 {
		t.Fatalf("locally issued token on the running server: %d", st)
	}
	jti := strings.Fields(r.stderr)[1]
	jti = strings.TrimSuffix(jti, ",")
	L("token", "revoke", jti).must(t)
	took := within(t, time.Second, addr, tok, 401)
	t.Logf("local revocation reached the running server in %v", took)

	// By subject: every token bob holds now.
	b1 := strings.TrimSpace(L("token", "issue", "--tenant", "acme", "--subject", "bob", "--role", "read").must(t).stdout)
	b2 := strings.TrimSpace(L("token", "issue", "--tenant", "acme", "--subject", "bob", "--role", "read", "--ttl", "2d").must(t).stdout)
	if apiStatus(t, addr, b1) != 200 || apiStatus(t, addr, b2) != 200 {
		t.Fatal("bob's tokens refused")
	}
	if r := L("token", "revoke", "--tenant", "acme", "--subject", "bob").must(t); r.stdout != "revoked 2 token(s)\n" {
		t.Fatalf("revoke subject: %q", r.stdout)
	}
	within(t, time.Second, addr, b1, 401)
	within(t, time.Second, addr, b2, 401)

	var recs []auth.TokenRecord
	r = L("token", "list", "--tenant", "acme", "--json").must(t)
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil || len(recs) != 3 {
		t.Fatalf("token list %q %v", r.stdout, err)
	}
	for _, rec := range recs {
		if !rec.Revoked || strings.Contains(r.stdout, tok) {
			t.Fatalf("record %+v", rec)
		}
	}

	// Key rotation and retirement.
	old := strings.TrimSpace(L("token", "issue", "--tenant", "acme", "--subject", "carol", "--role", "read").must(t).stdout)
	var keys []auth.KeyInfo
	json.Unmarshal([]byte(L("key", "list", "--json").must(t).stdout), &keys)
	if len(keys) != 1 {
		t.Fatalf("keys %+v", keys)
	}
	L("key", "rotate").must(t)
	if apiStatus(t, addr, old) != 200 {
		t.Fatal("old key's token refused after rotation")
	}
	if r := L("key", "retire", keys[0].KID).must(t); r.stdout != "retired key "+keys[0].KID+"\n" {
		t.Fatalf("retire: %q", r.stdout)
	}
	within(t, time.Second, addr, old, 401)
	fresh := strings.TrimSpace(L("token", "issue", "--tenant", "acme", "--subject", "carol", "--role", "read").must(t).stdout)
	if st := apiStatus(t, addr, fresh); st != 200 {
		t.Fatalf("new key's token: %d", st)
	}

	// Tenant deletion.
	if r := L("tenant", "delete", "acme"); r.code != 2 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("delete without --force: %+v", r)
	}
	L("tenant", "delete", "acme", "--force").must(t)
	within(t, time.Second, addr, fresh, 401)

	// The local audit trail.
	var es []auth.AuditEntry
	json.Unmarshal([]byte(L("audit", "--json").must(t).stdout), &es)
	var acts []string
	for _, e := range es {
		if e.Actor != auth.LocalActor() {
			t.Fatalf("actor %q", e.Actor)
		}
		acts = append(acts, e.Action)
	}
	want := "tenant.create token.issue token.revoke token.issue token.issue token.revoke_subject token.issue key.rotate key.retire token.issue tenant.delete"
	if strings.Join(acts, " ") != want {
		t.Fatalf("audit %v", acts)
	}
	for _, e := range es {
		if strings.Contains(e.Target, ".ey") {
			t.Fatal("token in audit")
		}
	}
}

// TestRemoteMode drives the admin API of the running syncd (loopback main listener)
// with an ops token issued locally into a --out file.
func TestRemoteMode(t *testing.T) {
	d, data := startSyncd(t)
	addr := d.Addr()
	dir := t.TempDir()
	opsFile := filepath.Join(dir, "ops.token")
	r := run(t, "token", "issue", "--ops", "--subject", "root", "--out", opsFile, "--data", data).must(t)
	if r.stdout != "" {
		t.Fatalf("stdout with --out: %q", r.stdout)
	}
	st, err := os.Stat(opsFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", st, err)
	}
	before, _ := os.ReadFile(opsFile)
	if r := run(t, "token", "issue", "--ops", "--subject", "root", "--out", opsFile, "--data", data); r.code != 1 || !strings.Contains(r.stderr, "refusing to overwrite") {
		t.Fatalf("overwrite: %+v", r)
	}
	if after, _ := os.ReadFile(opsFile); !bytes.Equal(before, after) {
		t.Fatal("token file changed")
	}
	R := func(args ...string) result {
		return run(t, append([]string{"--server", "http://" + addr, "--token-file", opsFile}, args...)...)
	}
	R("tenant", "create", "beta", "--quota", "1MiB").must(t)
	var ts []tenants.Tenant
	json.Unmarshal([]byte(R("tenant", "list", "--json").must(t).stdout), &ts)
	if len(ts) != 1 || ts[0].Name != "beta" || ts[0].Quota != 1<<20 {
		t.Fatalf("tenants %+v", ts)
	}
	if r := R("tenant", "create", "beta"); r.code != 1 || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("duplicate tenant: %+v", r)
	}
	r = R("token", "issue", "--tenant", "beta", "--subject", "carol", "--role", "read", "--ttl", "1h").must(t)
	tok := strings.TrimSpace(r.stdout)
	if apiStatus(t, addr, tok) != 200 {
		t.Fatal("remotely issued token refused")
	}
	var recs []auth.TokenRecord
	json.Unmarshal([]byte(R("token", "list", "--tenant", "beta", "--json").must(t).stdout), &recs)
	if len(recs) != 1 || recs[0].Subject != "carol" {
		t.Fatalf("records %+v", recs)
	}
	R("token", "revoke", recs[0].JTI).must(t)
	if apiStatus(t, addr, tok) != 401 {
		t.Fatal("remote revocation not effective")
	}
	if r := R("token", "issue", "--ops", "--subject", "x"); r.code != 2 || !strings.Contains(r.stderr, "local mode") {
		t.Fatalf("remote ops issue: %+v", r)
	}
	if r := R("token", "issue", "--tenant", "beta", "--subject", "x", "--role", "read", "--ttl", "99999h"); r.code != 1 || !strings.Contains(r.stderr, "auth.max_ttl") {
		t.Fatalf("ttl over max: %+v", r)
	}
	R("key", "rotate").must(t)
	var keys []auth.KeyInfo
	json.Unmarshal([]byte(R("key", "list", "--json").must(t).stdout), &keys)
	if len(keys) != 2 || !keys[1].Signing {
		t.Fatalf("keys %+v", keys)
	}
	var es []auth.AuditEntry
	json.Unmarshal([]byte(R("audit", "--json").must(t).stdout), &es)
	seen := map[string]bool{}
	for _, e := range es {
		seen[e.Actor+" "+e.Action] = true
		if e.Actor == "ops:root" && (e.JTI == "" || e.Address != "127.0.0.1") {
			t.Fatalf("entry %+v", e)
		}
	}
	for _, w := range []string{auth.LocalActor() + " token.issue_ops", "ops:root tenant.create", "ops:root token.issue", "ops:root token.revoke", "ops:root key.rotate"} {
		if !seen[w] {
			t.Fatalf("audit lacks %q: %v", w, seen)
		}
	}
	// Shapes and audiences on the real server: a tenant admin token is refused on
	// /admin, an ops token on /api; a token verifies with the JWKS document alone.
	adminTok := strings.TrimSpace(R("token", "issue", "--tenant", "beta", "--subject", "boss", "--role", "admin").must(t).stdout)
	opsTok := strings.TrimSpace(string(before))
	for _, c := range []struct{ path, tok string }{{"/admin/tenants", adminTok}, {"/api/list", opsTok}} {
		req, _ := http.NewRequest("GET", "http://"+addr+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+c.tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Valid, but for the other route family: forbidden, not unauthenticated.
		if resp.StatusCode != 403 {
			t.Fatalf("%s with the wrong audience: %d", c.path, resp.StatusCode)
		}
	}
	verifyWithJWKS(t, "http://"+addr+"/.well-known/jwks.json", adminTok)
	R("tenant", "delete", "beta", "--force").must(t)

	// A revoked ops token is refused (exit 1, one line).
	R("token", "revoke", "--ops", "--subject", "root").must(t)
	if r := R("tenant", "list"); r.code != 1 || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("revoked ops token: %+v", r)
	}
}

// TestRemoteTLS: remote mode verifies the server certificate; --ca-file trusts a
// private CA.
func TestRemoteTLS(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	logger := slog.New(slog.DiscardHandler)
	reg, err := sqlindex.OpenRegistry(ctx, db, dir, tenants.Limits{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	svc, err := sqlitestore.OpenService(ctx, db, auth.Config{KeyDir: filepath.Join(dir, "keys")}, reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = httperr.Handler(logger)
	if err := admin.Register(e.Group("/admin"), admin.Options{Auth: svc, Tenants: reg, MW: authmw.New(svc, authmw.Options{Logger: logger}), Logger: logger, ParseSize: config.ParseSize}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(e)
	defer srv.Close()
	ops, _, err := svc.IssueOpsToken(ctx, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(dir, "ops.token")
	os.WriteFile(tokFile, []byte(ops+"\n"), 0o600)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)

	if r := run(t, "--server", srv.URL, "--token-file", tokFile, "tenant", "list"); r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Fatalf("untrusted certificate accepted: %+v", r)
	}
	if r := run(t, "--server", srv.URL, "--token-file", tokFile, "--ca-file", caFile, "tenant", "list", "--json").must(t); strings.TrimSpace(r.stdout) != "[]" {
		t.Fatalf("list: %q", r.stdout)
	}
	if r := run(t, "--server", srv.URL, "--token-file", tokFile, "--ca-file", tokFile, "tenant", "list"); r.code != 1 || !strings.Contains(r.stderr, "no PEM") {
		t.Fatalf("bad CA file: %+v", r)
	}
}

func TestUsage(t *testing.T) {
	data := t.TempDir()
	cases := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"help", []string{"-h"}, 0, ""},
		{"help word", []string{"help"}, 0, ""},
		{"empty list", []string{"tenant", "list", "--json", "--data", data}, 0, ""},
		{"flags first", []string{"--data", data, "--json", "key", "list"}, 0, ""},
		{"flag=value", []string{"--data=" + data, "audit", "--limit=5"}, 0, ""},
		// bad usage: 2
		{"nothing", nil, 2, "usage"},
		{"unknown command", []string{"bogus"}, 2, "unknown command"},
		{"group only", []string{"tenant"}, 2, "unknown command"},
		{"missing name", []string{"tenant", "create", "--data", data}, 2, "arguments"},
		{"extra arg", []string{"key", "list", "x", "--data", data}, 2, "arguments"},
		{"bad name", []string{"tenant", "create", "Bad_Name", "--data", data}, 2, "must match"},
		{"bad size", []string{"tenant", "create", "x", "--quota", "ten", "--data", data}, 2, "--quota"},
		{"negative entries", []string{"tenant", "create", "x", "--max-entries", "-1", "--data", data}, 2, "--max-entries"},
		{"flag of another command", []string{"tenant", "list", "--quota", "1", "--data", data}, 2, "does not take"},
		{"unknown flag", []string{"tenant", "list", "--bogus"}, 2, "unknown flag"},
		{"postgres without kek", []string{"tenant", "list", "--postgres", "postgres://127.0.0.1:1/x"}, 2, "--kek-file"},
		{"postgres with data", []string{"tenant", "list", "--postgres", "postgres://127.0.0.1:1/x", "--kek-file", "k", "--data", data}, 2, "--data"},
		{"postgres with server", []string{"tenant", "list", "--postgres", "postgres://127.0.0.1:1/x", "--server", "http://127.0.0.1:1"}, 2, "--postgres"},
		// cluster mode never falls back to a data dir
		{"cluster unreachable", []string{"tenant", "list", "--postgres", "postgres://127.0.0.1:1/x?connect_timeout=2", "--kek-file", "k"}, 1, "cluster mode"},
		{"missing value", []string{"tenant", "list", "--data"}, 2, "needs a value"},
		{"bool with value", []string{"tenant", "list", "--json=yes"}, 2, "takes no value"},
		{"flag twice", []string{"tenant", "list", "--data", data, "--data", data}, 2, "twice"},
		{"delete without force", []string{"tenant", "delete", "x", "--data", data}, 2, "--force"},
		{"issue without subject", []string{"token", "issue", "--tenant", "a", "--role", "read", "--data", data}, 2, "--subject"},
		{"issue without role", []string{"token", "issue", "--tenant", "a", "--subject", "s", "--data", data}, 2, "--role"},
		{"ops with tenant", []string{"token", "issue", "--ops", "--subject", "x", "--tenant", "a", "--data", data}, 2, "--ops"},
		{"bad ttl", []string{"token", "issue", "--tenant", "a", "--subject", "s", "--role", "read", "--ttl", "soon", "--data", data}, 2, "--ttl"},
		{"path with dot segment", []string{"token", "issue", "--tenant", "a", "--subject", "s", "--role", "read", "--path", "a/../b", "--data", data}, 2, "--path: dot segment"},
		{"absolute path", []string{"token", "issue", "--tenant", "a", "--subject", "s", "--role", "read", "--path", "/a", "--data", data}, 2, "--path"},
		{"team path outside the rules", []string{"team", "issue", "--subject", "s", "--role", "read", "--path", "con.txt", "--server", "https://127.0.0.1:1", "--token-file", "f"}, 2, "--path"},
		{"revoke nothing", []string{"token", "revoke", "--data", data}, 2, "JTI"},
		{"revoke subject without tenant", []string{"token", "revoke", "--subject", "x", "--data", data}, 2, "--tenant"},
		{"revoke jti and subject", []string{"token", "revoke", "j", "--subject", "x", "--data", data}, 2, "not both"},
		{"list tenant and ops", []string{"token", "list", "--tenant", "a", "--ops", "--data", data}, 2, "not both"},
		{"bad limit", []string{"audit", "--limit", "0", "--data", data}, 2, "--limit"},
		{"token file without server", []string{"tenant", "list", "--token-file", "f"}, 2, "--server"},
		{"server and data", []string{"tenant", "list", "--server", "https://127.0.0.1:1", "--data", data}, 2, "local mode"},
		{"ftp server", []string{"tenant", "list", "--server", "ftp://x", "--token-file", "f"}, 2, "scheme"},
		{"plain http remote", []string{"tenant", "list", "--server", "http://example.com", "--token-file", "f"}, 2, "loopback"},
		{"server with query", []string{"tenant", "list", "--server", "https://x/?token=a", "--token-file", "f"}, 2, "query"},
		{"server without token file", []string{"tenant", "list", "--server", "https://127.0.0.1:1"}, 2, "--token-file"},
		// runtime failures: 1
		{"missing data dir", []string{"tenant", "list", "--data", filepath.Join(data, "nope")}, 1, "does not exist"},
		{"missing token file", []string{"tenant", "list", "--server", "https://127.0.0.1:1", "--token-file", filepath.Join(data, "nope")}, 1, "token file"},
		{"delete unknown tenant", []string{"tenant", "delete", "nope", "--force", "--data", data}, 1, ""},
		{"revoke unknown jti", []string{"token", "revoke", "nope", "--data", data}, 1, "no such token"},
		{"retire unknown key", []string{"key", "retire", "nope", "--data", data}, 1, "no such key"},
		{"issue for unknown tenant", []string{"token", "issue", "--tenant", "nope", "--subject", "s", "--role", "read", "--data", data}, 1, "no such tenant"},
		{"ops ttl over max", []string{"token", "issue", "--ops", "--subject", "s", "--ttl", "48h", "--data", data}, 1, "auth.max_ops_ttl"},
		{"unreachable server", []string{"tenant", "list", "--server", "http://127.0.0.1:1", "--token-file", "/dev/null"}, 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, c.code, r.stderr)
			}
			if !strings.Contains(r.stderr, c.stderr) && !strings.Contains(r.stdout, c.stderr) {
				t.Fatalf("output %q / %q lacks %q", r.stdout, r.stderr, c.stderr)
			}
			if c.code == 1 && strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("error not one line: %q", r.stderr)
			}
		})
	}
}

func TestDashQuotesControlCharacters(t *testing.T) {
	for in, want := range map[string]string{"": "-", "acme": "acme", "a\x1b[31mb": `"a\x1b[31mb"`, "a\tb": `"a\tb"`} {
		if got := dash(in); got != want {
			t.Errorf("dash(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzArgs: the argument parser never panics, and Run with arbitrary words ends with
// a defined exit code.
func FuzzArgs(f *testing.F) {
	f.Add("tenant create x --quota 1GiB")
	f.Add("--json token list --tenant=a --ops")
	f.Add("-- --data x")
	f.Add("---x")
	f.Fuzz(func(t *testing.T, line string) {
		p, err := parseArgs(strings.Fields(line))
		if err == nil && p == nil {
			t.Fatal("nil result without error")
		}
		if err == nil {
			lookup(p)
		}
	})
}

// verifyWithJWKS checks tok as an outside service would: with the JWKS document only.
func verifyWithJWKS(t *testing.T, url, tok string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Keys []struct{ Kty, Crv, X, Kid, Alg, Use string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range doc.Keys {
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" {
			t.Fatalf("jwk %+v", k)
		}
		keys[k.Kid] = x
	}
	_, err = jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, errors.New("unknown kid")
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("syncd"), jwt.WithAudience("syncspace"), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("token does not verify with the JWKS: %v", err)
	}
}

// TestLocalModeUsesSyncdSettings: syncd runs with its own issuer, TTL caps and a key
// dir outside the data dir; syncctl given only --data (SPEC §1) issues tokens with
// that issuer and key, which syncd accepts, and holds to syncd's TTL caps.
func TestLocalModeUsesSyncdSettings(t *testing.T) {
	dir := t.TempDir()
	data, keys := filepath.Join(dir, "data"), filepath.Join(dir, "keys")
	d := syncdtest.Start(t, syncdtest.Options{DataDir: data, Config: map[string]any{"log": map[string]any{"level": "error"}, "limits": nil,
		"auth": map[string]any{"issuer": "my-issuer", "max_ttl": "48h", "max_ops_ttl": "1h", "key_dir": keys}}})
	addr := d.Addr()

	run(t, "--data", data, "tenant", "create", "team").must(t)
	tok := strings.TrimSpace(run(t, "--data", data, "token", "issue", "--tenant", "team", "--subject", "u", "--role", "read").must(t).stdout)
	var claims map[string]any
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(pb, &claims)
	if claims["iss"] != "my-issuer" {
		t.Errorf("iss %v, want syncd's issuer", claims["iss"])
	}
	if st := apiStatus(t, addr, tok); st != 200 {
		t.Errorf("token issued by syncctl --data: status %d", st)
	}
	if _, err := os.Stat(filepath.Join(data, "keys")); !os.IsNotExist(err) {
		t.Errorf("syncctl created keys inside the data dir: %v", err)
	}
	for _, c := range [][]string{
		{"token", "issue", "--tenant", "team", "--subject", "u", "--role", "read", "--ttl", "100h"},
		{"token", "issue", "--ops", "--subject", "o", "--ttl", "2h"},
	} {
		if r := run(t, append([]string{"--data", data}, c...)...); r.code == 0 {
			t.Errorf("%v: over syncd's cap, accepted", c)
		}
	}
	// An explicit --config still wins.
	run(t, "--data", data, "--config", d.ConfigPath, "token", "issue", "--tenant", "team", "--subject", "u", "--role", "read").must(t)
}

// TestRemoteIssueWithoutTTLUsesTheServersDefault: `token issue` without --ttl in
// remote mode leaves the lifetime to the server (720h capped by its auth.max_ttl), as
// local mode and POST /admin/tokens do, instead of asking for 720h and being refused
// by a server whose auth.max_ttl is shorter.
func TestRemoteIssueWithoutTTLUsesTheServersDefault(t *testing.T) {
	s := syncdtest.Start(t, syncdtest.Options{Config: map[string]any{"log": map[string]any{"level": "error"}, "limits": nil,
		"auth": map[string]any{"max_ttl": "48h"}}})
	opsFile := filepath.Join(t.TempDir(), "ops.token")
	run(t, "--data", s.DataDir, "token", "issue", "--ops", "--subject", "root", "--out", opsFile).must(t)
	run(t, "--data", s.DataDir, "tenant", "create", "team").must(t)
	r := run(t, "--server", "http://"+s.D.Addr(), "--token-file", opsFile, "token", "issue", "--tenant", "team", "--subject", "u", "--role", "read").must(t)
	tok := strings.TrimSpace(r.stdout)
	if st := apiStatus(t, s.D.Addr(), tok); st != 200 {
		t.Fatalf("remotely issued token: status %d", st)
	}
	var claims struct{ Iat, Exp int64 }
	parts := strings.Split(tok, ".")
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(pb, &claims); err != nil || claims.Exp-claims.Iat != int64((48*time.Hour).Seconds()) {
		t.Fatalf("lifetime %ds (%v), want auth.max_ttl 48h", claims.Exp-claims.Iat, err)
	}
}

// TestRemotePlainHTTPDialsLoopbackOnly: remote mode over plain http (allowed to a
// loopback name such as localhost) refuses, before connecting, an address that is not
// loopback, so that a name resolving elsewhere never carries the ops token in clear.
func TestRemotePlainHTTPDialsLoopbackOnly(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "ops.token")
	os.WriteFile(tokenFile, []byte("x.y.z\n"), 0o600)
	r, err := openRemote("http://localhost:8080", tokenFile, "")
	if err != nil {
		t.Fatal(err)
	}
	tr := r.hc.Transport.(*http.Transport)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// 192.0.2.0/24 is TEST-NET-1: nothing answers there; the check refuses it first.
	if _, err := tr.DialContext(ctx, "tcp", "192.0.2.1:8080"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("dial of a non-loopback address: %v", err)
	}
	c, err := tr.DialContext(ctx, "tcp", "127.0.0.1:1")
	if c != nil {
		c.Close()
	}
	if err != nil && strings.Contains(err.Error(), "loopback") {
		t.Fatalf("loopback address refused: %v", err)
	}
}
