package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/transport/servertest"
)

// TestLostIndexCloses1012: when the index stops answering, /readyz answers 503, open
// WebSockets are closed with 1012 and new ones are refused with 503.
func TestLostIndexCloses1012(t *testing.T) {
	st := servertest.Open(t, servertest.Options{})
	st.Tenant(t, "t1", tenants.Options{})
	tok := st.Token(t, "t1", "alice", "read", time.Hour)
	srv, err := New(context.Background(), Deps{Tenants: st.Registry, Auth: st.Auth, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Main())
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.WatchReady(ctx, 20*time.Millisecond)
	defer srv.Shutdown(context.Background())

	readyz := func() int {
		resp, err := http.Get(ts.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := readyz(); code != 200 {
		t.Fatalf("readyz %d before the loss", code)
	}
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	ws, _, err := servertest.Dial(servertest.WSURL(ts.URL, "/ws"), hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	st.DB.Close() // the index's database goes away
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.CloseServiceRestart {
				t.Fatalf("closed with %d, want 1012", ce.Code)
			}
			break
		}
		if err != nil {
			t.Fatalf("read: %v (want a close frame 1012)", err)
		}
	}
	if code := readyz(); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d after the loss, want 503", code)
	}
	if _, resp, err := servertest.Dial(servertest.WSURL(ts.URL, "/ws"), hdr); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade while unready: %v %v, want 503", resp, err)
	}
}
