package conformance

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// signingKey reads the shared server's current signing key from its key directory:
// what lets a test sign claim sets the server never issued, so that only its claim
// checks stand between them and the API.
func signingKey(t testing.TB, dataDir string) (string, ed25519.PrivateKey) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dataDir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	var newest os.DirEntry
	var newestMod time.Time
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".key") {
			continue
		}
		fi, err := e.Info()
		if err == nil && (newest == nil || fi.ModTime().After(newestMod)) {
			newest, newestMod = e, fi.ModTime()
		}
	}
	if newest == nil {
		t.Fatal("no signing key")
	}
	data, err := os.ReadFile(filepath.Join(dataDir, "keys", newest.Name()))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatal("key file is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(newest.Name(), ".key"), k.(ed25519.PrivateKey)
}

func signWith(kid string, key ed25519.PrivateKey, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "kid": kid, "typ": "JWT"})
	p, _ := json.Marshal(claims)
	text := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return text + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(text)))
}

// SPEC §2 (issue 11 item 2): a token signed with the server's own key whose aud is
// neither audience (a foreign string, or an array, even of the right names) is 401
// at once on /api, /admin and /metrics. Before the fix each such request recursed
// without end, one core busy and memory growing until the process died.
func TestForeignAudienceTokenAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	kid, key := signingKey(t, e.d.dataDir)
	claims := jwtClaims(t, tn.write)
	for _, aud := range []any{"foo", []string{"syncspace"}, []string{"syncspace", "syncspace-admin"}, []string{"foo"}, ""} {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		c["aud"] = aud
		tok := signWith(kid, key, c)
		for _, path := range []string{"/api/list", "/admin/tenants", "/metrics"} {
			start := time.Now()
			r := do(t, req{url: e.d.URL() + path, token: tok, hdr: map[string]string{"X-Forwarded-For": fakeClient()}})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("aud %v on %s: answered after %v", aud, path, d)
			}
			expectErr(t, r, http.StatusUnauthorized, "unauthenticated")
		}
	}
	// The server is still well.
	expectStatus(t, do(t, req{url: e.d.URL() + "/healthz"}), 200)
	expectStatus(t, do(t, req{url: e.d.URL() + "/api/list", token: tn.read}), 200)
}

// SPEC §3 audit (issue 11 item 9): a tenant token refused on /admin and /metrics is
// audited with who it was (tenant, subject and jti), not as anonymous.
func TestRefusedTenantTokenAudited(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	jti, _ := jwtClaims(t, tn.admin)["jti"].(string)
	addr := fakeClient()
	for _, path := range []string{"/admin/tenants", "/metrics"} {
		expectErr(t, do(t, req{url: e.d.URL() + path, token: tn.admin, hdr: map[string]string{"X-Forwarded-For": addr}}), 403, "forbidden")
	}
	r := e.adminDo(t, "GET", "/admin/audit", "")
	expectStatus(t, r, 200)
	var out struct {
		Entries []struct {
			Actor, JTI, Address, Action, Target, Outcome string
		} `json:"entries"`
	}
	r.json(t, &out)
	found := map[string]bool{}
	for _, en := range out.Entries {
		if en.Address != addr {
			continue
		}
		if en.Action != "auth.failed" || en.Actor != "tenant:"+tn.name+":alice" || en.JTI != jti || en.Outcome != "forbidden" {
			t.Errorf("audit entry %+v, want actor tenant:%s:alice with jti %s", en, tn.name, jti)
		}
		found[en.Target] = true
	}
	if !found["GET /admin/tenants"] || !found["GET /metrics"] {
		t.Fatalf("refusals not audited: %v", found)
	}
}

// SPEC §4 (issue 11 item 6): limits.ws_per_token (4 on the shared server) holds
// across Refresh: a socket refreshing to a token already at its cap gets Error
// rate_limited and keeps its old token.
func TestRefreshCannotBypassPerTokenCap(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	t2 := e.issue(t, tn.name, "alice", "read", "2h") // expires after tn.read: a valid refresh
	for range 4 {
		dialWS(t, e.d.URL(), t2, nil)
	}
	if _, res, err := dialRaw(e.d.URL(), t2, nil); err == nil || res == nil || res.StatusCode != 429 {
		t.Fatalf("fifth socket on one token: %v", err)
	}
	var socks []*wsConn
	for i := range 3 {
		w := dialWS(t, e.d.URL(), tn.read, nil)
		w.send(t, `{"type":"Refresh","token":"`+t2+`","operation_id":"r"}`)
		m := w.next(t)
		if m.Type != "Error" || m.Code != "rate_limited" {
			t.Fatalf("refresh %d to a token at its cap: %s", i, m.raw)
		}
		socks = append(socks, w)
	}
	for _, w := range socks {
		w.send(t, `{"type":"Ping"}`)
		if m := w.next(t); m.Type != "Pong" {
			t.Fatalf("socket after a refused refresh: %s", m.raw)
		}
	}
	// They still count on their own token: three taken, one left.
	dialWS(t, e.d.URL(), tn.read, nil)
	if _, res, err := dialRaw(e.d.URL(), tn.read, nil); err == nil || res == nil || res.StatusCode != 429 {
		t.Fatalf("the old token's cap after refused refreshes: %v", err)
	}
}
