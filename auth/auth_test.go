package auth_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	_ "modernc.org/sqlite"

	. "github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/sync/protocol"
)

// memTenants is a TenantLookup over a map, standing in for *tenants.Registry (which
// auth must not import).
type memTenants struct {
	mu sync.Mutex
	m  map[string]string
}

func newMemTenants(names ...string) *memTenants {
	t := &memTenants{m: map[string]string{}}
	for _, n := range names {
		t.m[n] = "tid-" + n + "-1"
	}
	return t
}

func (t *memTenants) LookupTenant(_ context.Context, name string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.m[name]
	if !ok {
		return "", protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	return id, nil
}

func (t *memTenants) set(name, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id == "" {
		delete(t.m, name)
	} else {
		t.m[name] = id
	}
}

func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type fixture struct {
	dir     string
	db      *sql.DB
	tenants *memTenants
	svc     *Service
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, db: openDB(t, filepath.Join(dir, "syncd.db")), tenants: newMemTenants("acme", "beta")}
	svc, err := sqlitestore.OpenService(context.Background(), f.db, Config{KeyDir: filepath.Join(dir, "keys")}, f.tenants, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

// second opens another Service on the same files, as syncctl's local mode does.
func (f *fixture) second(t testing.TB) *Service {
	t.Helper()
	svc, err := sqlitestore.OpenService(context.Background(), openDB(t, filepath.Join(f.dir, "syncd.db")), Config{KeyDir: filepath.Join(f.dir, "keys")}, f.tenants, nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func mustIssue(t testing.TB, s *Service, tenant, sub, role string) (string, TokenRecord) {
	t.Helper()
	tok, rec, err := s.IssueTenantToken(context.Background(), tenant, sub, role, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok, rec
}

func payload(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOpenKeyDirPermissions(t *testing.T) {
	f := newFixture(t)
	keys := filepath.Join(f.dir, "keys")
	st, err := os.Stat(keys)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %o, want 0700", st.Mode().Perm())
	}
	files, _ := filepath.Glob(filepath.Join(keys, "*.key"))
	if len(files) != 1 {
		t.Fatalf("want one key file, got %v", files)
	}
	fst, _ := os.Stat(files[0])
	if fst.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %o, want 0600", fst.Mode().Perm())
	}

	cases := []struct {
		name  string
		setup func()
		undo  func()
	}{
		{"dir group readable", func() { os.Chmod(keys, 0o750) }, func() { os.Chmod(keys, 0o700) }},
		{"dir world readable", func() { os.Chmod(keys, 0o705) }, func() { os.Chmod(keys, 0o700) }},
		{"key file group readable", func() { os.Chmod(files[0], 0o640) }, func() { os.Chmod(files[0], 0o600) }},
		{"stray file world readable", func() { os.WriteFile(filepath.Join(keys, "x"), nil, 0o644); os.Chmod(filepath.Join(keys, "x"), 0o644) },
			func() { os.Remove(filepath.Join(keys, "x")) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.setup()
			defer c.undo()
			_, err := sqlitestore.OpenService(context.Background(), f.db, Config{KeyDir: keys}, f.tenants, nil)
			if err == nil || !strings.Contains(err.Error(), "group or others") {
				t.Fatalf("Open = %v, want refusal", err)
			}
		})
	}
	// Restored permissions: opens again and reuses the key.
	s2 := f.second(t)
	if got, want := SignerKID(s2), SignerKID(f.svc); got != want {
		t.Fatalf("second Open created a new key %s, want %s", got, want)
	}
}

func TestOpenConfigErrors(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "db"))
	for _, cfg := range []Config{
		{},
		{KeyDir: dir + "/k", Leeway: 31 * time.Second},
		{KeyDir: dir + "/k", MaxTTL: -1},
	} {
		if _, err := sqlitestore.OpenService(context.Background(), db, cfg, newMemTenants(), nil); err == nil {
			t.Errorf("Open(%+v) succeeded", cfg)
		}
	}
}

func TestIssueClaims(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, rec := mustIssue(t, f.svc, "acme", "alice", RoleWrite)
	m := payload(t, tok)
	want := map[string]any{"iss": "syncd", "aud": "syncspace", "sub": "alice", "tenant": "acme", "tid": "tid-acme-1", "role": "write", "jti": rec.JTI}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("claim %s = %v, want %v", k, m[k], v)
		}
	}
	for _, k := range []string{"iat", "nbf", "exp"} {
		if _, ok := m[k].(float64); !ok {
			t.Errorf("claim %s missing", k)
		}
	}
	if m["exp"].(float64)-m["iat"].(float64) != 3600 {
		t.Errorf("exp-iat = %v", m["exp"].(float64)-m["iat"].(float64))
	}
	p, err := f.svc.Verify(ctx, tok, AudienceTenant)
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != KindTenant || p.Tenant != "acme" || p.TenantID != "tid-acme-1" || p.Subject != "alice" || p.Role != RoleWrite || p.JTI != rec.JTI {
		t.Fatalf("principal %+v", p)
	}

	ops, orec, err := f.svc.IssueOpsToken(ctx, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	om := payload(t, ops)
	if om["aud"] != "syncspace-admin" || om["role"] != "ops" || om["sub"] != "root" {
		t.Errorf("ops claims %v", om)
	}
	if _, ok := om["tenant"]; ok {
		t.Error("ops token has tenant")
	}
	if _, ok := om["tid"]; ok {
		t.Error("ops token has tid")
	}
	op, err := f.svc.Verify(ctx, ops, AudienceOps)
	if err != nil || op.Kind != KindOps || op.JTI != orec.JTI || !op.Can(RoleOps) || op.Can(RoleRead) {
		t.Fatalf("ops verify %+v %v", op, err)
	}
	// Each shape is refused on the other audience: forbidden (valid, no right here),
	// from a fresh parse and from the cache alike.
	for range 2 {
		if _, err := f.svc.Verify(ctx, ops, AudienceTenant); !errors.Is(err, ErrOpsTokenRefused) {
			t.Errorf("ops token as tenant token: %v", err)
		}
		if _, err := f.svc.Verify(ctx, tok, AudienceOps); !errors.Is(err, ErrTenantTokenRefused) {
			t.Errorf("tenant token as ops token: %v", err)
		}
	}
	// Once revoked, the other family's token is just invalid (unauthenticated).
	ops2, orec2, err := f.svc.IssueOpsToken(ctx, "root2", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeJTI(ctx, orec2.JTI); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(ctx, ops2, AudienceTenant); protocol.CodeOf(err) != protocol.CodeUnauthenticated {
		t.Errorf("revoked ops token as tenant token: %v", err)
	}
	// Records.
	recs, err := f.svc.ListTokens(ctx, TokenFilter{Tenant: "acme"})
	if err != nil || len(recs) != 1 || recs[0].JTI != rec.JTI || recs[0].TenantID != "tid-acme-1" {
		t.Fatalf("ListTokens = %+v, %v", recs, err)
	}
	recs, _ = f.svc.ListTokens(ctx, TokenFilter{Ops: true})
	if len(recs) != 2 || (recs[0].JTI != orec.JTI && recs[1].JTI != orec.JTI) {
		t.Fatalf("ops ListTokens = %+v", recs)
	}
	// The token itself is never stored.
	var n int
	if err := f.db.QueryRow(`SELECT count(*) FROM auth_tokens WHERE jti LIKE '%.%' OR subject LIKE '%.%.%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("token text stored? n=%d err=%v", n, err)
	}
}

func TestIssueErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cases := []struct {
		name              string
		tenant, sub, role string
		ttl               time.Duration
		ops               bool
		code              protocol.Code
		msg               string
	}{
		{"unknown tenant", "nope", "a", RoleRead, time.Hour, false, protocol.CodeNotFound, ""},
		{"bad role", "acme", "a", "root", time.Hour, false, protocol.CodeBadRequest, "role"},
		{"ops role on tenant", "acme", "a", RoleOps, time.Hour, false, protocol.CodeBadRequest, "role"},
		{"ttl over max", "acme", "a", RoleRead, DefaultMaxTTL + time.Hour, false, protocol.CodeBadRequest, "auth.max_ttl"},
		{"ops ttl over max", "", "a", RoleOps, 25 * time.Hour, true, protocol.CodeBadRequest, "auth.max_ops_ttl"},
		{"zero ttl", "acme", "a", RoleRead, 0, false, protocol.CodeBadRequest, "ttl"},
		{"negative ttl", "acme", "a", RoleRead, -time.Hour, false, protocol.CodeBadRequest, "ttl"},
		// attacks on the subject
		{"empty subject", "acme", "", RoleRead, time.Hour, false, protocol.CodeBadRequest, "subject"},
		{"control char subject", "acme", "a\nb", RoleRead, time.Hour, false, protocol.CodeBadRequest, "subject"},
		{"huge subject", "acme", strings.Repeat("a", 300), RoleRead, time.Hour, false, protocol.CodeBadRequest, "subject"},
		{"invalid utf8 subject", "acme", "a\xffb", RoleRead, time.Hour, false, protocol.CodeBadRequest, "subject"},
		{"padded subject", "acme", " a", RoleRead, time.Hour, false, protocol.CodeBadRequest, "subject"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.ops {
				_, _, err = f.svc.IssueOpsToken(ctx, c.sub, c.ttl)
			} else {
				_, _, err = f.svc.IssueTenantToken(ctx, c.tenant, c.sub, c.role, c.ttl)
			}
			if protocol.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want %s containing %q", err, c.code, c.msg)
			}
		})
	}
}

func TestRevocation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a1, r1 := mustIssue(t, f.svc, "acme", "alice", RoleRead)
	a2, _ := mustIssue(t, f.svc, "acme", "alice", RoleWrite)
	b1, _ := mustIssue(t, f.svc, "acme", "bob", RoleRead)
	c1, _ := mustIssue(t, f.svc, "beta", "alice", RoleRead)
	p1, err := f.svc.Verify(ctx, a1, AudienceTenant) // now cached
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RevokeJTI(ctx, r1.JTI); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(ctx, a1, AudienceTenant); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("revoked cached token: %v", err)
	}
	if err := f.svc.Check(ctx, p1); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("Check after revoke: %v", err)
	}
	if err := f.svc.RevokeJTI(ctx, r1.JTI); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if err := f.svc.RevokeJTI(ctx, "no-such-jti"); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatalf("unknown jti: %v", err)
	}
	n, err := f.svc.RevokeSubject(ctx, "acme", "alice")
	if err != nil || n != 1 {
		t.Fatalf("RevokeSubject = %d, %v", n, err)
	}
	if _, err := f.svc.Verify(ctx, a2, AudienceTenant); err == nil {
		t.Fatal("subject-revoked token accepted")
	}
	for _, tok := range []string{b1, c1} {
		if _, err := f.svc.Verify(ctx, tok, AudienceTenant); err != nil {
			t.Fatalf("unrelated token refused: %v", err)
		}
	}
	// A token issued after the subject revocation works: it revokes what is held now.
	a3, _ := mustIssue(t, f.svc, "acme", "alice", RoleRead)
	if _, err := f.svc.Verify(ctx, a3, AudienceTenant); err != nil {
		t.Fatal(err)
	}
	recs, _ := f.svc.ListTokens(ctx, TokenFilter{Tenant: "acme", Subject: "alice"})
	revoked := 0
	for _, r := range recs {
		if r.Revoked {
			revoked++
		}
	}
	if len(recs) != 3 || revoked != 2 {
		t.Fatalf("records %+v", recs)
	}
}

func TestTenantDeletedAndRecreated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, _ := mustIssue(t, f.svc, "acme", "alice", RoleRead)
	p, err := f.svc.Verify(ctx, tok, AudienceTenant)
	if err != nil {
		t.Fatal(err)
	}
	f.tenants.set("acme", "")
	if _, err := f.svc.Verify(ctx, tok, AudienceTenant); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("deleted tenant: %v", err)
	}
	f.tenants.set("acme", "tid-acme-2")
	if _, err := f.svc.Verify(ctx, tok, AudienceTenant); err == nil {
		t.Fatal("token of the old tenant accepted by the recreated one")
	}
	if err := f.svc.Check(ctx, p); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("Check: %v", err)
	}
	fresh, frec := mustIssue(t, f.svc, "acme", "alice", RoleRead)
	if p, err := f.svc.Verify(ctx, fresh, AudienceTenant); err != nil || p.TenantID != "tid-acme-2" {
		t.Fatalf("fresh token: %+v %v", p, err)
	}
	// The tenant's token list shows its current incarnation only.
	recs, err := f.svc.ListTokens(ctx, TokenFilter{Tenant: "acme"})
	if err != nil || len(recs) != 1 || recs[0].JTI != frec.JTI {
		t.Fatalf("token list of the recreated tenant: %+v %v", recs, err)
	}
}

func TestRotateAndRetire(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	oldKid := SignerKID(f.svc)
	old, _ := mustIssue(t, f.svc, "acme", "alice", RoleRead)
	info, err := f.svc.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.KID == oldKid || !info.Signing {
		t.Fatalf("rotate: %+v", info)
	}
	nw, _ := mustIssue(t, f.svc, "acme", "alice", RoleRead)
	hdr := func(tok string) string {
		raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
		var h map[string]any
		json.Unmarshal(raw, &h)
		return h["kid"].(string)
	}
	if hdr(old) != oldKid || hdr(nw) != info.KID {
		t.Fatalf("kids %s %s", hdr(old), hdr(nw))
	}
	for _, tok := range []string{old, nw} {
		if _, err := f.svc.Verify(ctx, tok, AudienceTenant); err != nil {
			t.Fatalf("after rotate: %v", err)
		}
	}
	keys, _ := f.svc.ListKeys(ctx)
	if len(keys) != 2 || keys[0].Signing || !keys[1].Signing {
		t.Fatalf("keys %+v", keys)
	}
	var doc struct{ Keys []map[string]string }
	json.Unmarshal(f.svc.JWKS(), &doc)
	if len(doc.Keys) != 2 {
		t.Fatalf("jwks %s", f.svc.JWKS())
	}

	if err := f.svc.RetireKey(ctx, oldKid); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(ctx, old, AudienceTenant); err == nil {
		t.Fatal("token of retired key accepted")
	}
	if _, err := f.svc.Verify(ctx, nw, AudienceTenant); err != nil {
		t.Fatalf("new key token: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "keys", oldKid+".key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("retired key file still there: %v", err)
	}
	json.Unmarshal(f.svc.JWKS(), &doc)
	if len(doc.Keys) != 1 || doc.Keys[0]["kid"] != info.KID {
		t.Fatalf("jwks after retire %s", f.svc.JWKS())
	}
	if err := f.svc.RetireKey(ctx, info.KID); protocol.CodeOf(err) != protocol.CodeConflict {
		t.Fatalf("retiring last key: %v", err)
	}
	for _, kid := range []string{"nope", "../../etc/passwd", ""} {
		if err := f.svc.RetireKey(ctx, kid); protocol.CodeOf(err) != protocol.CodeNotFound {
			t.Fatalf("RetireKey(%q): %v", kid, err)
		}
	}
	if err := f.svc.RetireKey(ctx, oldKid); err != nil {
		t.Fatalf("retire twice: %v", err)
	}
}

// TestJWKSOnly verifies a token the way an outside service would: with nothing but
// the JWKS document.
func TestJWKSOnly(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.RotateKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok, _ := mustIssue(t, f.svc, "acme", "alice", RoleRead)
	var doc struct {
		Keys []struct{ Kty, Crv, X, Kid, Alg, Use string }
	}
	if err := json.Unmarshal(f.svc.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range doc.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" || k.Use != "sig" || k.Kid == "" {
			t.Fatalf("jwk %+v", k)
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			t.Fatalf("x: %v", err)
		}
		keys[k.Kid] = x
	}
	parsed, err := jwt.Parse(tok, func(t *jwt.Token) (any, error) {
		k, ok := keys[t.Header["kid"].(string)]
		if !ok {
			return nil, errors.New("unknown kid")
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer("syncd"), jwt.WithAudience("syncspace"), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		t.Fatalf("outside verification failed: %v", err)
	}
}

// TestCrossProcess: a second Service on the same store (syncctl local mode) issues,
// revokes, rotates and retires; the first, running Run, follows within a second.
func TestCrossProcess(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.svc.Run(ctx)
	ctl := f.second(t)

	tok, rec := mustIssue(t, ctl, "acme", "alice", RoleRead)
	if _, err := f.svc.Verify(ctx, tok, AudienceTenant); err != nil {
		t.Fatalf("token issued by the other process: %v", err)
	}
	p, _ := f.svc.Verify(ctx, tok, AudienceTenant)
	start := time.Now()
	if err := ctl.RevokeJTI(ctx, rec.JTI); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, func() bool { return errors.Is(f.svc.Check(ctx, p), ErrTokenRevoked) })
	t.Logf("revocation seen after %v", time.Since(start))

	info, err := ctl.RotateKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, func() bool { return strings.Contains(string(f.svc.JWKS()), info.KID) })
	tok2, _ := mustIssue(t, ctl, "acme", "bob", RoleRead)
	p2, err := f.svc.Verify(ctx, tok2, AudienceTenant)
	if err != nil {
		t.Fatalf("token of a key rotated by the other process: %v", err)
	}
	// The server signs with the newest key too.
	waitFor(t, time.Second, func() bool { return SignerKID(f.svc) == info.KID })
	if err := ctl.RetireKey(ctx, info.KID); protocol.CodeOf(err) == protocol.CodeConflict {
		t.Fatal("unexpected conflict")
	} else if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, func() bool { return errors.Is(f.svc.Check(ctx, p2), ErrTokenRevoked) })
	if _, err := f.svc.Verify(ctx, tok2, AudienceTenant); err == nil {
		t.Fatal("retired key still verifies")
	}
	// The server's signer fell back to the remaining key (its file is still there).
	tok3, _ := mustIssue(t, f.svc, "acme", "carol", RoleRead)
	if _, err := ctl.Verify(ctx, tok3, AudienceTenant); err != nil {
		t.Fatalf("after retire: %v", err)
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExpiryAndCache(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now()
	var mu sync.Mutex
	SetNow(f.svc, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	tok, _, err := f.svc.IssueTenantToken(ctx, "acme", "alice", RoleRead, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Verify(ctx, tok, AudienceTenant); err != nil {
		t.Fatal(err)
	}
	if CacheLen(f.svc) != 1 {
		t.Fatal("not cached")
	}
	advance(time.Minute + DefaultLeeway + time.Second)
	if _, err := f.svc.Verify(ctx, tok, AudienceTenant); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired cached token: %v", err)
	}
	PruneCache(f.svc)
	if _, err := f.svc.Verify(ctx, tok, AudienceTenant); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
	if CacheLen(f.svc) != 0 {
		t.Fatal("expired token cached")
	}
}

func TestAudit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i, a := range []string{"tenant.create", "token.issue", "auth.failed"} {
		if err := f.svc.Audit(ctx, AuditEntry{Actor: LocalActor(), Action: a, Target: "t" + string(rune('0'+i)), Outcome: OutcomeOK}); err != nil {
			t.Fatal(err)
		}
	}
	es, err := f.svc.ListAudit(ctx, 2)
	if err != nil || len(es) != 2 || es[0].Action != "token.issue" || es[1].Action != "auth.failed" || !strings.HasPrefix(es[0].Actor, "local:") {
		t.Fatalf("ListAudit = %+v, %v", es, err)
	}
	if _, err := f.db.Exec(`UPDATE auth_audit SET actor = 'x'`); err == nil {
		t.Fatal("audit row updated")
	}
	if _, err := f.db.Exec(`DELETE FROM auth_audit`); err == nil {
		t.Fatal("audit row deleted")
	}
	if err := f.svc.Audit(ctx, AuditEntry{Action: "x"}); err == nil {
		t.Fatal("entry without actor accepted")
	}
}

func TestPrincipalCan(t *testing.T) {
	cases := []struct {
		kind, role, need string
		want             bool
	}{
		{KindTenant, RoleRead, RoleRead, true},
		{KindTenant, RoleRead, RoleWrite, false},
		{KindTenant, RoleWrite, RoleRead, true},
		{KindTenant, RoleAdmin, RoleWrite, true},
		{KindTenant, RoleAdmin, RoleOps, false},
		{KindOps, RoleOps, RoleOps, true},
		{KindOps, RoleOps, RoleRead, false},
		{KindTenant, RoleOps, RoleOps, false},
		{KindTenant, "root", RoleRead, false},
		{KindTenant, RoleWrite, "bogus", false},
	}
	for _, c := range cases {
		p := &Principal{Kind: c.kind, Role: c.role}
		if got := p.Can(c.need); got != c.want {
			t.Errorf("%s/%s Can(%s) = %v", c.kind, c.role, c.need, got)
		}
	}
	var nilP *Principal
	if nilP.Can(RoleRead) {
		t.Error("nil principal can read")
	}
}

// FuzzVerify: Verify never panics, and accepts nothing but the exact tokens issued.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	ctx := context.Background()
	tok, _ := mustIssue(f, fx.svc, "acme", "alice", RoleRead)
	ops, _, err := fx.svc.IssueOpsToken(ctx, "root", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	issued := map[string]bool{tok: true, ops: true}
	f.Add(tok, false)
	f.Add(ops, true)
	f.Add(tok+"=", false)
	f.Add(strings.Replace(tok, ".", "..", 1), false)
	f.Add("eyJhbGciOiJub25lIn0.e30.", false)
	f.Add("a.b.c", true)
	f.Add("", false)
	f.Add(strings.Repeat("A", 5000), false)
	f.Fuzz(func(t *testing.T, token string, opsAud bool) {
		aud := AudienceTenant
		if opsAud {
			aud = AudienceOps
		}
		p, err := fx.svc.Verify(ctx, token, aud)
		if err == nil {
			if !issued[token] || p == nil {
				t.Fatalf("accepted a token never issued: %q", token)
			}
			return
		}
		if protocol.CodeOf(err) != protocol.CodeUnauthenticated {
			t.Fatalf("error code %s: %v", protocol.CodeOf(err), err)
		}
	})
}

// TestKidNeverLooksLikeAFlag: key ids are typed on command lines (syncctl key retire
// KID), so none starts with '-' (without the redraw, 200 keys would hit one with
// probability 0.96).
func TestKidNeverLooksLikeAFlag(t *testing.T) {
	f := newFixture(t)
	for range 200 {
		k, err := f.svc.RotateKey(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(k.KID, "-") {
			t.Fatalf("kid %q starts with '-'", k.KID)
		}
	}
}

// TestConcurrentFirstUseVerifiesOnce: a burst of first uses of one token shares one
// full verification (signature, record, tenant) instead of one per request, which let
// thousands of simultaneous requests with a fresh token stall the server.
func TestConcurrentFirstUseVerifiesOnce(t *testing.T) {
	f := newFixture(t)
	tok, _ := mustIssue(t, f.svc, "acme", "alice", RoleWrite)
	const n = 64
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			p, err := f.svc.Verify(context.Background(), tok, AudienceTenant)
			if err == nil && p.Subject != "alice" {
				err = fmt.Errorf("subject %q", p.Subject)
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// One flight does the work; a goroutine scheduled late may miss both the flight
	// and the cache's fill and verify again, so allow a few, never one per caller.
	if got := Misses(f.svc); got < 1 || got > 8 {
		t.Fatalf("%d full verifications for %d concurrent first uses", got, n)
	}
	// A wrong token in a burst is refused for every caller, never cached.
	// Flip one character in the middle of the signature (the last characters may be
	// "AA" already, or carry only padding bits).
	i := len(tok) - 20
	flip := byte('A')
	if tok[i] == 'A' {
		flip = 'B'
	}
	bad := tok[:i] + string(flip) + tok[i+1:]
	for range 8 {
		if _, err := f.svc.Verify(context.Background(), bad, AudienceTenant); err == nil {
			t.Fatal("tampered token verified")
		}
	}
}
