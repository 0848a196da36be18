package auth_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	. "github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
)

// signRaw signs payload (raw JSON, any bytes) with the service's own current signing
// key: what a token looks like when only its claims are wrong.
func signRaw(t testing.TB, s *Service, payload []byte) string {
	t.Helper()
	kid, priv := SignerKID(s), SignerKey(s)
	if priv == nil {
		t.Fatal("no signer")
	}
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "kid": kid, "typ": "JWT"})
	text := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload)
	return text + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(text)))
}

func signClaims(t testing.TB, s *Service, c map[string]any) string {
	t.Helper()
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return signRaw(t, s, raw)
}

// verifyGuarded runs Verify under a deadline so that a regression to the unbounded
// audience retry (issue 11 item 2) fails the test instead of hanging it.
func verifyGuarded(t testing.TB, s *Service, token, aud string) (*Principal, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type result struct {
		p   *Principal
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := s.Verify(ctx, token, aud)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		return r.p, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("Verify(%s) did not return within 10s", aud)
		return nil, nil
	}
}

// TestVerifyClaimAttacks signs wrong claim sets with the server's own key (so only the
// claims can save the server) and requires each to be refused at once: 401
// (unauthenticated) on both route families, except a token that fully verifies for the
// other family, which is 403 (forbidden). Before the fix, an aud that was neither
// audience made Verify retry the other audience for ever.
func TestVerifyClaimAttacks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, trec := mustIssue(t, f.svc, "acme", "alice", RoleWrite)
	_, orec, err := f.svc.IssueOpsToken(ctx, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, rrec := mustIssue(t, f.svc, "acme", "revoked", RoleRead)
	if err := f.svc.RevokeJTI(ctx, rrec.JTI); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	tenantBase := map[string]any{
		"iss": "syncd", "aud": AudienceTenant, "sub": "alice", "tenant": "acme", "tid": "tid-acme-1",
		"role": RoleWrite, "iat": trec.IssuedAt.Unix(), "nbf": trec.IssuedAt.Unix(), "exp": trec.ExpiresAt.Unix(), "jti": trec.JTI,
	}
	opsBase := map[string]any{
		"iss": "syncd", "aud": AudienceOps, "sub": "root", "role": RoleOps,
		"iat": orec.IssuedAt.Unix(), "nbf": orec.IssuedAt.Unix(), "exp": orec.ExpiresAt.Unix(), "jti": orec.JTI,
	}
	with := func(base map[string]any, kv ...any) map[string]any {
		c := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			k := kv[i].(string)
			if kv[i+1] == nil {
				delete(c, k)
			} else {
				c[k] = kv[i+1]
			}
		}
		return c
	}
	const (
		ok   = protocol.Code("")
		u401 = protocol.CodeUnauthenticated
		f403 = protocol.CodeForbidden
	)
	null, empty := json.RawMessage("null"), json.RawMessage("[]")
	cases := []struct {
		name           string
		claims         map[string]any
		raw            string // used instead of claims when set
		onAPI, onAdmin protocol.Code
	}{
		// The genuine claim sets, re-signed: accepted on their own family, 403 on the other.
		{"tenant claims as issued", tenantBase, "", ok, f403},
		{"ops claims as issued", opsBase, "", f403, ok},

		// attacks: the paths claim (a path scope)
		{"paths signed by the server", with(tenantBase, "paths", []string{"proj"}), "", ok, f403},
		{"paths with dotdot", with(tenantBase, "paths", []string{"proj/../x"}), "", u401, u401},
		{"paths with the root", with(tenantBase, "paths", []string{""}), "", u401, u401},
		{"paths empty array", with(tenantBase, "paths", empty), "", u401, u401},
		{"paths null", with(tenantBase, "paths", null), "", ok, f403},
		{"paths a string", with(tenantBase, "paths", "proj"), "", u401, u401},
		{"paths absolute", with(tenantBase, "paths", []string{"/proj"}), "", u401, u401},
		{"paths on ops shape", with(opsBase, "paths", []string{"proj"}), "", u401, u401},

		// attacks: audience (the unbounded retry of issue 11 item 2)
		{"foreign aud", with(tenantBase, "aud", "foo"), "", u401, u401},
		{"foreign aud on ops shape", with(opsBase, "aud", "foo"), "", u401, u401},
		{"empty aud", with(tenantBase, "aud", ""), "", u401, u401},
		{"missing aud", with(tenantBase, "aud", nil), "", u401, u401},
		{"null aud", with(tenantBase, "aud", null), "", u401, u401},
		{"aud case variant", with(tenantBase, "aud", "SyncSpace"), "", u401, u401},
		{"aud with suffix", with(tenantBase, "aud", "syncspace-admin2"), "", u401, u401},
		{"aud array of tenant aud", with(tenantBase, "aud", []string{AudienceTenant}), "", u401, u401},
		{"aud array of ops aud", with(opsBase, "aud", []string{AudienceOps}), "", u401, u401},
		{"aud array of both", with(tenantBase, "aud", []string{AudienceTenant, AudienceOps}), "", u401, u401},
		{"aud array of both on ops shape", with(opsBase, "aud", []string{AudienceTenant, AudienceOps}), "", u401, u401},
		{"aud array foreign", with(tenantBase, "aud", []string{"foo"}), "", u401, u401},
		{"aud empty array", with(tenantBase, "aud", empty), "", u401, u401},
		{"aud number", with(tenantBase, "aud", 7), "", u401, u401},
		{"aud object", with(tenantBase, "aud", map[string]any{"aud": AudienceTenant}), "", u401, u401},
		{"ops aud on tenant shape", with(tenantBase, "aud", AudienceOps), "", u401, u401},
		{"tenant aud on ops shape", with(opsBase, "aud", AudienceTenant), "", u401, u401},

		// attacks: issuer
		{"foreign iss", with(tenantBase, "iss", "evil"), "", u401, u401},
		{"foreign iss on ops shape", with(opsBase, "iss", "evil"), "", u401, u401},
		{"missing iss", with(tenantBase, "iss", nil), "", u401, u401},
		{"iss array", with(tenantBase, "iss", []string{"syncd"}), "", u401, u401},
		{"foreign iss and aud", with(tenantBase, "iss", "evil", "aud", "foo"), "", u401, u401},

		// attacks: jti
		{"missing jti", with(tenantBase, "jti", nil), "", u401, u401},
		{"missing jti on ops shape", with(opsBase, "jti", nil), "", u401, u401},
		{"empty jti", with(tenantBase, "jti", ""), "", u401, u401},
		{"unrecorded jti", with(tenantBase, "jti", uuid.NewString()), "", u401, u401},
		{"unrecorded jti on ops shape", with(opsBase, "jti", uuid.NewString()), "", u401, u401},
		{"revoked jti", with(tenantBase, "jti", rrec.JTI, "sub", "revoked", "role", RoleRead), "", u401, u401},
		{"ops jti on tenant shape", with(tenantBase, "jti", orec.JTI), "", u401, u401},
		{"tenant jti on ops shape", with(opsBase, "jti", trec.JTI), "", u401, u401},
		{"jti too long", with(tenantBase, "jti", strings.Repeat("j", 65)), "", u401, u401},
		{"jti number", with(tenantBase, "jti", 12), "", u401, u401},

		// attacks: times
		{"missing exp", with(tenantBase, "exp", nil), "", u401, u401},
		{"missing exp on ops shape", with(opsBase, "exp", nil), "", u401, u401},
		{"null exp", with(tenantBase, "exp", null), "", u401, u401},
		{"expired", with(tenantBase, "exp", now-3600), "", u401, u401},
		{"exp extended past record", with(tenantBase, "exp", trec.ExpiresAt.Unix()+86400), "", u401, u401},
		{"exp huge", with(tenantBase, "exp", 1e300), "", u401, u401},
		{"exp negative", with(tenantBase, "exp", -1), "", u401, u401},
		{"exp string", with(tenantBase, "exp", "9999999999"), "", u401, u401},
		{"exp bool", with(tenantBase, "exp", true), "", u401, u401},
		{"missing iat", with(tenantBase, "iat", nil), "", u401, u401},
		{"missing nbf", with(tenantBase, "nbf", nil), "", u401, u401},
		{"missing iat and nbf on ops shape", with(opsBase, "iat", nil, "nbf", nil), "", u401, u401},
		{"future iat", with(tenantBase, "iat", now+3600), "", u401, u401},
		{"future nbf", with(tenantBase, "nbf", now+3600), "", u401, u401},
		{"iat string", with(tenantBase, "iat", "yesterday"), "", u401, u401},

		// attacks: identity and shape
		{"missing sub", with(tenantBase, "sub", nil), "", u401, u401},
		{"other sub", with(tenantBase, "sub", "mallory"), "", u401, u401},
		{"sub number", with(tenantBase, "sub", 5), "", u401, u401},
		{"role escalated", with(tenantBase, "role", RoleAdmin), "", u401, u401},
		{"role ops on tenant shape", with(tenantBase, "role", RoleOps), "", u401, u401},
		{"missing role", with(tenantBase, "role", nil), "", u401, u401},
		{"role array", with(tenantBase, "role", []string{RoleWrite}), "", u401, u401},
		{"missing tenant", with(tenantBase, "tenant", nil), "", u401, u401},
		{"missing tid", with(tenantBase, "tid", nil), "", u401, u401},
		{"empty tenant", with(tenantBase, "tenant", ""), "", u401, u401},
		{"other tenant", with(tenantBase, "tenant", "beta", "tid", "tid-beta-1"), "", u401, u401},
		{"stale tid", with(tenantBase, "tid", "tid-acme-0"), "", u401, u401},
		{"tid number", with(tenantBase, "tid", 1), "", u401, u401},
		{"tenant claims on ops token", with(opsBase, "tenant", "acme", "tid", "tid-acme-1"), "", u401, u401},
		{"tenant claim alone on ops token", with(opsBase, "tenant", "acme"), "", u401, u401},
		{"empty tenant on ops token", with(opsBase, "tenant", ""), "", u401, u401},
		{"null tid on ops token (JSON null is absent)", with(opsBase, "tid", null), "", f403, ok},
		{"tenant role on ops token", with(opsBase, "role", RoleAdmin), "", u401, u401},
		{"ops token shape with tenant aud and tenant claims", with(opsBase, "aud", AudienceTenant, "tenant", "acme", "tid", "tid-acme-1"), "", u401, u401},

		// attacks: not a claim object at all
		{"empty object", nil, `{}`, u401, u401},
		{"array payload", nil, `[]`, u401, u401},
		{"string payload", nil, `"syncspace"`, u401, u401},
		{"null payload", nil, `null`, u401, u401},
		{"truncated json", nil, `{"aud":"syncspace"`, u401, u401},
		{"deep nesting", nil, `{"aud":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`, u401, u401},
		{"duplicate aud keys", nil, `{"aud":"syncspace","aud":"foo"}`, u401, u401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tok string
			if c.raw != "" {
				tok = signRaw(t, f.svc, []byte(c.raw))
			} else {
				tok = signClaims(t, f.svc, c.claims)
			}
			// Twice: the second answer may come from the verified-token cache.
			for round := range 2 {
				for _, r := range []struct {
					aud  string
					want protocol.Code
				}{{AudienceTenant, c.onAPI}, {AudienceOps, c.onAdmin}} {
					start := time.Now()
					p, err := verifyGuarded(t, f.svc, tok, r.aud)
					if d := time.Since(start); d > 3*time.Second {
						t.Errorf("round %d, aud %s: Verify took %v", round, r.aud, d)
					}
					if r.want == ok {
						if err != nil || p == nil {
							t.Fatalf("round %d, aud %s: %v, want accepted", round, r.aud, err)
						}
						continue
					}
					if err == nil {
						t.Fatalf("round %d, aud %s: accepted (%+v), want %s", round, r.aud, p, r.want)
					}
					if got := protocol.CodeOf(err); got != r.want {
						t.Fatalf("round %d, aud %s: code %s (%v), want %s", round, r.aud, got, err, r.want)
					}
				}
			}
		})
	}
}

