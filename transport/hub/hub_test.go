package hub

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

func TestAuthTimeout(t *testing.T) {
	e := newEnv(t, Options{AuthTimeout: 300 * time.Millisecond})
	c := e.dial("")
	start := time.Now()
	if code := c.closeCode(3 * time.Second); code != protocol.CloseUnauthenticated {
		t.Fatalf("close code %d, want 4001", code)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("closed after %s, before the auth timeout", d)
	}
}

func TestAuthFrame(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.dial("")
	c.send(map[string]any{"type": "Auth", "token": e.token("acme", "alice", "read")})
	c.send(map[string]any{"type": "Subscribe", "client_id": "c1"})
	ack := c.read()
	if ack["type"] != "Ack" || ack["operation_id"] != "subscribe" || ack["seq"] != float64(0) || ack["epoch"] == "" {
		t.Fatalf("bad Ack %v", ack)
	}
	e.space("acme").put("a.txt", "one", tenants.Source{})
	if evs := c.events(1, 5*time.Second); evs[0].Seq != 1 || evs[0].Operation.Meta().Path != "a.txt" {
		t.Fatalf("bad event %+v", evs[0])
	}
}

func TestAuthRefused(t *testing.T) {
	e := newEnv(t, Options{})
	ops := e.opsToken()
	good := e.token("acme", "alice", "read")
	for _, tc := range []struct {
		name  string
		first func(c *client)
		want  int
	}{
		{"bad token", func(c *client) { c.send(map[string]any{"type": "Auth", "token": "x.y.z"}) }, 4001},
		{"ops token", func(c *client) { c.send(map[string]any{"type": "Auth", "token": ops}) }, 4003},
		{"subscribe first", func(c *client) { c.send(map[string]any{"type": "Subscribe", "client_id": "c"}) }, 4001},
		{"malformed", func(c *client) { c.sendRaw("{") }, 4001},
		{"binary", func(c *client) { _ = c.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"Auth"}`)) }, 4001},
		{"empty token", func(c *client) { c.send(map[string]any{"type": "Auth", "token": ""}) }, 4001},
		// attacks
		{"over 8 KiB before auth", func(c *client) {
			c.sendRaw(`{"type":"Auth","token":"` + strings.Repeat("a", 9<<10) + `"}`)
		}, websocket.CloseMessageTooBig},
		{"token in cookie is no credential", func(c *client) { c.send(map[string]any{"type": "Ping"}) }, 4001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c *client
			if tc.name == "token in cookie is no credential" {
				h := http.Header{"Cookie": {"token=" + good}}
				ws, _, err := e.dialRaw(h)
				if err != nil {
					t.Fatal(err)
				}
				c = &client{t: t, ws: ws}
			} else {
				c = e.dial("")
			}
			defer c.close()
			tc.first(c)
			if code := c.closeCode(3 * time.Second); code != tc.want {
				t.Fatalf("close code %d, want %d", code, tc.want)
			}
		})
	}
}

func TestHeaderAuth(t *testing.T) {
	e := newEnv(t, Options{})
	good := e.token("acme", "alice", "read")
	for _, tc := range []struct {
		name   string
		hdr    http.Header
		query  string
		status int
	}{
		// A bad token is upgraded, then closed with 4001 (status -4001 here); a valid
		// ops token with 4003.
		{"ops token", http.Header{"Authorization": {"Bearer " + e.opsToken()}}, "", -protocol.CloseForbidden},
		{"garbage", http.Header{"Authorization": {"Bearer nope"}}, "", -protocol.CloseUnauthenticated},
		{"basic scheme", http.Header{"Authorization": {"Basic " + good}}, "", -protocol.CloseUnauthenticated},
		{"two headers", http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, "", 400},
		{"token query", nil, "?token=" + good, 400},
		{"access_token query", nil, "?access_token=x", 400},
		{"jwt query", nil, "?jwt=x", 400},
		{"semicolon query", nil, "?a=1;Token=x", 400},
		{"escaped query name", nil, "?acc%65ss_token=x", 400},
		{"cross origin", http.Header{"Origin": {"https://evil.example"}}, "", 403},
		{"null origin", http.Header{"Origin": {"null"}}, "", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := websocket.Dialer{}
			ws, resp, err := d.Dial(e.wsURL+tc.query, tc.hdr)
			if tc.status < 0 {
				if err != nil {
					t.Fatalf("upgrade refused: %v", err)
				}
				defer ws.Close()
				ws.SetReadDeadline(time.Now().Add(3 * time.Second))
				_, _, err := ws.ReadMessage()
				if !websocket.IsCloseError(err, -tc.status) {
					t.Fatalf("want close %d, got %v", -tc.status, err)
				}
				return
			}
			if err == nil {
				ws.Close()
				t.Fatal("upgrade accepted")
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("want %d, got %v (%v)", tc.status, resp, err)
			}
		})
	}
	c, ack := e.subscribe(good, "c1", nil)
	defer c.close()
	if ack["seq"] != float64(0) {
		t.Fatalf("ack %v", ack)
	}
}

func TestOrigins(t *testing.T) {
	e := newEnv(t, Options{AllowedOrigins: []string{"https://app.example"}})
	tok := e.token("acme", "alice", "read")
	host := strings.TrimPrefix(e.srv.URL, "http://")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"https://app.example", true},
		{"HTTPS://APP.EXAMPLE", true},
		{"http://" + host, true}, // same origin
		{"", true},               // non-browser client
		{"https://app.example.evil", false},
		{"null", false},
		{"http://" + host + ".evil", false},
		{"file://", false},
	} {
		h := http.Header{"Authorization": {"Bearer " + tok}}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		ws, resp, err := e.dialRaw(h)
		if tc.ok != (err == nil) {
			t.Fatalf("origin %q: ok=%v err=%v", tc.origin, tc.ok, err)
		}
		if err == nil {
			ws.Close()
		} else if resp.StatusCode != 403 {
			t.Fatalf("origin %q: status %d", tc.origin, resp.StatusCode)
		}
	}
}

func TestBroadcastRules(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.token("acme", "alice", "write")
	bob := e.token("acme", "bob", "write")
	self, _ := e.subscribe(alice, "laptop", nil)
	sameIDOtherSubject, _ := e.subscribe(bob, "laptop", nil)
	otherClient, _ := e.subscribe(alice, "desktop", nil)
	otherTenant, _ := e.subscribe(e.token("other", "alice", "write"), "laptop", nil)
	for _, c := range []*client{self, sameIDOtherSubject, otherClient, otherTenant} {
		defer c.close()
	}
	e.space("acme").put("doc.txt", "one", tenants.Source{ClientID: "laptop", Subject: "alice"})
	for _, c := range []*client{sameIDOtherSubject, otherClient} {
		ev := c.events(1, 5*time.Second)[0]
		if ev.Seq != 1 || ev.SourceClient != "laptop" || ev.SourceSubject != "alice" {
			t.Fatalf("bad event %+v", ev)
		}
	}
	self.quiet(200 * time.Millisecond)
	otherTenant.quiet(50 * time.Millisecond)
}

func TestManyChangesInOrder(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) {
			e := newEnv(t, Options{})
			c, _ := e.subscribe(e.token("acme", "alice", "read"), "c1", map[string]any{"batch": batch})
			defer c.close()
			sp := e.space("acme")
			for i := 0; i < 100; i++ {
				sp.put(fmt.Sprintf("f%d", i), "c", tenants.Source{ClientID: "writer"})
			}
			evs := c.events(100, 10*time.Second)
			for i, ev := range evs {
				if ev.Seq != int64(i+1) {
					t.Fatalf("event %d has seq %d", i, ev.Seq)
				}
			}
			c.quiet(100 * time.Millisecond)
		})
	}
}

func TestResume(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token("acme", "alice", "read")
	sp := e.space("acme")
	c, ack := e.subscribe(tok, "c1", nil)
	epoch := ack["epoch"].(string)
	for i := 0; i < 5; i++ {
		sp.put(fmt.Sprintf("a%d", i), "c", tenants.Source{})
	}
	if evs := c.events(5, 5*time.Second); evs[4].Seq != 5 {
		t.Fatal("missing live events")
	}
	c.close()
	for i := 0; i < 7; i++ {
		sp.put(fmt.Sprintf("b%d", i), "c", tenants.Source{})
	}
	// Resume after 5 while writers keep committing: exactly 6.. in order, no gap, no
	// duplicate at the switch to live.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			sp.put(fmt.Sprintf("c%d", i), "c", tenants.Source{})
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	c2, ack2 := e.subscribe(tok, "c1", map[string]any{"since": 5, "epoch": epoch, "batch": true})
	defer c2.close()
	if ack2["seq"].(float64) < 12 {
		t.Fatalf("ack seq %v, want ≥ 12", ack2["seq"])
	}
	evs := c2.events(60, 20*time.Second)
	close(stop)
	wg.Wait()
	_, head := sp.Head()
	rest := c2.events(int(head)-5-len(evs), 10*time.Second)
	evs = append(evs, rest...)
	for i, ev := range evs {
		if ev.Seq != int64(6+i) {
			t.Fatalf("event %d has seq %d, want %d", i, ev.Seq, 6+i)
		}
	}
	c2.quiet(100 * time.Millisecond)
}

func TestResyncRequired(t *testing.T) {
	e := newMemEnv(t, Options{})
	e.mem.retain = 10
	tok := e.token("acme", "alice", "read")
	sp := e.mem.space("acme")
	for i := 0; i < 30; i++ {
		sp.put(fmt.Sprintf("a%d", i), "h", tenants.Source{})
	}
	epoch, _ := sp.Head()
	for _, tc := range []struct {
		name  string
		since int64
		epoch string
	}{
		{"past retention", 5, epoch},
		{"another epoch", 25, "not-this-one"},
		{"since ahead of head", 99, epoch},
		{"no epoch", 25, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ack := e.subscribe(tok, "c1", map[string]any{"since": tc.since, "epoch": tc.epoch})
			defer c.close()
			m := c.read()
			if m["type"] != "ResyncRequired" || m["seq"] != ack["seq"] || m["epoch"] != epoch {
				t.Fatalf("want ResyncRequired at %v, got %v", ack["seq"], m)
			}
			_, head := sp.Head()
			sp.put("live-"+tc.name, "h", tenants.Source{})
			if ev := c.events(1, 5*time.Second)[0]; ev.Seq != head+1 {
				t.Fatalf("live after resync: seq %d, want %d", ev.Seq, head+1)
			}
		})
	}
	t.Run("history lost: new epoch", func(t *testing.T) {
		other := e.mem.space("other")
		other.put("x", "h", tenants.Source{})
		oldEpoch, _ := other.Head()
		other.newEpoch()
		newEpoch, head := other.Head()
		c, _ := e.subscribe(e.token("other", "alice", "read"), "c1", map[string]any{"since": 1, "epoch": oldEpoch})
		defer c.close()
		if m := c.read(); m["type"] != "ResyncRequired" || m["epoch"] != newEpoch || m["seq"] != float64(head) {
			t.Fatalf("got %v", m)
		}
	})
	t.Run("within retention replays", func(t *testing.T) {
		_, head := sp.Head()
		c, _ := e.subscribe(tok, "c1", map[string]any{"since": head - 3, "epoch": epoch})
		defer c.close()
		evs := c.events(3, 5*time.Second)
		if evs[0].Seq != head-2 || evs[2].Seq != head {
			t.Fatalf("replay %+v", evs)
		}
	})
	t.Run("more than 10000 missing", func(t *testing.T) {
		e.mem.retain = 0
		for i := 0; i < protocol.MaxReplayGap+1; i++ {
			sp.put("big", fmt.Sprint(i), tenants.Source{})
		}
		_, head := sp.Head()
		c, _ := e.subscribe(tok, "c1", map[string]any{"since": head - protocol.MaxReplayGap - 1, "epoch": epoch})
		defer c.close()
		if m := c.read(); m["type"] != "ResyncRequired" {
			t.Fatalf("got %v", m)
		}
		c2, _ := e.subscribe(tok, "c1", map[string]any{"since": head - protocol.MaxReplayGap, "epoch": epoch, "batch": true})
		defer c2.close()
		if evs := c2.events(protocol.MaxReplayGap, 20*time.Second); evs[len(evs)-1].Seq != head {
			t.Fatal("full replay of 10000 failed")
		}
	})
}

func TestClientOperations(t *testing.T) {
	e := newEnv(t, Options{})
	sp := e.space("acme")
	sp.put("docs/a.txt", "content a", tenants.Source{})
	sp.put("b.txt", "content b", tenants.Source{})
	ha, hb := hashOf("content a"), hashOf("content b")
	w, _ := e.subscribe(e.token("acme", "alice", "write"), "laptop", nil)
	defer w.close()
	other, _ := e.subscribe(e.token("acme", "bob", "read"), "phone", nil)
	defer other.close()
	md := func(path, hash string, dir bool) map[string]any {
		return map[string]any{"metadata": map[string]any{"path": path, "hash": hash, "is_directory": dir}}
	}
	op := func(id string, operation map[string]any) map[string]any {
		return map[string]any{"type": "FileOperation", "operation_id": id, "operation": operation,
			"source_client": "spoofed"}
	}
	for _, tc := range []struct {
		name      string
		msg       map[string]any
		wantCode  string // "" = Ack
		wantEvent string // kind broadcast to the other client
	}{
		{"mkdir", op("op1", map[string]any{"Create": md("newdir", "", true)}), "", "Create"},
		{"mkdir again", op("op2", map[string]any{"Create": md("newdir", "", true)}), "", ""},
		{"move wrong hash", op("op3", map[string]any{"Move": map[string]any{"from": "b.txt", "metadata": map[string]any{"path": "c.txt", "hash": hashOf("zz")}}}), "precondition_failed", ""},
		{"move", op("op4", map[string]any{"Move": map[string]any{"from": "b.txt", "metadata": map[string]any{"path": "newdir/c.txt", "hash": hb}}}), "", "Move"},
		{"delete wrong hash", op("op5", map[string]any{"Delete": md("docs/a.txt", hashOf("nope"), false)}), "precondition_failed", ""},
		{"delete", op("op6", map[string]any{"Delete": md("docs/a.txt", ha, false)}), "", "Delete"},
		{"delete missing", op("op7", map[string]any{"Delete": md("docs/a.txt", "", false)}), "not_found", ""},
		{"create file with stored hash", op("op8", map[string]any{"Create": md("newdir/c.txt", hb, false)}), "", ""},
		{"update file content missing", op("op9", map[string]any{"Update": md("newdir/c.txt", hashOf("other"), false)}), "content_missing", ""},
		{"create file never uploaded", op("op10", map[string]any{"Create": md("x.bin", hashOf("x"), false)}), "content_missing", ""},
		{"create file no hash", op("op11", map[string]any{"Create": md("x.bin", "", false)}), "content_missing", ""},
		{"delete directory", op("op12", map[string]any{"Delete": md("newdir", "", true)}), "", "Delete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, before := sp.Head()
			w.send(tc.msg)
			m := w.read()
			if tc.wantCode == "" {
				if m["type"] != "Ack" || m["operation_id"] != tc.msg["operation_id"] {
					t.Fatalf("want Ack, got %v", m)
				}
				if tc.wantEvent == "" {
					if _, ok := m["seq"]; ok {
						t.Fatalf("Ack with seq for no change: %v", m)
					}
					other.quiet(50 * time.Millisecond)
					return
				}
				if m["seq"] != float64(before+1) {
					t.Fatalf("Ack seq %v, want %d", m["seq"], before+1)
				}
				ev := other.events(1, 5*time.Second)[0]
				if ev.Operation.Kind() != tc.wantEvent || ev.Seq != before+1 || ev.SourceClient != "laptop" || ev.SourceSubject != "alice" {
					t.Fatalf("broadcast %+v", ev)
				}
				return
			}
			if m["type"] != "Error" || m["code"] != tc.wantCode || m["operation_id"] != tc.msg["operation_id"] {
				t.Fatalf("want Error %s, got %v", tc.wantCode, m)
			}
			if _, after := sp.Head(); after != before {
				t.Fatal("failed operation made a change")
			}
		})
	}
	t.Run("read role forbidden", func(t *testing.T) {
		other.send(op("r1", map[string]any{"Delete": md("newdir", "", true)}))
		if m := other.read(); m["code"] != "forbidden" || m["operation_id"] != "r1" {
			t.Fatalf("got %v", m)
		}
	})
}

func TestMalformedKeepsConnection(t *testing.T) {
	e := newEnv(t, Options{})
	c, _ := e.subscribe(e.token("acme", "alice", "write"), "c1", nil)
	defer c.close()
	for _, tc := range []struct{ name, frame, opID string }{
		{"not json", "{nope", ""},
		{"truncated", `{"type":"Ping"`, ""},
		{"unknown type", `{"type":"Explode","operation_id":"x1"}`, "x1"},
		{"no type", `{"client_id":"a"}`, ""},
		{"array", `[1,2]`, ""},
		{"null", `null`, ""},
		{"second subscribe", `{"type":"Subscribe","client_id":"c2"}`, ""},
		{"operation missing", `{"type":"FileOperation","operation_id":"x2"}`, "x2"},
		{"two operations", `{"type":"FileOperation","operation_id":"x3","operation":{"Delete":{"metadata":{"path":"a"}},"Create":{"metadata":{"path":"b"}}}}`, "x3"},
		{"move without from", `{"type":"FileOperation","operation_id":"x4","operation":{"Move":{"metadata":{"path":"a"}}}}`, "x4"},
		{"wrong field type", `{"type":"FileOperation","operation_id":"x5","operation":"Delete"}`, "x5"},
		{"refresh without token", `{"type":"Refresh"}`, ""},
		{"auth again", `{"type":"Auth","token":"abc"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.sendRaw(tc.frame)
			m := c.read()
			if m["type"] != "Error" || m["code"] != "bad_request" || m["message"] == "" {
				t.Fatalf("want Error bad_request, got %v", m)
			}
			if tc.opID != "" && m["operation_id"] != tc.opID {
				t.Fatalf("operation_id not echoed: %v", m)
			}
			c.send(map[string]any{"type": "Ping"})
			if m := c.read(); m["type"] != "Pong" {
				t.Fatalf("want Pong, got %v", m)
			}
		})
	}
}

func TestProtocolViolations(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token("acme", "alice", "write")
	t.Run("oversized frame", func(t *testing.T) {
		c, _ := e.subscribe(tok, "c1", nil)
		defer c.close()
		c.sendRaw(`{"type":"Ping","pad":"` + strings.Repeat("x", 65<<10) + `"}`)
		if code := c.closeCode(3 * time.Second); code != websocket.CloseMessageTooBig {
			t.Fatalf("close %d, want 1009", code)
		}
	})
	t.Run("64 KiB frame accepted", func(t *testing.T) {
		c, _ := e.subscribe(tok, "c1", nil)
		defer c.close()
		c.sendRaw(`{"type":"Ping","pad":"` + strings.Repeat("x", 60<<10) + `"}`)
		if m := c.read(); m["type"] != "Pong" {
			t.Fatalf("got %v", m)
		}
	})
	t.Run("binary frame", func(t *testing.T) {
		c, _ := e.subscribe(tok, "c1", nil)
		defer c.close()
		_ = c.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"Ping"}`))
		if code := c.closeCode(3 * time.Second); code != websocket.ClosePolicyViolation {
			t.Fatalf("close %d, want 1008", code)
		}
	})
	t.Run("message flood", func(t *testing.T) {
		c := e.dial(tok)
		defer c.close()
		go func() {
			for i := 0; i < 400; i++ {
				if c.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"Ping"}`)) != nil {
					return
				}
			}
		}()
		if code := c.closeCode(5 * time.Second); code != websocket.ClosePolicyViolation {
			t.Fatalf("close %d, want 1008", code)
		}
	})
}

