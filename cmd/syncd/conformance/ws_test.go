package conformance

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// SPEC §4: Ack first with seq (even 0) and epoch; live events in seq order; own events
// suppressed only when client_id and subject both match; tenant isolation.
func TestWSSubscribeAndLive(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	ws := dialWS(t, e.d.URL(), tn.read, nil)
	ws.send(t, `{"type":"Subscribe","client_id":"reader-1"}`)
	ack := ws.next(t)
	if ack.Type != "Ack" || ack.OperationID != "subscribe" || ack.Epoch == "" || !strings.Contains(string(ack.raw), `"seq":0`) {
		t.Fatalf("first frame %s: want Ack with operation_id subscribe, \"seq\":0 and epoch", ack.raw)
	}
	// Same client id, other subject: still receives the event.
	bobWrite := e.issue(t, tn.name, "bob", "write", "1h")
	same := dialWS(t, e.d.URL(), tn.write, nil) // alice, client "writer"
	same.subscribe(t, "writer", nil, "")
	other := dialWS(t, e.d.URL(), tn.read, nil)
	other.subscribe(t, "writer", nil, "") // alice too, same client id: suppressed
	// A subscriber of another tenant sees nothing.
	tn2 := e.newTenant(t, "")
	iso := dialWS(t, e.d.URL(), tn2.read, nil)
	iso.subscribe(t, "writer", nil, "")

	r := tn.api(t, "PUT", "/api/files/live.txt", tn.write, []byte("x"), map[string]string{"X-Sync-Client-Id": "writer"})
	expectStatus(t, r, 201)
	r = tn.api(t, "PUT", "/api/files/live2.txt", bobWrite, []byte("y"), map[string]string{"X-Sync-Client-Id": "writer"})
	expectStatus(t, r, 201)

	m := ws.next(t)
	if m.Type != "FileOperation" || m.seq() != 1 || m.SourceSubject != "alice" || m.SourceClient == nil || *m.SourceClient != "writer" {
		t.Errorf("live event 1: %s", m.raw)
	}
	if k, p := m.op(t); k != "Create" || p != "live.txt" {
		t.Errorf("live event 1 op %s %s", k, p)
	}
	if m := ws.next(t); m.seq() != 2 || m.SourceSubject != "bob" {
		t.Errorf("live event 2: %s", m.raw)
	}
	// alice/writer does not get its own seq 1 but gets bob's seq 2.
	if m := same.next(t); m.seq() != 2 {
		t.Errorf("self-echo: first event to alice/writer is %s, want seq 2 only", m.raw)
	}
	if m := other.next(t); m.seq() != 2 {
		t.Errorf("self-echo (same subject+client on another socket): %s", m.raw)
	}
	iso.quiet(t, 300*time.Millisecond)

	// Ping/Pong.
	ws.send(t, `{"type":"Ping"}`)
	if m := ws.next(t); m.Type != "Pong" {
		t.Errorf("Ping answered with %s", m.raw)
	}
	// A second Subscribe is an Error, the connection stays.
	ws.send(t, `{"type":"Subscribe","client_id":"again"}`)
	if m := ws.next(t); m.Type != "Error" {
		t.Errorf("second Subscribe: %s", m.raw)
	}
}

// SPEC §4: replay after since with the epoch, then live without gap or duplicate;
// ResyncRequired on a wrong epoch or a since that is not retained, subscription live.
func TestWSReplayAndResync(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	for i := 1; i <= 4; i++ {
		tn.put(t, fmt.Sprintf("r%d", i), fmt.Sprint(i))
	}
	epoch := tn.listEpoch(t)
	ws := dialWS(t, e.d.URL(), tn.read, nil)
	ack := ws.subscribe(t, "replayer", int64p(1), epoch)
	if ack.seq() != 4 || ack.Epoch != epoch {
		t.Errorf("Ack %s: want seq 4 epoch %s", ack.raw, epoch)
	}
	for want := int64(2); want <= 4; want++ {
		if m := ws.next(t); m.Type != "FileOperation" || m.seq() != want {
			t.Fatalf("replay: got %s, want seq %d", m.raw, want)
		}
	}
	tn.put(t, "r5", "5")
	if m := ws.next(t); m.seq() != 5 {
		t.Errorf("live after replay: %s", m.raw)
	}

	// Batch mode: one JSON message per line.
	bws := dialWS(t, e.d.URL(), tn.read, nil)
	bws.send(t, `{"type":"Subscribe","client_id":"batcher","since":0,"epoch":"`+epoch+`","batch":true}`)
	var got []int64
	for len(got) < 6 {
		m := bws.next(t)
		got = append(got, m.seq())
		if len(got) == 1 && (m.Type != "Ack" || m.seq() != 5) {
			t.Fatalf("batch: first message %s", m.raw)
		}
	}
	if fmt.Sprint(got) != "[5 1 2 3 4 5]" {
		t.Errorf("batch replay seqs %v", got)
	}

	for _, c := range []struct {
		name  string
		since int64
		epoch string
	}{
		{"wrong epoch", 1, "0123456789abcdef0123456789abcdef"},
		{"since beyond head", 99, epoch},
	} {
		// Sequential subtests: each adds one event.
		t.Run(c.name, func(t *testing.T) {
			w := dialWS(t, e.d.URL(), tn.read, nil)
			ack := w.subscribe(t, "resync", int64p(c.since), c.epoch)
			m := w.next(t)
			if m.Type != "ResyncRequired" || m.seq() != ack.seq() || m.Epoch != epoch {
				t.Fatalf("want ResyncRequired seq %d epoch %s, got %s", ack.seq(), epoch, m.raw)
			}
			tn.put(t, "after-"+strings.ReplaceAll(c.name, " ", "-"), "x")
			m = w.next(t)
			if m.Type != "FileOperation" || m.seq() != ack.seq()+1 {
				t.Errorf("subscription not live after ResyncRequired: %s", m.raw)
			}
		})
	}
}

