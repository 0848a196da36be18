//go:build !windows

package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

// TestNodeIDShown: cluster.node_id is shown where SPEC §7.1 and CONFIG.md say, in
// logs (attribute node), metrics (syncd_node_info{node_id}) and GET
// /admin/connections (node_id of each connection). Before session 25 it named only
// the node's upload reservations.
func TestNodeIDShown(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek")
	if err := auth.WriteKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "c.json")
	b, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:0", "data_dir": filepath.Join(dir, "data"),
		"auth":    map[string]any{"kek_file": kek},
		"cluster": map[string]any{"postgres": pgtest.Postgres(t), "blobs": "dir:" + filepath.Join(dir, "blobs"), "node_id": "node-seven"}})
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	d, err := start(ctx, []string{"-config", cfg}, io.Discard, logs, envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	if _, err := d.Registry().Create(ctx, "team", tenantsOptions()); err != nil {
		t.Fatal(err)
	}
	tok, _, err := d.Auth().IssueTenantToken(ctx, "team", "alice", "read", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ops, _, err := d.Auth().IssueOpsToken(ctx, "op", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+d.Addr()+"/ws", http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatalf("dial: %v %v", resp, err)
	}
	defer ws.Close()

	req, _ := http.NewRequest(http.MethodGet, "http://"+d.Addr()+"/admin/connections", nil)
	req.Header.Set("Authorization", "Bearer "+ops)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var conns struct {
		Connections []map[string]any `json:"connections"`
	}
	err = json.NewDecoder(r.Body).Decode(&conns)
	r.Body.Close()
	if err != nil || len(conns.Connections) != 1 || conns.Connections[0]["node_id"] != "node-seven" {
		t.Errorf("/admin/connections: %+v, %v; want one connection with node_id node-seven", conns.Connections, err)
	}
	if v := metric(t, d, ops, `syncd_node_info{node_id="node-seven"}`); v != "1" {
		t.Errorf("syncd_node_info = %q", v)
	}
	// Last on the line: log readers find the address right after the message.
	if !regexp.MustCompile(`msg="syncd listening" addr=\S+ .*node=node-seven\n`).MatchString(logs.String()) {
		t.Errorf("no line msg=\"syncd listening\" addr=… node=node-seven in the log:\n%s", logs.String())
	}
}
