package daemon

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestClusterClosesSocketsEverywhere: SPEC §7.1, tenant deletion and key retirement
// on one node close the affected WebSockets on every node within 1 s (close 4005).
func TestClusterClosesSocketsEverywhere(t *testing.T) {
	for _, c := range []struct {
		name string
		do   func(t *testing.T, a *Daemon, kid string)
	}{
		{"tenant deleted", func(t *testing.T, a *Daemon, _ string) {
			if err := a.Registry().Delete(context.Background(), "team"); err != nil {
				t.Fatal(err)
			}
		}},
		{"key retired", func(t *testing.T, a *Daemon, kid string) {
			ctx := context.Background()
			if _, err := a.Auth().RotateKey(ctx); err != nil {
				t.Fatal(err)
			}
			if err := a.Auth().RetireKey(ctx, kid); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			nodes := startCluster(t, 2, "postgres")
			a, b := nodes[0], nodes[1]
			_, reader := teamTokens(t, a)
			keys, err := a.Auth().ListKeys(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			kid := ""
			for _, k := range keys {
				if k.Signing {
					kid = k.KID
				}
			}
			ws := subscribed(t, b, reader, "c1", 15*time.Second)
			c.do(t, a, kid)
			start := time.Now()
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				_, _, err := ws.ReadMessage()
				if err == nil {
					continue
				}
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != 4005 {
					t.Fatalf("on B after %s on A: %v, want close 4005", c.name, err)
				}
				break
			}
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("B closed the socket %v after %s on A, want about a second at most", d, c.name)
			}
		})
	}
}
