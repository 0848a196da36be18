package e2eteams_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// subscribeAck sends Subscribe (with since and epoch when since >= 0) and returns the
// Ack's epoch.
func subscribeAck(t *testing.T, ws *websocket.Conn, since int64, epoch string) string {
	t.Helper()
	sub := map[string]any{"type": "Subscribe", "client_id": "outside-client"}
	if since >= 0 {
		sub["since"], sub["epoch"] = since, epoch
	}
	if err := ws.WriteJSON(sub); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ack struct {
		Type  string `json:"type"`
		Epoch string `json:"epoch"`
	}
	if err := ws.ReadJSON(&ack); err != nil || ack.Type != "Ack" {
		t.Fatalf("ack %+v %v", ack, err)
	}
	return ack.Epoch
}

// TestScopeWebSocketResumeInsideMoveIn: a directory moved into a scoped token's paths
// reaches its subscriber as several Creates sharing the move's seq. A third-party
// client (only /ws, no /api/changes) that read part of that group, lost its
// connection and resumed with since = that seq must still receive the rest of the
// group, before the later events.
func TestScopeWebSocketResumeInsideMoveIn(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	e.put(t, e.full, "proj/b/d/one.txt", "1")
	e.put(t, e.full, "proj/b/d/two.txt", "2")
	ws := e.s.Dial(t, e.scoped)
	epoch := subscribeAck(t, ws, -1, "")
	body, _ := json.Marshal(map[string]string{"from": "proj/b/d", "to": "proj/a/d"})
	if code, b := e.do(t, e.full, "POST", "/api/move", string(body)); code != 200 {
		t.Fatalf("move: %d %s", code, b)
	}
	k, raw := nextEvent(t, ws)
	if k != "Create proj/a/d" {
		t.Fatalf("first event %s", k)
	}
	var first struct {
		Seq int64 `json:"seq"`
	}
	if err := json.Unmarshal(raw, &first); err != nil {
		t.Fatal(err)
	}
	ws.Close() // the connection drops after the group's first event
	e.put(t, e.full, "proj/a/later.txt", "after the move")

	ws2 := e.s.Dial(t, e.scoped)
	subscribeAck(t, ws2, first.Seq, epoch)
	var got []string
	for {
		k, _ := nextEvent(t, ws2)
		got = append(got, k)
		if k == "Create proj/a/later.txt" {
			break
		}
	}
	for _, want := range []string{"Create proj/a/d/one.txt", "Create proj/a/d/two.txt"} {
		if !slices.Contains(got, want) {
			t.Fatalf("resumed at the move's seq %d: got %q, missing %q", first.Seq, got, want)
		}
	}
	// Resuming after the later event gets nothing again of the group.
	ws3 := e.s.Dial(t, e.scoped)
	subscribeAck(t, ws3, first.Seq+1, epoch)
	e.put(t, e.full, "proj/a/last.txt", "x")
	if k, _ := nextEvent(t, ws3); k != "Create proj/a/last.txt" {
		t.Fatalf("after resuming past the group: %s", k)
	}
}

// TestScopeWebSocketResumeAtSingleEvent: resuming with since = the seq of a single
// in-scope event (which the client has) replays nothing of it again.
func TestScopeWebSocketResumeAtSingleEvent(t *testing.T) {
	e := newEnv(t)
	ws := e.s.Dial(t, e.scoped)
	epoch := subscribeAck(t, ws, -1, "")
	e.put(t, e.full, "proj/a/one.txt", "1")
	k, raw := nextEvent(t, ws)
	if k != "Create proj/a/one.txt" {
		t.Fatalf("event %s", k)
	}
	var ev struct {
		Seq int64 `json:"seq"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ws.Close()
	// At the head (then a new event comes live), and behind it (the new event is
	// replayed): either way the first event is the new file.
	for i := range 2 {
		ws2 := e.s.Dial(t, e.scoped)
		subscribeAck(t, ws2, ev.Seq, epoch)
		if i == 0 {
			e.put(t, e.full, "proj/a/two.txt", "2")
		}
		if k, _ := nextEvent(t, ws2); k != "Create proj/a/two.txt" {
			t.Fatalf("resume %d at %d: first event %s, want the new file", i, ev.Seq, k)
		}
		ws2.Close()
	}
}