// FuzzVerifyClaims: any JSON claim set signed with the server's own key is answered
// within bounds, never panics, is refused with unauthenticated (or forbidden only when
// it verifies for the other family), and is accepted only when its claims are those of
// a recorded, valid token of that audience.
func FuzzVerifyClaims(f *testing.F) {
	fx := newFixture(f)
	ctx := context.Background()
	_, trec := mustIssue(f, fx.svc, "acme", "alice", RoleWrite)
	_, orec, err := fx.svc.IssueOpsToken(ctx, "root", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	recs := map[string]TokenRecord{trec.JTI: trec, orec.JTI: orec}
	tc := func(aud string, extra string) string {
		return `{"iss":"syncd","aud":` + aud + `,"sub":"alice","tenant":"acme","tid":"tid-acme-1","role":"write","iat":` +
			itoa(trec.IssuedAt.Unix()) + `,"nbf":` + itoa(trec.IssuedAt.Unix()) + `,"exp":` + itoa(trec.ExpiresAt.Unix()) + `,"jti":"` + trec.JTI + `"` + extra + `}`
	}
	oc := `{"iss":"syncd","aud":"syncspace-admin","sub":"root","role":"ops","iat":` + itoa(orec.IssuedAt.Unix()) +
		`,"nbf":` + itoa(orec.IssuedAt.Unix()) + `,"exp":` + itoa(orec.ExpiresAt.Unix()) + `,"jti":"` + orec.JTI + `"}`
	for _, seed := range []string{
		tc(`"syncspace"`, ""), oc, tc(`"foo"`, ""), tc(`["syncspace"]`, ""), tc(`["syncspace","syncspace-admin"]`, ""),
		tc(`"syncspace-admin"`, ""), tc(`null`, ""), tc(`"syncspace"`, `,"iss":"evil"`), tc(`"syncspace"`, `,"jti":null`),
		tc(`"syncspace"`, `,"exp":"x"`), `{}`, `[]`, `null`, `{"aud":"foo"}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, payload []byte, opsRoute bool) {
		aud, other := AudienceTenant, AudienceOps
		if opsRoute {
			aud, other = AudienceOps, AudienceTenant
		}
		tok := signRaw(t, fx.svc, payload)
		p, err := verifyGuarded(t, fx.svc, tok, aud)
		var c map[string]any
		_ = json.Unmarshal(payload, &c)
		if err == nil {
			rec, known := recs[p.JTI]
			if !known || c["aud"] != aud || rec.Subject != p.Subject || rec.Role != p.Role || rec.Tenant != p.Tenant ||
				rec.TenantID != p.TenantID || !rec.ExpiresAt.Equal(p.ExpiresAt) {
				t.Fatalf("accepted claims %s as %+v", payload, p)
			}
			return
		}
		switch protocol.CodeOf(err) {
		case protocol.CodeUnauthenticated:
		case protocol.CodeForbidden:
			if _, oerr := verifyGuarded(t, fx.svc, tok, other); oerr != nil {
				t.Fatalf("forbidden on %s, but refused on %s too (%v): %s", aud, other, oerr, payload)
			}
		default:
			t.Fatalf("code %s (%v) for %s", protocol.CodeOf(err), err, payload)
		}
	})
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