func (tn *tenant) listEpoch(t testing.TB) string {
	t.Helper()
	var l struct {
		Epoch string `json:"epoch"`
	}
	tn.api(t, "GET", "/api/list", tn.read, nil, nil).json(t, &l)
	return l.Epoch
}

// SPEC §4: Error frames keep the connection open; client FileOperations.
func TestWSErrorsAndOperations(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	m1 := tn.put(t, "ops/a.txt", "content-a")
	ws := dialWS(t, e.d.URL(), tn.write, nil)
	ws.subscribe(t, "opclient", nil, "")

	metaJSON := func(path, hash string, dir bool) string {
		return fmt.Sprintf(`{"path":%q,"size":0,"modified":"2024-01-01T00:00:00Z","hash":%q,"is_directory":%v}`, path, hash, dir)
	}
	cases := []struct {
		name  string
		frame string
		typ   string
		code  string
		opID  string
	}{
		{"attack: malformed JSON", `{"type":`, "Error", "bad_request", ""},
		{"attack: unknown type", `{"type":"Frobnicate","operation_id":"u1"}`, "Error", "bad_request", "u1"},
		{"attack: no type", `{"operation_id":"u2"}`, "Error", "bad_request", "u2"},
		{"attack: operation missing", `{"type":"FileOperation","operation_id":"u3"}`, "Error", "bad_request", "u3"},
		{"attack: bad path", `{"type":"FileOperation","operation":{"Delete":{"metadata":` + metaJSON("../x", "", false) + `}},"operation_id":"op-7"}`, "Error", "invalid_path", "op-7"},
		{"attack: reserved path", `{"type":"FileOperation","operation":{"Create":{"metadata":` + metaJSON(".syncspace/x", "", true) + `}},"operation_id":"op-8"}`, "Error", "invalid_path", "op-8"},
		{"file Create without content", `{"type":"FileOperation","operation":{"Create":{"metadata":` + metaJSON("ops/new.txt", sha("nothing"), false) + `}},"operation_id":"op-9"}`, "Error", "content_missing", "op-9"},
		{"file Update with the current hash", `{"type":"FileOperation","operation":{"Update":{"metadata":` + metaJSON("ops/a.txt", m1.Hash, false) + `}},"operation_id":"op-10"}`, "Ack", "", "op-10"},
		{"Delete with a stale hash", `{"type":"FileOperation","operation":{"Delete":{"metadata":` + metaJSON("ops/a.txt", sha("stale"), false) + `}},"operation_id":"op-11"}`, "Error", "precondition_failed", "op-11"},
		{"directory Create", `{"type":"FileOperation","operation":{"Create":{"metadata":` + metaJSON("ops/dir", "", true) + `}},"operation_id":"op-12"}`, "Ack", "", "op-12"},
		{"Move", `{"type":"FileOperation","operation":{"Move":{"from":"ops/a.txt","metadata":` + metaJSON("ops/b.txt", m1.Hash, false) + `}},"operation_id":"op-13"}`, "Ack", "", "op-13"},
		{"Delete with the current hash", `{"type":"FileOperation","operation":{"Delete":{"metadata":` + metaJSON("ops/b.txt", m1.Hash, false) + `}},"operation_id":"op-14"}`, "Ack", "", "op-14"},
		{"Refresh with a garbage token", `{"type":"Refresh","token":"x.y.z","operation_id":"op-15"}`, "Error", "unauthenticated", "op-15"},
	}
	seqBefore := int64(1)
	for _, c := range cases {
		ws.send(t, c.frame)
		m := ws.next(t)
		if m.Type != c.typ || m.Code != c.code || m.OperationID != c.opID {
			t.Errorf("%s: got %s, want %s %s op %q", c.name, m.raw, c.typ, c.code, c.opID)
		}
		if m.Type == "Error" && m.Message == "" {
			t.Errorf("%s: Error without message", c.name)
		}
		if m.Type == "Ack" && strings.HasPrefix(c.name, "directory") || strings.HasPrefix(c.name, "Move") || strings.HasPrefix(c.name, "Delete with the current") {
			if m.seq() <= seqBefore {
				t.Errorf("%s: Ack without a new seq: %s", c.name, m.raw)
			}
			seqBefore = m.seq()
		}
		if c.name == "file Update with the current hash" && m.seq() > 1 {
			t.Errorf("content-only Update made a new seq: %s", m.raw)
		}
	}
	// Still open.
	ws.send(t, `{"type":"Ping"}`)
	if m := ws.next(t); m.Type != "Pong" {
		t.Errorf("after errors: %s", m.raw)
	}
	// The WS changes show up in the changes feed with source_client = the client id.
	var p struct {
		Events []wsMsg `json:"events"`
	}
	tn.api(t, "GET", "/api/changes?since=1", tn.read, nil, nil).json(t, &p)
	if len(p.Events) != 3 {
		t.Fatalf("changes after WS ops: %d events", len(p.Events))
	}
	for _, ev := range p.Events {
		if ev.SourceClient == nil || *ev.SourceClient != "opclient" {
			t.Errorf("WS-made event source_client %v", ev.SourceClient)
		}
	}
	// Read role: FileOperation refused.
	rws := dialWS(t, e.d.URL(), tn.read, nil)
	rws.subscribe(t, "ro", nil, "")
	rws.send(t, `{"type":"FileOperation","operation":{"Create":{"metadata":`+metaJSON("ops/x", "", true)+`}},"operation_id":"ro-1"}`)
	if m := rws.next(t); m.Type != "Error" || m.Code != "forbidden" || m.OperationID != "ro-1" {
		t.Errorf("read-role FileOperation: %s", m.raw)
	}
	// Subscribe without client_id.
	nws := dialWS(t, e.d.URL(), tn.read, nil)
	nws.send(t, `{"type":"Subscribe"}`)
	if m := nws.next(t); m.Type != "Error" || m.Code != "bad_request" {
		t.Errorf("Subscribe without client_id: %s", m.raw)
	}
}

