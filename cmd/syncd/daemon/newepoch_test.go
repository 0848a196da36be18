package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/cmd/internal/node"
)

// TestClusterNewEpochLive: a new epoch started on the database (syncctl cluster
// new-epoch, after a restore) reaches a running node within a couple of seconds: its
// subscribers are closed with 1012, a resume with the old epoch is told to
// resynchronise, and new changes continue from the same head in the new epoch.
func TestClusterNewEpochLive(t *testing.T) {
	d := startCluster(t, 1, "postgres")[0]
	ctx := context.Background()
	if _, err := d.Registry().Create(ctx, "team", tenantsOptions()); err != nil {
		t.Fatal(err)
	}
	writer, _, err := d.Auth().IssueTenantToken(ctx, "team", "w", "write", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, "http://"+d.Addr()+"/api/files/"+name, strings.NewReader(name))
		req.Header.Set("Authorization", "Bearer "+writer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT %s: %d", name, resp.StatusCode)
		}
	}
	for i := 1; i <= 3; i++ {
		put(fmt.Sprintf("f%d", i))
	}
	subscribe := func(since int64, epoch string) (*websocket.Conn, map[string]any) {
		t.Helper()
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+d.Addr()+"/ws", http.Header{"Authorization": {"Bearer " + writer}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		sub := map[string]any{"type": "Subscribe", "client_id": "c"}
		if epoch != "" {
			sub["since"], sub["epoch"] = since, epoch
		}
		if err := ws.WriteJSON(sub); err != nil {
			t.Fatal(err)
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		var ack map[string]any
		if err := ws.ReadJSON(&ack); err != nil {
			t.Fatal(err)
		}
		return ws, ack
	}
	ws, ack := subscribe(0, "")
	old, _ := ack["epoch"].(string)
	if ack["type"] != "Ack" || old == "" {
		t.Fatalf("ack %v", ack)
	}
	if n, err := node.NewEpochs(ctx, d.Config().Cluster.Postgres); err != nil || n != 1 {
		t.Fatalf("NewEpochs: %d %v", n, err)
	}
	start := time.Now()
	for {
		var m map[string]any
		err := ws.ReadJSON(&m)
		if err == nil {
			continue // the live feed of seqs 1..3
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 1012 {
			t.Fatalf("after the new epoch: %v, want close 1012", err)
		}
		break
	}
	t.Logf("subscriber closed %v after the new epoch", time.Since(start).Round(time.Millisecond))
	ws2, first := subscribe(3, old)
	if first["type"] == "Ack" {
		ws2.ReadJSON(&first)
	}
	if first["type"] != "ResyncRequired" {
		t.Fatalf("resume with the old epoch: %v, want ResyncRequired", first)
	}
	put("f4")
	_, ack = subscribe(3, "")
	if e, _ := ack["epoch"].(string); e == old || e == "" {
		t.Fatalf("epoch %q after the new epoch, was %q", e, old)
	}
	ws3, _ := subscribe(3, ack["epoch"].(string))
	var ev map[string]any
	if err := ws3.ReadJSON(&ev); err != nil || ev["type"] != "FileOperation" || ev["seq"] != float64(4) {
		t.Fatalf("resume in the new epoch: %v %v, want seq 4", ev, err)
	}
}
