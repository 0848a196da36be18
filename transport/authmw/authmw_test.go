package authmw

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/syncspace/syncspace/auth"
)

// TestNegativeMatrix sends each attack of the issue's matrix to a real server on
// loopback and checks the SPEC's status.
func TestNegativeMatrix(t *testing.T) {
	e := newEnv(t, Options{FailBurst: 1000})
	ctx := context.Background()
	e.tenants.set("del", "tid-del-1")
	e.tenants.set("rec", "tid-rec-1")

	good, goodRec := issue(t, e.svc, "acme", "alice", auth.RoleWrite)
	base := decodePart(t, good, 1)
	opsTok, _, err := e.svc.IssueOpsToken(ctx, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	readTok, _ := issue(t, e.svc, "acme", "reader", auth.RoleRead)
	adminTok, _ := issue(t, e.svc, "acme", "boss", auth.RoleAdmin)
	_ = goodRec

	// claims returns the good token's claims with changes (nil deletes).
	claims := func(changes map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range changes {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	now := time.Now().Unix()
	bearer := func(tok string) []string { return []string{"Bearer " + tok} }

	type row struct {
		name   string
		method string
		path   string
		authz  func(t *testing.T) []string
		hdr    map[string]string
		status int
	}
	api, put, adm := "/api/list", "/api/files/a.txt", "/admin/tenants"
	rows := []row{
		{"valid token", "GET", api, func(*testing.T) []string { return bearer(good) }, nil, 200},
		{"lowercase bearer accepted", "GET", api, func(*testing.T) []string { return []string{"bearer " + good} }, nil, 200},
		{"uppercase BEARER accepted", "GET", api, func(*testing.T) []string { return []string{"BEARER " + good} }, nil, 200},
		{"write token uploads", "PUT", put, func(*testing.T) []string { return bearer(good) }, nil, 200},
		{"admin role uploads", "PUT", put, func(*testing.T) []string { return bearer(adminTok) }, nil, 200},
		{"ops token on admin", "GET", adm, func(*testing.T) []string { return bearer(opsTok) }, nil, 200},

		// attacks
		{"no token", "GET", api, func(*testing.T) []string { return nil }, nil, 401},
		{"empty bearer", "GET", api, func(*testing.T) []string { return []string{"Bearer "} }, nil, 401},
		{"basic scheme", "GET", api, func(*testing.T) []string { return []string{"Basic " + good} }, nil, 401},
		{"no scheme", "GET", api, func(*testing.T) []string { return []string{good} }, nil, 401},
		{"malformed", "GET", api, func(*testing.T) []string { return bearer("not.a.jwt") }, nil, 401},
		{"two segments", "GET", api, func(*testing.T) []string { return bearer("abc.def") }, nil, 401},
		{"alg none", "GET", api, func(t *testing.T) []string {
			h := encodePart(map[string]any{"alg": "none", "kid": newForger(t, e).kid, "typ": "JWT"})
			return bearer(h + "." + strings.Split(good, ".")[1] + ".")
		}, nil, 401},
		{"HS256 with public key bytes", "GET", api, func(t *testing.T) []string {
			f := newForger(t, e)
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims(nil)))
			tok.Header["kid"] = f.kid
			s, err := tok.SignedString([]byte(f.priv.Public().(ed25519.PublicKey)))
			if err != nil {
				t.Fatal(err)
			}
			return bearer(s)
		}, nil, 401},
		{"RS256", "GET", api, func(t *testing.T) []string {
			k, _ := rsa.GenerateKey(rand.Reader, 2048)
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(claims(nil)))
			tok.Header["kid"] = newForger(t, e).kid
			s, _ := tok.SignedString(k)
			return bearer(s)
		}, nil, 401},
		{"ES256", "GET", api, func(t *testing.T) []string {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(claims(nil)))
			tok.Header["kid"] = newForger(t, e).kid
			s, _ := tok.SignedString(k)
			return bearer(s)
		}, nil, 401},
		{"unknown kid", "GET", api, func(t *testing.T) []string {
			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			f := &forger{kid: "attacker-key", priv: priv}
			return bearer(f.sign(t, claims(nil), nil))
		}, nil, 401},
		{"own key under the server's kid", "GET", api, func(t *testing.T) []string {
			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			f := &forger{kid: newForger(t, e).kid, priv: priv}
			return bearer(f.sign(t, claims(nil), nil))
		}, nil, 401},
		{"no kid", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(nil), map[string]any{"kid": nil}))
		}, nil, 401},
		{"kid not a string", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(nil), map[string]any{"kid": 7}))
		}, nil, 401},
		{"wrong iss", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"iss": "evil"}), nil))
		}, nil, 401},
		{"no iss", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"iss": nil}), nil))
		}, nil, 401},
		// A token valid for the other route family: authenticated, but no right here.
		{"wrong aud: ops token on api", "GET", api, func(*testing.T) []string { return bearer(opsTok) }, nil, 403},
		{"wrong aud: tenant token on admin", "GET", adm, func(*testing.T) []string { return bearer(good) }, nil, 403},
		{"admin API with tenant admin token", "GET", adm, func(*testing.T) []string { return bearer(adminTok) }, nil, 403},
		{"aud as array", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"aud": []string{"syncspace"}}), nil))
		}, nil, 401},
		{"aud array with extra value", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"aud": []string{"syncspace", "syncspace-admin"}}), nil))
		}, nil, 401},
		{"no exp", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"exp": nil}), nil))
		}, nil, 401},
		{"expired", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}), nil))
		}, nil, 401},
		{"nbf in the future", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"nbf": now + 600}), nil))
		}, nil, 401},
		{"iat in the future", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"iat": now + 600}), nil))
		}, nil, 401},
		{"exp extended beyond the record", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"exp": now + 999999}), nil))
		}, nil, 401},
		{"role raised beyond the record", "PUT", put, func(t *testing.T) []string {
			rc := decodePart(t, readTok, 1)
			rc["role"] = "write"
			return bearer(newForger(t, e).sign(t, rc, nil))
		}, nil, 401},
		{"unrecorded jti", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"jti": "00000000-0000-4000-8000-000000000000"}), nil))
		}, nil, 401},
		{"ops claims on tenant audience", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"role": "ops", "tenant": nil, "tid": nil}), nil))
		}, nil, 401},
		{"payload tampered (tenant changed)", "GET", api, func(t *testing.T) []string {
			parts := strings.Split(good, ".")
			parts[1] = encodePart(claims(map[string]any{"tenant": "beta", "tid": "tid-beta-1"}))
			return bearer(strings.Join(parts, "."))
		}, nil, 401},
		{"signature tampered", "GET", api, func(t *testing.T) []string {
			b := []byte(good)
			i := len(b) - 5
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return bearer(string(b))
		}, nil, 401},
		{"signature removed", "GET", api, func(t *testing.T) []string {
			return bearer(good[:strings.LastIndex(good, ".")+1])
		}, nil, 401},
		{"jku header", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(nil), map[string]any{"jku": "https://evil.example/jwks.json"}))
		}, nil, 401},
		{"jwk header", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(nil), map[string]any{"jwk": map[string]string{"kty": "OKP"}}))
		}, nil, 401},
		{"x5u header", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(nil), map[string]any{"x5u": "https://evil.example/"}))
		}, nil, 401},
		{"x5c header", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(nil), map[string]any{"x5c": []string{"AAAA"}}))
		}, nil, 401},
		{"crit header", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(nil), map[string]any{"crit": []string{"exp"}}))
		}, nil, 401},
		{"oversized", "GET", api, func(t *testing.T) []string {
			return bearer(newForger(t, e).sign(t, claims(map[string]any{"pad": strings.Repeat("x", 5000)}), nil))
		}, nil, 401},
		{"token in query: token", "GET", api + "?token=" + good, func(*testing.T) []string { return bearer(good) }, nil, 400},
		{"token in query: access_token", "GET", api + "?path=x&access_token=" + good, func(*testing.T) []string { return nil }, nil, 400},
		{"token in query: jwt", "GET", api + "?jwt=abc", func(*testing.T) []string { return nil }, nil, 400},
		{"token in query: encoded name", "GET", api + "?%74oken=abc", func(*testing.T) []string { return bearer(good) }, nil, 400},
		{"token in query: upper case", "GET", api + "?TOKEN=abc", func(*testing.T) []string { return bearer(good) }, nil, 400},
		{"token in query: after semicolon", "GET", api + "?a=1;token=abc", func(*testing.T) []string { return bearer(good) }, nil, 400},
		{"token in query: plus-padded name", "GET", api + "?+token+=abc", func(*testing.T) []string { return bearer(good) }, nil, 400},
		{"token in query: bad escape elsewhere", "GET", api + "?x=%zz&jwt=abc", func(*testing.T) []string { return bearer(good) }, nil, 400},
		{"harmless query accepted", "GET", api + "?path=docs&recursive=true", func(*testing.T) []string { return bearer(good) }, nil, 200},
		{"two Authorization headers", "GET", api, func(*testing.T) []string { return []string{"Bearer " + good, "Bearer " + good} }, nil, 400},
		{"read role uploading", "PUT", put, func(*testing.T) []string { return bearer(readTok) }, nil, 403},
		{"tenant deleted", "GET", api, func(t *testing.T) []string {
			tok, _ := issue(t, e.svc, "del", "alice", auth.RoleRead)
			if st, _, _ := request(t, "GET", e.srv.URL+api, bearer(tok), nil); st != 200 {
				t.Fatalf("before delete: %d", st)
			}
			e.tenants.set("del", "")
			return bearer(tok)
		}, nil, 401},
		{"tenant recreated under the same name", "GET", api, func(t *testing.T) []string {
			tok, _ := issue(t, e.svc, "rec", "alice", auth.RoleRead)
			if st, _, _ := request(t, "GET", e.srv.URL+api, bearer(tok), nil); st != 200 {
				t.Fatalf("before delete: %d", st)
			}
			e.tenants.set("rec", "")
			e.tenants.set("rec", "tid-rec-2")
			return bearer(tok)
		}, nil, 401},
		{"jti revoked", "GET", api, func(t *testing.T) []string {
			tok, rec := issue(t, e.svc, "acme", "carol", auth.RoleRead)
			if st, _, _ := request(t, "GET", e.srv.URL+api, bearer(tok), nil); st != 200 {
				t.Fatalf("before revoke: %d", st)
			}
			if err := e.svc.RevokeJTI(ctx, rec.JTI); err != nil {
				t.Fatal(err)
			}
			return bearer(tok)
		}, nil, 401},
		{"subject revoked", "GET", api, func(t *testing.T) []string {
			tok, _ := issue(t, e.svc, "acme", "dave", auth.RoleRead)
			if st, _, _ := request(t, "GET", e.srv.URL+api, bearer(tok), nil); st != 200 {
				t.Fatalf("before revoke: %d", st)
			}
			if n, err := e.svc.RevokeSubject(ctx, "acme", "dave"); err != nil || n != 1 {
				t.Fatalf("RevokeSubject = %d, %v", n, err)
			}
			return bearer(tok)
		}, nil, 401},
		{"key retired", "GET", api, func(t *testing.T) []string {
			tok, rec := issue(t, e.svc, "acme", "erin", auth.RoleRead)
			if _, err := e.svc.RotateKey(ctx); err != nil {
				t.Fatal(err)
			}
			if st, _, _ := request(t, "GET", e.srv.URL+api, bearer(tok), nil); st != 200 {
				t.Fatalf("after rotate, before retire: %d", st)
			}
			if err := e.svc.RetireKey(ctx, rec.KeyID); err != nil {
				t.Fatal(err)
			}
			return bearer(tok)
		}, nil, 401},
		{"token of the new key after retirement", "GET", api, func(t *testing.T) []string {
			tok, _ := issue(t, e.svc, "acme", "frank", auth.RoleRead)
			return bearer(tok)
		}, nil, 200},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			st, h, body := request(t, r.method, e.srv.URL+r.path, r.authz(t), r.hdr)
			if st != r.status {
				t.Fatalf("status %d, want %d; body %s", st, r.status, body)
			}
			if st >= 400 {
				var eb struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error.Code == "" {
					t.Fatalf("error body %q", body)
				}
				if strings.Contains(body, good[:20]) {
					t.Fatal("token echoed in the answer")
				}
			}
			if st == 401 && h.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
				t.Fatalf("WWW-Authenticate = %q", h.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestRevocationReachesCachedToken: a token verified (and cached) keeps working until
// revoked, and the next request after the revocation fails.
func TestRevocationReachesCachedToken(t *testing.T) {
	e := newEnv(t, Options{})
	tok, rec := issue(t, e.svc, "acme", "alice", auth.RoleRead)
	for i := 0; i < 3; i++ {
		if st, _, _ := request(t, "GET", e.srv.URL+"/api/list", []string{"Bearer " + tok}, nil); st != 200 {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	if err := e.svc.RevokeJTI(context.Background(), rec.JTI); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := request(t, "GET", e.srv.URL+"/api/list", []string{"Bearer " + tok}, nil); st != 401 {
		t.Fatalf("after revoke: %d", st)
	}
}

func TestRateLimit(t *testing.T) {
	lo := netip.MustParsePrefix("127.0.0.1/32")
	e := newEnv(t, Options{FailBurst: 3, FailEvery: time.Hour, TrustedProxies: []netip.Prefix{lo}})
	good, _ := issue(t, e.svc, "acme", "alice", auth.RoleRead)
	bad := []string{"Bearer garbage"}
	from := func(addr string) map[string]string { return map[string]string{"X-Forwarded-For": addr} }
	url := e.srv.URL + "/api/list"

	for i := 0; i < 3; i++ {
		if st, _, _ := request(t, "GET", url, bad, from("203.0.113.5")); st != 401 {
			t.Fatalf("failure %d: %d", i, st)
		}
	}
	st, h, body := request(t, "GET", url, bad, from("203.0.113.5"))
	if st != 429 {
		t.Fatalf("over the limit: %d %s", st, body)
	}
	if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 {
		t.Fatalf("Retry-After %q", h.Get("Retry-After"))
	}
	// A token that verifies is never refused by the limiter.
	if st, _, body := request(t, "GET", url, []string{"Bearer " + good}, from("203.0.113.5")); st != 200 {
		t.Fatalf("valid token while limited: %d %s", st, body)
	}
	if st, _, body := request(t, "GET", url, []string{"Bearer " + good}, from("203.0.113.5")); st != 200 || !strings.Contains(body, `"addr":"203.0.113.5"`) {
		t.Fatalf("client address not taken from the trusted proxy: %s", body)
	}
	// Another address is independent.
	if st, _, _ := request(t, "GET", url, bad, from("203.0.113.6")); st != 401 {
		t.Fatalf("other address: %d", st)
	}
	// A client cannot reset its limit by adding hops: the right-most untrusted one counts.
	if st, _, _ := request(t, "GET", url, bad, from("198.51.100.1, 203.0.113.5")); st != 429 {
		t.Fatalf("prepended hop reset the limit: %d", st)
	}
	// IPv6 counts by /64.
	for i := 0; i < 3; i++ {
		request(t, "GET", url, bad, from("2001:db8::1"))
	}
	if st, _, _ := request(t, "GET", url, bad, from("2001:db8::ffff:2")); st != 429 {
		t.Fatalf("same /64: %d", st)
	}
	if st, _, _ := request(t, "GET", url, bad, from("2001:db8:0:1::1")); st != 401 {
		t.Fatalf("other /64: %d", st)
	}

	// Without trusted proxies, X-Forwarded-For is ignored: spoofing it does not reset
	// the limit.
	e2 := newEnv(t, Options{FailBurst: 2, FailEvery: time.Hour})
	url2 := e2.srv.URL + "/api/list"
	for i := 0; i < 2; i++ {
		request(t, "GET", url2, bad, from("192.0.2."+strconv.Itoa(i)))
	}
	if st, _, _ := request(t, "GET", url2, bad, from("192.0.2.99")); st != 429 {
		t.Fatalf("spoofed X-Forwarded-For reset the limit: %d", st)
	}
}

func TestLimiterBounded(t *testing.T) {
	l := newFailLimiter(2, time.Hour, 100)
	now := time.Now()
	for i := 0; i < 5000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.fail(a, now)
		if l.len() > 100 {
			t.Fatalf("table grew to %d", l.len())
		}
	}
	// Refill: after `every`, one more failure is allowed.
	a := netip.MustParseAddr("10.200.0.1")
	l2 := newFailLimiter(1, time.Second, 10)
	if _, lim := l2.fail(a, now); lim {
		t.Fatal("first failure limited")
	}
	if secs, lim := l2.fail(a, now); !lim || secs != 1 {
		t.Fatalf("second failure: %d %v", secs, lim)
	}
	if _, lim := l2.fail(a, now.Add(1100*time.Millisecond)); lim {
		t.Fatal("not refilled")
	}
}

func TestClientAddr(t *testing.T) {
	m := New(nil, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}})
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct v4", "192.0.2.1:1234", nil, "192.0.2.1"},
		{"direct v6", "[2001:db8::1]:80", nil, "2001:db8::1"},
		{"v4-mapped peer", "[::ffff:192.0.2.7]:80", nil, "192.0.2.7"},
		{"trusted proxy", "10.1.1.1:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted chain", "10.1.1.1:80", []string{"203.0.113.9, 10.2.2.2"}, "203.0.113.9"},
		{"two XFF headers", "10.1.1.1:80", []string{"198.51.100.1", "203.0.113.9"}, "203.0.113.9"},
		{"with port", "10.1.1.1:80", []string{"203.0.113.9:5555"}, "203.0.113.9"},
		{"v6 via proxy", "[fd00::1]:80", []string{"2001:db8::5"}, "2001:db8::5"},
		{"only trusted hops", "10.1.1.1:80", []string{"10.9.9.9"}, "10.9.9.9"},
		// attacks
		{"untrusted peer spoofs", "192.0.2.1:1234", []string{"10.0.0.1"}, "192.0.2.1"},
		{"prepended fake client", "10.1.1.1:80", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"garbage hop", "10.1.1.1:80", []string{"not-an-ip"}, "10.1.1.1"},
		{"garbage behind trusted", "10.1.1.1:80", []string{"zzz, 10.3.3.3"}, "10.3.3.3"},
		{"empty xff", "10.1.1.1:80", []string{""}, "10.1.1.1"},
		{"zone in xff", "10.1.1.1:80", []string{"fe80::1%eth0"}, "fe80::1"},
		{"bad remote", "garbage", nil, "0.0.0.0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "http://x/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := m.ClientAddrOf(r).String(); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		name string
		vals []string
		tok  string
		code string
	}{
		{"ok", []string{"Bearer abc"}, "abc", ""},
		{"lower", []string{"bearer abc"}, "abc", ""},
		{"mixed", []string{"BeArEr abc"}, "abc", ""},
		{"extra spaces", []string{"Bearer   abc"}, "abc", ""},
		// attacks
		{"none", nil, "", "unauthenticated"},
		{"two", []string{"Bearer a", "Bearer b"}, "", "bad_request"},
		{"basic", []string{"Basic abc"}, "", "unauthenticated"},
		{"bearer only", []string{"Bearer"}, "", "unauthenticated"},
		{"two tokens", []string{"Bearer a b"}, "", "unauthenticated"},
		{"comma list", []string{"Bearer a,Bearer b"}, "", "unauthenticated"},
		{"huge", []string{"Bearer " + strings.Repeat("a", 10000)}, "", "unauthenticated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range c.vals {
				h.Add("Authorization", v)
			}
			tok, err := BearerToken(h)
			if c.code == "" {
				if err != nil || tok != c.tok {
					t.Fatalf("got %q %v", tok, err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), c.code) {
				t.Fatalf("err %v, want %s", err, c.code)
			}
		})
	}
}