func TestSlowConsumer(t *testing.T) {
	e := newMemEnv(t, Options{SendQueue: 32})
	tok := e.token("acme", "alice", "read")
	h := http.Header{"Authorization": {"Bearer " + tok}}
	ws, _, err := e.dialRaw(h)
	if err != nil {
		t.Fatal(err)
	}
	slow := &client{t: t, ws: ws}
	defer slow.close()
	slow.send(map[string]any{"type": "Subscribe", "client_id": "slow"})
	if _, _, err := ws.ReadMessage(); err != nil { // Ack; then it stops reading
		t.Fatal(err)
	}
	fast, _ := e.subscribe(tok, "fast", map[string]any{"batch": true})
	defer fast.close()

	// Publish in chunks the fast subscriber keeps up with, until the slow one, backed
	// up, overflows its queue.
	sp := e.space("acme")
	const chunk = 16
	var seen atomic.Int64
	// ~1 KiB events fill the socket buffers (several MB on loopback) sooner.
	pad := strings.Repeat("p", 1000)
	n := 0
	for counterValue(t, e.metrics, "syncd_ws_slow_consumer_closes_total") == 0 {
		if n > 200000 {
			t.Fatal("slow consumer never closed")
		}
		for i := 0; i < chunk; i++ {
			n++
			sp.put(pad+fmt.Sprint(n), "c", tenants.Source{})
		}
		for seen.Load() < int64(n) {
			s, err := fast.readFrame(10 * time.Second)
			if err != nil {
				t.Fatalf("fast subscriber got %d of %d events: %v", seen.Load(), n, err)
			}
			seen.Add(int64(strings.Count(s, "\n") + 1))
		}
	}
	// The slow one now reads: what was in flight, then 4008.
	if code := slow.closeCode(20 * time.Second); code != protocol.CloseSlowConsumer {
		t.Fatalf("slow consumer close %d, want 4008 (after %d events)", code, n)
	}
	// The others keep receiving.
	sp.put("after", "c", tenants.Source{})
	if ev := fast.events(1, 5*time.Second)[0]; ev.Seq != int64(n+1) {
		t.Fatalf("fast subscriber after the close: seq %d", ev.Seq)
	}
	if v := counterValue(t, e.metrics, "syncd_ws_slow_consumer_closes_total"); v != 1 {
		t.Fatalf("slow consumer metric %v", v)
	}
}

