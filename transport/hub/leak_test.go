package hub

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestNoGoroutineLeak runs 1,000 connect/disconnect cycles (Auth frame and header,
// subscribed or not, client close and server close) and checks that every goroutine
// the hub started has ended and every tenant hub is gone once idle.
func TestNoGoroutineLeak(t *testing.T) {
	verifyNoLeaks(t) // first: its check runs after the env's cleanup
	e := newEnv(t, Options{})
	tok := e.token("acme", "alice", "read")
	for i := 0; i < 1000; i++ {
		var c *client
		if i%3 == 0 {
			c = e.dial("")
			c.send(map[string]any{"type": "Auth", "token": tok})
		} else {
			c = e.dial(tok)
		}
		switch i % 4 {
		case 0:
			c.close()
		case 1:
			c.send(map[string]any{"type": "Subscribe", "client_id": fmt.Sprint("c", i)})
			c.read()
			c.close()
		case 2:
			c.send(map[string]any{"type": "Subscribe", "client_id": "c", "since": 0})
			c.read()
			_ = c.ws.WriteMessage(8, nil) // close frame, then wait for the answer
			c.closeCode(5 * time.Second)
			c.close()
		case 3:
			c.send(map[string]any{"type": "Ping"})
			c.read()
			waitFor(t, 10*time.Second, "registered", func() bool { return len(e.hub.Connections()) > 0 })
			for _, ci := range e.hub.Connections() {
				e.hub.Disconnect(ci.ID)
			}
			c.closeCode(5 * time.Second)
			c.close()
		}
	}
	waitFor(t, 10*time.Second, "all connections gone", func() bool { return len(e.hub.Connections()) == 0 })
	waitFor(t, 5*time.Second, "tenant hubs gone", func() bool {
		e.hub.mu.RLock()
		defer e.hub.mu.RUnlock()
		return len(e.hub.tenants) == 0 && len(e.hub.perToken) == 0
	})
	http.DefaultClient.CloseIdleConnections()
}