// TestOpsFailuresAudited: failed admin authentications land in the audit log with
// the client address, never with the token.
func TestOpsFailuresAudited(t *testing.T) {
	e := newEnv(t, Options{})
	good, _ := issue(t, e.svc, "acme", "alice", auth.RoleAdmin)
	request(t, "GET", e.srv.URL+"/admin/tenants", []string{"Bearer " + good}, nil)
	request(t, "GET", e.srv.URL+"/admin/tenants", nil, nil)
	es, err := e.svc.ListAudit(context.Background(), 10)
	if err != nil || len(es) != 2 {
		t.Fatalf("audit %+v %v", es, err)
	}
	outcomes := map[string]bool{}
	for _, a := range es {
		outcomes[a.Outcome] = true
		if a.Action != "auth.failed" || a.Address != "127.0.0.1" || a.Target != "GET /admin/tenants" {
			t.Fatalf("entry %+v", a)
		}
		b, _ := json.Marshal(a)
		if strings.Contains(string(b), good[:30]) {
			t.Fatal("token in audit")
		}
	}
	// The tenant token is forbidden on /admin, the missing one unauthenticated.
	if !outcomes["forbidden"] || !outcomes["unauthenticated"] {
		t.Fatalf("outcomes %v", outcomes)
	}
}

