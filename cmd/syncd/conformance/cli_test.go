package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// SPEC §1: every binary's -h prints usage and exits 0.
func TestCLIHelp(t *testing.T) {
	t.Parallel()
	for _, bin := range []string{bins.syncd, bins.syncctl, bins.client} {
		for _, flag := range []string{"-h", "--help"} {
			r := run(t, t.TempDir(), nil, bin, flag)
			name := filepath.Base(bin) + " " + flag
			if r.code != 0 {
				t.Errorf("%s: %v", name, r)
				continue
			}
			if !strings.Contains(strings.ToLower(r.stdout), "usage") {
				t.Errorf("%s: no usage on stdout: %v", name, r)
			}
			if r.stderr != "" {
				t.Errorf("%s: stderr not empty: %q", name, r.stderr)
			}
		}
	}
}

// SPEC §1: bad usage exits 2 with one clear line on stderr and nothing on stdout.
func TestCLIBadUsage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		bin  string
		args []string
	}{
		{"syncd unknown flag", bins.syncd, []string{"--bogus"}},
		{"syncd missing flag value", bins.syncd, []string{"-config"}},
		{"syncd stray argument", bins.syncd, []string{"serve"}},
		{"syncctl unknown flag", bins.syncctl, []string{"--bogus", "tenant", "list"}},
		{"syncctl unknown flag after command", bins.syncctl, []string{"tenant", "list", "--bogus"}},
		{"syncctl unknown command", bins.syncctl, []string{"frobnicate"}},
		{"syncctl no command", bins.syncctl, nil},
		{"syncctl missing tenant name", bins.syncctl, []string{"tenant", "create"}},
		{"syncctl bad role", bins.syncctl, []string{"token", "issue", "--tenant", "a", "--subject", "b", "--role", "root"}},
		{"syncctl delete without --force", bins.syncctl, []string{"tenant", "delete", "a"}},
		{"syncctl bad size", bins.syncctl, []string{"tenant", "create", "a", "--quota", "ten"}},
		{"syncctl remote without token file", bins.syncctl, []string{"--server", "http://127.0.0.1:1", "tenant", "list"}},
		{"syncctl ops token in remote mode", bins.syncctl, []string{"--server", "http://127.0.0.1:1", "--token-file", "/nonexistent", "token", "issue", "--ops", "--subject", "x"}},
		{"client unknown flag", bins.client, []string{"--bogus"}},
		{"client without server", bins.client, []string{"--local-path", "."}},
		{"client plain http to non-loopback", bins.client, []string{"--server", "http://example.com", "--local-path", ".", "--token", "x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, t.TempDir(), nil, c.bin, c.args...)
			if r.code != 2 {
				t.Fatalf("want exit 2: %v", r)
			}
			if r.stdout != "" {
				t.Errorf("stdout not empty: %q", r.stdout)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if r.stderr == "" || !strings.HasPrefix(lines[0], filepath.Base(c.bin)+": ") {
				t.Errorf("stderr should start with %q: %q", filepath.Base(c.bin)+": ", r.stderr)
			}
			if len(lines) != 1 {
				t.Errorf("stderr should be one line, got %d: %q", len(lines), r.stderr)
			}
		})
	}
}

// SPEC §1: flags may stand before or after the subcommand; --json on every listing.
func TestSyncctlFlagPlacementAndJSON(t *testing.T) {
	t.Parallel()
	e := shared(t)
	data := e.d.dataDir
	tn := e.newTenant(t, "")
	srv := []string{"--server", e.d.URL(), "--token-file", writeTokenFile(t, e.ops)}
	local := []string{"--data", data}
	listings := [][]string{
		{"tenant", "list"},
		{"token", "list"},
		{"token", "list", "--tenant", tn.name},
		{"token", "list", "--ops"},
		{"key", "list"},
		{"audit"},
	}
	for _, mode := range []struct {
		name  string
		flags []string
	}{{"local", local}, {"remote", srv}} {
		for _, l := range listings {
			before := append(append(append([]string{}, mode.flags...), "--json"), l...)
			after := append(append(append([]string{}, l...), "--json"), mode.flags...)
			for _, args := range [][]string{before, after} {
				r := ctl(t, args...)
				if r.code != 0 {
					t.Errorf("%s syncctl %v: %v", mode.name, args, r)
					continue
				}
				var v any
				if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
					t.Errorf("%s syncctl %v: --json output is not JSON: %v\n%s", mode.name, args, err, r.stdout)
				}
			}
		}
	}
	// The listing holds the tenant, in both modes.
	for _, flags := range [][]string{local, srv} {
		r := mustCtl(t, append(append([]string{}, flags...), "tenant", "list", "--json")...)
		if !strings.Contains(r.stdout, `"`+tn.name+`"`) {
			t.Errorf("tenant list --json lacks %s: %s", tn.name, r.stdout)
		}
	}
}