// SPEC §4: authentication on the upgrade and with the Auth frame; Origin rules.
func TestWSAuthAndOrigin(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	u := e.d.URL()
	hdr := func(kv ...string) http.Header {
		h := http.Header{"X-Forwarded-For": {fakeClient()}}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	// Auth frame.
	c, _, err := dialRaw(u, "", hdr())
	if err != nil {
		t.Fatal(err)
	}
	w := &wsConn{c: c}
	w.send(t, `{"type":"Auth","token":"`+tn.read+`"}`)
	ack := w.subscribe(t, "browser", nil, "")
	if ack.Type != "Ack" {
		t.Fatal(ack.raw)
	}
	c.Close()

	closeCases := []struct {
		name  string
		frame string
		want  int
	}{
		{"bad token in Auth", `{"type":"Auth","token":"a.b.c"}`, 4001},
		{"ops token in Auth", `{"type":"Auth","token":"` + e.ops + `"}`, 4003},
		{"Subscribe before Auth", `{"type":"Subscribe","client_id":"x"}`, 4001},
		{"ops token on upgrade", "", 4003},
		{"bad token on upgrade", "", 4001},
		{"attack: 9 KiB before Auth", `{"type":"Auth","token":"` + strings.Repeat("a", 9<<10) + `"}`, 1009},
	}
	// SPEC §4: a bad token "is closed with 4001", whether it came in the Auth frame or
	// on the upgrade; a valid ops token is refused as forbidden (4003).
	upgradeToken := map[string]string{"ops token on upgrade": e.ops, "bad token on upgrade": "x.y.z"}
	for _, cc := range closeCases {
		c, _, err := dialRaw(u, upgradeToken[cc.name], hdr())
		if err != nil {
			t.Fatalf("%s: %v", cc.name, err)
		}
		if cc.frame != "" {
			c.WriteMessage(websocket.TextMessage, []byte(cc.frame))
		}
		if got := closeCodeOf(t, c, 5*time.Second); got != cc.want {
			t.Errorf("%s: close %d, want %d", cc.name, got, cc.want)
		}
		c.Close()
	}

	// Upgrade-time refusals: HTTP status.
	upgrade := []struct {
		name   string
		token  string
		h      http.Header
		status int
	}{
		{"query token", "", hdr(), 400},
		{"cross origin", tn.read, hdr("Origin", "https://evil.example"), 403},
		{"null origin", tn.read, hdr("Origin", "null"), 403},
	}
	for _, uc := range upgrade {
		base := u
		if uc.name == "query token" {
			d := websocket.Dialer{}
			_, res, err := d.Dial(wsURL(u)+"?token="+tn.read, uc.h)
			if err == nil || res == nil || res.StatusCode != uc.status {
				t.Errorf("%s: %v %v", uc.name, err, res)
			}
			continue
		}
		_, res, err := dialRaw(base, uc.token, uc.h)
		if err == nil || res == nil || res.StatusCode != uc.status {
			st := 0
			if res != nil {
				st = res.StatusCode
			}
			t.Errorf("%s: status %d (%v), want %d", uc.name, st, err, uc.status)
		}
	}
	// Same origin is fine.
	dialWS(t, u, tn.read, http.Header{"Origin": {u}})
}

// SPEC §4: binary frames 1008, frames over 64 KiB 1009, message rate 1008.
func TestWSLimitsCloseCodes(t *testing.T) {
	t.Parallel()
	e := shared(t)
	tn := e.newTenant(t, "")
	t.Run("binary", func(t *testing.T) {
		w := dialWS(t, e.d.URL(), tn.read, nil)
		w.c.WriteMessage(websocket.BinaryMessage, []byte("{}"))
		if got := w.closeCode(t, 5*time.Second); got != 1008 {
			t.Errorf("binary frame: close %d, want 1008", got)
		}
	})
	t.Run("too big", func(t *testing.T) {
		w := dialWS(t, e.d.URL(), tn.read, nil)
		w.c.WriteMessage(websocket.TextMessage, []byte(`{"type":"Ping","x":"`+strings.Repeat("a", 65<<10)+`"}`))
		if got := w.closeCode(t, 5*time.Second); got != 1009 {
			t.Errorf("65 KiB frame: close %d, want 1009", got)
		}
	})
	t.Run("rate", func(t *testing.T) {
		w := dialWS(t, e.d.URL(), e.issue(t, tn.name, "rate", "read", "1h"), nil)
		go func() {
			for i := 0; i < 600; i++ {
				if w.c.WriteMessage(websocket.TextMessage, []byte(`{"type":"Ping"}`)) != nil {
					return
				}
			}
		}()
		if got := w.closeCode(t, 10*time.Second); got != 1008 {
			t.Errorf("600 messages at once: close %d, want 1008", got)
		}
	})
	t.Run("per token", func(t *testing.T) {
		tok := e.issue(t, tn.name, "many", "read", "1h") // shared server: ws_per_token 4
		for i := 0; i < 4; i++ {
			dialWS(t, e.d.URL(), tok, nil).subscribe(t, fmt.Sprint("c", i), nil, "")
		}
		c, res, err := dialRaw(e.d.URL(), tok, nil)
		if err == nil {
			defer c.Close()
			c.WriteMessage(websocket.TextMessage, []byte(`{"type":"Subscribe","client_id":"c9"}`))
			code := closeCodeOf(t, c, 5*time.Second)
			if code != 1008 && code != 4008 {
				t.Errorf("5th socket of a token closed with %d", code)
			}
		} else if res == nil || (res.StatusCode != 429 && res.StatusCode != 403) {
			t.Errorf("5th socket of a token: %v %v", err, res)
		}
	})
}

// SPEC §2/§4: revocation, tenant deletion and key retirement close live sockets with
// 4005 and refuse HTTP within 1 s; token expiry closes with 4004; Refresh extends it.
func TestWSRevocationAndExpiry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := startDaemon(t, startOpts{umask: -1, dir: dir, config: `{"listen":"127.0.0.1:0","data_dir":"data"}`, dataDir: "data"})
	data := d.dataDir
	issue := func(tenant, sub, ttl string) string {
		return strings.TrimSpace(mustCtl(t, "--data", data, "token", "issue", "--tenant", tenant, "--subject", sub, "--role", "read", "--ttl", ttl).stdout)
	}
	mustCtl(t, "--data", data, "tenant", "create", "rv")
	mustCtl(t, "--data", data, "tenant", "create", "gone")

	within := func(name string, w *wsConn, tok string, want int, act func()) {
		t.Helper()
		start := time.Now()
		act()
		if got := w.closeCode(t, 3*time.Second); got != want {
			t.Errorf("%s: close %d, want %d", name, got, want)
		}
		if el := time.Since(start); el > 1500*time.Millisecond {
			t.Errorf("%s: took %v, want within 1 s", name, el)
		}
		if tok != "" {
			if r := do(t, req{url: d.URL() + "/api/list", token: tok}); r.status != 401 {
				t.Errorf("%s: HTTP with the token: %v", name, r)
			}
		}
	}

	// Revoke by JTI.
	tok := issue("rv", "a", "1h")
	w := dialWS(t, d.URL(), tok, nil)
	w.subscribe(t, "c", nil, "")
	within("revoke jti", w, tok, 4005, func() { mustCtl(t, "--data", data, "token", "revoke", jwtClaims(t, tok)["jti"].(string)) })

	// Revoke by subject: every token the subject holds now.
	t1, t2 := issue("rv", "bob", "1h"), issue("rv", "bob", "1h")
	w = dialWS(t, d.URL(), t1, nil)
	w.subscribe(t, "c", nil, "")
	within("revoke subject", w, t2, 4005, func() { mustCtl(t, "--data", data, "token", "revoke", "--tenant", "rv", "--subject", "bob") })
	// A token issued after the revocation works.
	expectStatus(t, do(t, req{url: d.URL() + "/api/list", token: issue("rv", "bob", "1h")}), 200)

	// Tenant deletion; the same name created again does not accept old tokens.
	tok = issue("gone", "a", "1h")
	w = dialWS(t, d.URL(), tok, nil)
	w.subscribe(t, "c", nil, "")
	within("tenant delete", w, tok, 4005, func() { mustCtl(t, "--data", data, "tenant", "delete", "gone", "--force") })
	mustCtl(t, "--data", data, "tenant", "create", "gone")
	if r := do(t, req{url: d.URL() + "/api/list", token: tok}); r.status != 401 {
		t.Errorf("token of a deleted tenant works on its namesake: %v", r)
	}

	// Expiry: 4004; Refresh keeps the socket.
	short := issue("rv", "exp", "2s")
	w = dialWS(t, d.URL(), short, nil)
	w.subscribe(t, "c", nil, "")
	short2 := issue("rv", "exp", "2s")
	refreshed := dialWS(t, d.URL(), short2, nil)
	refreshed.subscribe(t, "c2", nil, "")
	refreshed.send(t, `{"type":"Refresh","token":"`+issue("rv", "exp", "1h")+`"}`)
	if m := refreshed.next(t); m.Type != "Ack" {
		t.Errorf("Refresh: %s", m.raw)
	}
	refreshed.send(t, `{"type":"Refresh","token":"`+issue("rv", "someone-else", "2h")+`","operation_id":"rf"}`)
	if m := refreshed.next(t); m.Type != "Error" || m.OperationID != "rf" {
		t.Errorf("Refresh for another subject: %s", m.raw)
	}
	if got := w.closeCode(t, 5*time.Second); got != 4004 {
		t.Errorf("expiry: close %d, want 4004", got)
	}
	refreshed.send(t, `{"type":"Ping"}`)
	if m, err := refreshed.nextErr(2 * time.Second); err != nil || m.Type != "Pong" {
		t.Errorf("refreshed socket after the first token's exp: %v %s", err, m.raw)
	}

	// Key retirement: rotate, then retire the old key: its tokens stop at once.
	old := jwtHeader(t, short2)["kid"].(string)
	tok = issue("rv", "k", "1h")
	w = dialWS(t, d.URL(), tok, nil)
	w.subscribe(t, "c", nil, "")
	mustCtl(t, "--data", data, "key", "rotate")
	expectStatus(t, do(t, req{url: d.URL() + "/api/list", token: tok}), 200) // old key still verifies
	newTok := issue("rv", "k", "1h")
	if jwtHeader(t, newTok)["kid"] == old {
		t.Errorf("key rotate: new tokens still signed by %s", old)
	}
	within("key retire", w, tok, 4005, func() { mustCtl(t, "--data", data, "key", "retire", old) })
	expectStatus(t, do(t, req{url: d.URL() + "/api/list", token: newTok}), 200)
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	do(t, req{url: d.URL() + "/.well-known/jwks.json"}).json(t, &jwks)
	for _, k := range jwks.Keys {
		if k.Kid == old {
			t.Errorf("retired key still in JWKS")
		}
	}
}