func TestRevocationClosesWithin1s(t *testing.T) {
	e := newEnv(t, Options{})
	tok, rec, err := e.auth.IssueTenantToken(context.Background(), "acme", "alice", "read", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := e.subscribe(tok, "c1", nil)
	defer c.close()
	start := time.Now()
	if err := e.auth.RevokeJTI(context.Background(), rec.JTI); err != nil {
		t.Fatal(err)
	}
	if code := c.closeCode(3 * time.Second); code != protocol.CloseTokenRevoked {
		t.Fatalf("close %d, want 4005", code)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("closed after %s", d)
	}
}

func TestTenantDeletionCloses(t *testing.T) {
	e := newEnv(t, Options{})
	c, _ := e.subscribe(e.token("other", "alice", "read"), "c1", nil)
	defer c.close()
	keep, _ := e.subscribe(e.token("acme", "alice", "read"), "c1", nil)
	defer keep.close()
	start := time.Now()
	e.removeTenant("other")
	if code := c.closeCode(3 * time.Second); code != protocol.CloseTokenRevoked {
		t.Fatalf("close %d, want 4005", code)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("closed after %s", d)
	}
	keep.send(map[string]any{"type": "Ping"})
	if m := keep.read(); m["type"] != "Pong" {
		t.Fatal("other tenant's connection affected")
	}
}

func TestExpiryAndRefresh(t *testing.T) {
	e := newEnv(t, Options{})
	t.Run("expiry closes 4004", func(t *testing.T) {
		c, _ := e.subscribe(e.tokenTTL("acme", "alice", "read", 2*time.Second), "c1", nil)
		defer c.close()
		if code := c.closeCode(5 * time.Second); code != protocol.CloseTokenExpired {
			t.Fatalf("close %d, want 4004", code)
		}
	})
	t.Run("refresh extends", func(t *testing.T) {
		c, _ := e.subscribe(e.tokenTTL("acme", "alice", "read", 2*time.Second), "c1", nil)
		defer c.close()
		for _, tc := range []struct{ name, tok, code string }{
			{"other subject", e.token("acme", "bob", "read"), "forbidden"},
			{"other tenant", e.token("other", "alice", "read"), "forbidden"},
			{"not newer", e.tokenTTL("acme", "alice", "read", time.Second), "bad_request"},
			{"garbage", "a.b.c", "unauthenticated"},
			{"ops", e.opsToken(), "unauthenticated"},
		} {
			c.send(map[string]any{"type": "Refresh", "token": tc.tok, "operation_id": tc.name})
			if m := c.read(); m["type"] != "Error" || m["code"] != tc.code || m["operation_id"] != tc.name {
				t.Fatalf("%s: got %v", tc.name, m)
			}
		}
		c.send(map[string]any{"type": "Refresh", "token": e.token("acme", "alice", "read")})
		if m := c.read(); m["type"] != "Ack" || m["operation_id"] != "refresh" {
			t.Fatalf("got %v", m)
		}
		time.Sleep(3 * time.Second)
		c.send(map[string]any{"type": "Ping"})
		if m := c.read(); m["type"] != "Pong" {
			t.Fatalf("after the old exp: %v", m)
		}
	})
}

func TestShutdownCloses1001(t *testing.T) {
	e := newEnv(t, Options{})
	tok := e.token("acme", "alice", "read")
	a, _ := e.subscribe(tok, "c1", nil)
	b := e.dial("") // not yet authenticated
	defer a.close()
	defer b.close()
	waitFor(t, 10*time.Second, "2 connections", func() bool { return len(e.hub.Connections()) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.hub.Shutdown(ctx) }()
	for _, c := range []*client{a, b} {
		if code := c.closeCode(3 * time.Second); code != websocket.CloseGoingAway {
			t.Fatalf("close %d, want 1001", code)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, resp, err := e.dialRaw(http.Header{"Authorization": {"Bearer " + tok}}); err == nil || resp.StatusCode != 503 {
		t.Fatalf("upgrade after shutdown: %v", err)
	}
}

func TestPerTokenCapAndAdmin(t *testing.T) {
	e := newEnv(t, Options{PerToken: 2})
	tok := e.token("acme", "alice", "read")
	a, _ := e.subscribe(tok, "c1", nil)
	defer a.close()
	b := e.dial(tok)
	defer b.close()
	_, resp, err := e.dialRaw(http.Header{"Authorization": {"Bearer " + tok}})
	if err == nil || resp.StatusCode != 429 {
		t.Fatalf("third socket: %v", err)
	}
	// Via the Auth frame: closed with 1008.
	c := e.dial("")
	c.send(map[string]any{"type": "Auth", "token": tok})
	if code := c.closeCode(3 * time.Second); code != websocket.ClosePolicyViolation {
		t.Fatalf("close %d", code)
	}
	// Another token of the same subject has its own cap.
	d := e.dial(e.token("acme", "alice", "read"))
	defer d.close()

	waitFor(t, 10*time.Second, "3 connections", func() bool { return len(e.hub.Connections()) == 3 })
	var sub ConnInfo
	for _, ci := range e.hub.Connections() {
		if ci.ClientID == "c1" {
			sub = ci
		}
	}
	if sub.ID == "" || sub.Tenant != "acme" || sub.Subject != "alice" || sub.RemoteAddr == "" ||
		sub.ConnectedAt.IsZero() || sub.MessagesIn != 1 || sub.MessagesOut != 1 {
		t.Fatalf("conn info %+v", sub)
	}
	if e.hub.Disconnect("nope") {
		t.Fatal("disconnect of an unknown id")
	}
	if !e.hub.Disconnect(sub.ID) {
		t.Fatal("disconnect failed")
	}
	if code := a.closeCode(3 * time.Second); code != websocket.CloseNormalClosure {
		t.Fatalf("close %d", code)
	}
	waitFor(t, 10*time.Second, "slot freed", func() bool { return len(e.hub.Connections()) == 2 })
	f := e.dial(tok) // the slot is free again
	defer f.close()
}

func TestIdleAndPing(t *testing.T) {
	e := newEnv(t, Options{IdleTimeout: 400 * time.Millisecond, PingInterval: 100 * time.Millisecond, PongTimeout: 500 * time.Millisecond})
	tok := e.token("acme", "alice", "read")
	idle := e.dial(tok)
	defer idle.close()
	sub, _ := e.subscribe(tok, "c1", nil)
	defer sub.close()
	if code := idle.closeCode(3 * time.Second); code != websocket.CloseNormalClosure {
		t.Fatalf("idle close %d", code)
	}
	// The subscriber answers pings while reading (gorilla's default handler) and
	// stays open well past the idle and pong timeouts.
	sub.quiet(1500 * time.Millisecond)
	sub.send(map[string]any{"type": "Ping"})
	if m := sub.read(); m["type"] != "Pong" {
		t.Fatalf("got %v", m)
	}
	// A client that stops answering pings is closed after the pong timeout.
	mute := e.dial(tok)
	defer mute.close()
	mute.ws.SetPingHandler(func(string) error { return nil })
	mute.send(map[string]any{"type": "Subscribe", "client_id": "mute"})
	start := time.Now()
	mute.closeCode(5 * time.Second)
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Fatalf("mute client closed after %s", d)
	}
}

// TestQuickPingsAreNotSlowConsumer: with a tiny live send queue, a burst of Pings that
// the client does read is answered in full (replies have room for one inbound burst);
// events still overflow a reader that never reads (4008).
func TestQuickPingsAreNotSlowConsumer(t *testing.T) {
	e := newEnv(t, Options{SendQueue: 4})
	tok := e.token("acme", "alice", "read")
	c := e.dial(tok)
	defer c.close()
	const n = 150
	for range n {
		c.send(map[string]any{"type": "Ping"})
	}
	for i := range n {
		if m := c.read(); m["type"] != "Pong" {
			t.Fatalf("reply %d: %v", i, m)
		}
	}
}

// TestAckOfStoredContentFlushesPath: an Ack of a file Create/Update of stored content
// promises its directory entries are durable (the upload that stored it may have
// failed its directory flushes after its commit): a failing FlushPath is an Error,
// and the Ack comes only after FlushPath of that path.
func TestAckOfStoredContentFlushesPath(t *testing.T) {
	e := newMemEnv(t, Options{})
	sp := e.mem.space("acme")
	sp.put("d/e.txt", hashOf("content e"), tenants.Source{})
	w, _ := e.subscribe(e.token("acme", "alice", "write"), "laptop", nil)
	defer w.close()
	op := func(id, kind string) map[string]any {
		return map[string]any{"type": "FileOperation", "operation_id": id, "operation": map[string]any{
			kind: map[string]any{"metadata": map[string]any{"path": "d/e.txt", "hash": hashOf("content e")}}}}
	}
	sp.setFlush(protocol.Errorf(protocol.CodeInternal, "disk gone"))
	w.send(op("f1", "Create"))
	if m := w.read(); m["type"] != "Error" || m["code"] != "internal" || m["operation_id"] != "f1" {
		t.Fatalf("flush failed: want Error internal, got %v", m)
	}
	sp.setFlush(nil)
	w.send(op("f2", "Update"))
	if m := w.read(); m["type"] != "Ack" || m["operation_id"] != "f2" {
		t.Fatalf("want Ack, got %v", m)
	}
	if flushed := sp.setFlush(nil); len(flushed) != 2 || flushed[0] != "d/e.txt" || flushed[1] != "d/e.txt" {
		t.Fatalf("FlushPath calls %q, want d/e.txt twice", flushed)
	}
}