func writeTokenFile(t testing.TB, tok string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// SPEC §1/§2: token issue prints the token on stdout and nothing else there; claims
// and header as §2 says; ops tokens capped by max_ops_ttl and local-only.
func TestSyncctlTokenIssue(t *testing.T) {
	t.Parallel()
	e := shared(t)
	data := e.d.dataDir
	tn := e.newTenant(t, "")

	r := mustCtl(t, "token", "issue", "--tenant", tn.name, "--subject", "bob", "--role", "read", "--ttl", "2h", "--data", data)
	tok := strings.TrimSuffix(r.stdout, "\n")
	if !jwtRE.MatchString(tok) {
		t.Fatalf("stdout is not exactly one token line: %q", r.stdout)
	}
	if strings.Contains(r.stderr, tok) {
		t.Errorf("token echoed on stderr")
	}
	h := jwtHeader(t, tok)
	if h["alg"] != "EdDSA" || h["kid"] == nil || h["kid"] == "" {
		t.Errorf("header %v: want alg EdDSA and a kid", h)
	}
	c := jwtClaims(t, tok)
	for _, k := range []string{"iss", "aud", "sub", "tenant", "tid", "role", "iat", "nbf", "exp", "jti"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %s missing: %v", k, c)
		}
	}
	if c["aud"] != "syncspace" || c["iss"] != "syncd" || c["tenant"] != tn.name || c["role"] != "read" || c["sub"] != "bob" {
		t.Errorf("claims %v", c)
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 7200 {
		t.Errorf("exp-iat = %v, want 7200 (--ttl 2h)", exp-iat)
	}
	// The token works at once on the running server.
	expectStatus(t, tn.api(t, "GET", "/api/list", tok, nil, nil), 200)

	// Default tenant TTL is 720h.
	r = mustCtl(t, "--data", data, "token", "issue", "--tenant", tn.name, "--subject", "bob", "--role", "write")
	c = jwtClaims(t, r.stdout)
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 720*3600 {
		t.Errorf("default ttl: exp-iat = %v, want 720h", exp-iat)
	}

	// Ops token: aud syncspace-admin, role ops, no tenant/tid, default 24h, capped at 24h.
	r = mustCtl(t, "--data", data, "token", "issue", "--ops", "--subject", "carol")
	c = jwtClaims(t, r.stdout)
	if c["aud"] != "syncspace-admin" || c["role"] != "ops" || c["tenant"] != nil || c["tid"] != nil {
		t.Errorf("ops claims %v", c)
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 24*3600 {
		t.Errorf("ops default ttl: exp-iat = %v, want 24h", exp-iat)
	}
	r = ctl(t, "--data", data, "token", "issue", "--ops", "--subject", "carol", "--ttl", "25h")
	if r.code == 0 || r.stdout != "" {
		t.Errorf("ops ttl over max_ops_ttl accepted: %v", r)
	}
	// Unknown tenant: runtime failure, nothing on stdout.
	r = ctl(t, "--data", data, "token", "issue", "--tenant", "no-such-tenant-x", "--subject", "a", "--role", "read")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("unknown tenant: %v", r)
	}
}

// SPEC §1: --out writes a new file 0600 (whatever the umask) and refuses to overwrite.
func TestSyncctlTokenOut(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	dir := t.TempDir()
	out := filepath.Join(dir, "alice.token")
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"local", []string{"--data", e.d.dataDir}},
		{"remote", []string{"--server", e.d.URL(), "--token-file", writeTokenFile(t, e.ops)}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			p := out + "." + mode.name
			args := append([]string{"-c", `umask 000; exec "$0" "$@"`, bins.syncctl}, mode.args...)
			args = append(args, "token", "issue", "--tenant", tn.name, "--subject", "alice", "--role", "write", "--out", p)
			r := run(t, dir, nil, "/bin/sh", args...)
			if r.code != 0 {
				t.Fatalf("issue --out: %v", r)
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("--out file mode %04o, want 0600", st.Mode().Perm())
			}
			b, _ := os.ReadFile(p)
			tok := strings.TrimSpace(string(b))
			if !jwtRE.MatchString(tok) {
				t.Fatalf("--out file holds %q", b)
			}
			if strings.Contains(r.stdout, tok) || strings.Contains(r.stderr, tok) {
				t.Errorf("--out also printed the token")
			}
			r = run(t, dir, nil, bins.syncctl, append(append([]string{}, mode.args...), "token", "issue", "--tenant", tn.name, "--subject", "alice", "--role", "write", "--out", p)...)
			if r.code == 0 || r.stdout != "" {
				t.Errorf("overwrite not refused: %v", r)
			}
			if b2, _ := os.ReadFile(p); string(b2) != string(b) {
				t.Errorf("refused --out changed the file")
			}
		})
	}
}