// TestRefusedTenantTokenAuditedWithWho (issue 11 item 9): a valid tenant token refused
// on /admin or /metrics (403) is audited with its tenant, subject and jti, not as
// anonymous; a token that does not verify stays anonymous (its claims are not
// trusted), and so does a valid ops token's absence.
func TestRefusedTenantTokenAuditedWithWho(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	good, rec := issue(t, e.svc, "acme", "alice", auth.RoleAdmin)
	revoked, rrec := issue(t, e.svc, "acme", "mallory", auth.RoleAdmin)
	if err := e.svc.RevokeJTI(ctx, rrec.JTI); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, tok  string
		status     int
		actor, jti string
	}{
		{"/admin/tenants", good, 403, "tenant:acme:alice", rec.JTI},
		{"/metrics", good, 403, "tenant:acme:alice", rec.JTI},
		{"/metrics", revoked, 401, "anonymous", ""},
		{"/admin/tenants", "", 401, "anonymous", ""},
	} {
		var hdr []string
		if c.tok != "" {
			hdr = []string{"Bearer " + c.tok}
		}
		if st, _, body := request(t, "GET", e.srv.URL+c.path, hdr, nil); st != c.status {
			t.Fatalf("%s: %d %s, want %d", c.path, st, body, c.status)
		}
		es, err := e.svc.ListAudit(ctx, 1)
		if err != nil || len(es) != 1 {
			t.Fatalf("audit %+v %v", es, err)
		}
		a := es[0]
		if a.Action != "auth.failed" || a.Target != "GET "+c.path || a.Actor != c.actor || a.JTI != c.jti || a.Address != "127.0.0.1" {
			t.Fatalf("%s with %s: audit entry %+v, want actor %s jti %q", c.path, c.actor, a, c.actor, c.jti)
		}
	}
}

// FuzzAuthorization: whatever the Authorization header and query, the middleware
// answers 200 only for the issued token and otherwise 400/401/429, never panics.
func FuzzAuthorization(f *testing.F) {
	e := newEnv(f, Options{FailBurst: 1 << 30})
	good, _ := issue(f, e.svc, "acme", "alice", auth.RoleRead)
	f.Add("Bearer "+good, "")
	f.Add("bearer "+good, "path=x")
	f.Add("Bearer "+good, "token=1")
	f.Add("Basic x", "")
	f.Add("Bearer a.b.c", "")
	f.Add("", "jwt")
	mux := newTestEcho(e.mw, true)
	f.Fuzz(func(t *testing.T, authz, query string) {
		r, err := http.NewRequest("GET", "http://x/api/list", nil)
		if err != nil {
			return
		}
		r.URL.RawQuery = query
		r.RemoteAddr = "192.0.2.1:1"
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		switch w.Code {
		case 200:
			if !strings.HasSuffix(strings.TrimSpace(authz), good) || auth.QueryCarriesToken(query) {
				t.Fatalf("accepted %q ?%q", authz, query)
			}
		case 400, 401, 429:
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}
