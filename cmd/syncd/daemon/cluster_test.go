package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/config/servicetest"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

// startCluster starts n syncd nodes on one PostgreSQL database, bus and blob dir.
func startCluster(t *testing.T, n int, bus string) []*Daemon {
	t.Helper()
	url := pgtest.Postgres(t)
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek")
	if err := auth.WriteKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	var nodes []*Daemon
	for i := 0; i < n; i++ {
		cfg := filepath.Join(dir, fmt.Sprintf("c%d.json", i))
		b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": filepath.Join(dir, fmt.Sprintf("data%d", i)),
			"auth": map[string]any{"kek_file": kek},
			"cluster": map[string]any{"postgres": url, "bus": bus, "blobs": "dir:" + filepath.Join(dir, "blobs"),
				"node_id": fmt.Sprintf("n%d", i)}})
		if err := os.WriteFile(cfg, b, 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := start(context.Background(), []string{"-config", cfg}, io.Discard, io.Discard, envFunc(nil))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Shutdown(context.Background()) })
		nodes = append(nodes, d)
	}
	return nodes
}

// TestClusterThreeNodes: three syncd nodes on PostgreSQL, Redis and dir: blobs.
// Uploads through A's HTTP API reach a subscriber on B, every seq once and in order;
// the content downloads from C; revoking the subscriber's token on A closes its
// socket on B within about a second.
func TestClusterThreeNodes(t *testing.T) {
	nodes := startCluster(t, 3, servicetest.Redis(t))
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := context.Background()
	if _, err := a.Registry().Create(ctx, "team", tenantsOptions()); err != nil {
		t.Fatal(err)
	}
	writer, _, err := a.Auth().IssueTenantToken(ctx, "team", "w", "write", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	reader, rec, err := a.Auth().IssueTenantToken(ctx, "team", "r", "read", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// the tenant and the key reach B within a second (15 s: room for a loaded machine)
	ws := subscribed(t, b, reader, "c1", 15*time.Second)
	const n = 30
	for i := 0; i < n; i++ {
		req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/api/files/f%02d.txt", a.Addr(), i), strings.NewReader(fmt.Sprint(i)))
		req.Header.Set("Authorization", "Bearer "+writer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("PUT on A: %d", resp.StatusCode)
		}
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for want := int64(1); want <= n; want++ {
		var ev struct {
			Type string `json:"type"`
			Seq  int64  `json:"seq"`
		}
		if err := ws.ReadJSON(&ev); err != nil {
			t.Fatalf("waiting for seq %d on B: %v", want, err)
		}
		if ev.Type != "FileOperation" || ev.Seq != want {
			t.Fatalf("B got %s seq %d, want FileOperation seq %d", ev.Type, ev.Seq, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+c.Addr()+"/api/files/f07.txt", nil)
	req.Header.Set("Authorization", "Bearer "+reader)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "7" {
		t.Fatalf("download from C: %d %q", resp.StatusCode, body)
	}

	if err := a.Auth().RevokeJTI(ctx, rec.JTI); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4005 {
			t.Fatalf("after the revocation on A: %v, want close 4005", err)
		}
		break
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("revocation closed the socket on B after %v, want about a second at most", d)
	}
}

// teamTokens creates the tenant "team" on node a and returns a write token and a read
// token of it.
func teamTokens(t *testing.T, a *Daemon) (writer, reader string) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.Registry().Create(ctx, "team", tenantsOptions()); err != nil {
		t.Fatal(err)
	}
	writer, _, err := a.Auth().IssueTenantToken(ctx, "team", "w", "write", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	reader, _, err = a.Auth().IssueTenantToken(ctx, "team", "r", "read", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return writer, reader
}