// SPEC §1: SIZE accepts 10GiB, 500MB and bytes.
func TestSyncctlSizes(t *testing.T) {
	t.Parallel()
	e := shared(t)
	cases := []struct {
		size string
		want int64 // -1: refused with exit 2
	}{
		{"10GiB", 10 << 30},
		{"500MB", 500_000_000},
		{"1048576", 1 << 20},
		{"1KiB", 1024},
		{"0", 0},
		{"attack: negative", -1},
		{"attack: ten", -1},
		{"attack: 10XB", -1},
		{"attack: 1.5.5GiB", -1},
		{"attack: 99999999999999999999", -1},
	}
	for i, c := range cases {
		size := strings.TrimPrefix(c.size, "attack: ")
		if size == "negative" {
			size = "-5"
		}
		name := fmt.Sprintf("size-%d-%d", tenantSeq.Add(1), i)
		r := ctl(t, "--data", e.d.dataDir, "tenant", "create", name, "--quota", size, "--json")
		if c.want < 0 {
			if r.code != 2 {
				t.Errorf("quota %q: want exit 2, got %v", size, r)
			}
			continue
		}
		if r.code != 0 {
			t.Errorf("quota %q: %v", size, r)
			continue
		}
		lr := mustCtl(t, "--data", e.d.dataDir, "tenant", "list", "--json")
		var list []struct {
			Name  string `json:"name"`
			Quota int64  `json:"quota"`
		}
		if err := json.Unmarshal([]byte(lr.stdout), &list); err != nil {
			t.Fatalf("tenant list --json: %v", err)
		}
		found := false
		for _, tn := range list {
			if tn.Name == name {
				found = true
				if tn.Quota != c.want {
					t.Errorf("quota %q stored as %d, want %d", size, tn.Quota, c.want)
				}
			}
		}
		if !found {
			t.Errorf("tenant %s not listed", name)
		}
	}
}

// SPEC §1: tenant names match ^[a-z0-9][a-z0-9-]{0,62}$.
func TestSyncctlTenantNames(t *testing.T) {
	t.Parallel()
	e := shared(t)
	// The daemon is shared by every run of the test (-count): each run's names are
	// its own, the longest still exactly 63 characters.
	sfx := strconv.Itoa(int(tenantNameRuns.Add(1)))
	good := []string{"z9" + sfx, "0" + sfx, "a-b-c" + sfx, "n" + strings.Repeat("x", 62-len(sfx)) + sfx}
	bad := []string{"A", "-a", "a_b", "a.b", "a b", "ä", "n" + strings.Repeat("x", 63), "a/b", "..", "default\n"}
	for _, n := range good {
		if r := ctl(t, "--data", e.d.dataDir, "tenant", "create", n); r.code != 0 {
			t.Errorf("good name %q refused: %v", n, r)
		}
	}
	for _, n := range bad {
		r := ctl(t, "--data", e.d.dataDir, "tenant", "create", n)
		if r.code != 2 {
			t.Errorf("attack: name %q: want exit 2, got %v", n, r)
		}
		// The admin API refuses it too.
		ar := e.adminDo(t, "POST", "/admin/tenants", `{"name":`+jsonString(n)+`}`)
		expectErr(t, ar, 400, "bad_request")
	}
	// An empty name in the admin API.
	expectErr(t, e.adminDo(t, "POST", "/admin/tenants", `{"name":""}`), 400, "bad_request")
	// Creating a name twice is a conflict.
	expectErr(t, e.adminDo(t, "POST", "/admin/tenants", `{"name":"z9`+sfx+`"}`), 409, "conflict")
}

// tenantNameRuns counts TestSyncctlTenantNames's runs in this process.
var tenantNameRuns atomic.Int32

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
