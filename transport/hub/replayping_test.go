package hub

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// TestLongReplayKeepsPinging: a replay paced to a slow reader may take longer than
// the pong timeout; the hub keeps pinging meanwhile, so a reader that answers pings
// (gorilla does while it reads) is not closed with 1008 "no pong" half-way through
// its replay, and gets every event, then live ones.
func TestLongReplayKeepsPinging(t *testing.T) {
	e := newMemEnv(t, Options{PingInterval: 200 * time.Millisecond, PongTimeout: time.Second})
	sp := e.space("acme")
	const n = 300
	for i := 1; i <= n; i++ {
		sp.put(fmt.Sprintf("%s%06d", eventPad, i), "c", tenants.Source{})
	}
	epoch, _ := sp.Head()
	tok := e.token("acme", "alice", "read")
	// A reader with a 64 KiB socket buffer taking ~4 KB events at about 100 a second:
	// the replay takes about 3 s, three pong timeouts, and each socket write of it
	// waits for the reader.
	ws, _, err := smallBufferDialer(64<<10).Dial(e.wsURL, http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteJSON(map[string]any{"type": "Subscribe", "client_id": "slow", "since": 0, "epoch": epoch}); err != nil {
		t.Fatal(err)
	}
	var ack map[string]any
	if err := ws.ReadJSON(&ack); err != nil || ack["type"] != "Ack" {
		t.Fatalf("Ack: %v %v", ack, err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for want := int64(1); want <= n+1; want++ {
		if want == n+1 {
			sp.put("live", "c", tenants.Source{})
		}
		var ev protocol.Event
		if err := ws.ReadJSON(&ev); err != nil {
			t.Fatalf("event %d of %d: %v", want, n+1, err)
		}
		if ev.Seq != want {
			t.Fatalf("seq %d, want %d", ev.Seq, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
