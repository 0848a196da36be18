//go:build !windows

package clustertest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/config/servicetest"
)

// TestShareLinkDiesWithItsCreatorOnEveryNode: a link made on one node by a token
// revoked later (here with its subject, by syncctl on the cluster's database) answers
// 404 on every node at once: each use reads the creator's token record in PostgreSQL.
func TestShareLinkDiesWithItsCreatorOnEveryNode(t *testing.T) {
	needServices(t)
	c := startCluster(t, "postgres")
	name := "t" + servicetest.Name(t)
	writer, _ := c.tenant(t, name)
	do := func(node int, method, path, token, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+c.nodes[node].addr+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := do(0, "PUT", "/api/files/report.txt", writer, "shared"); code != 201 {
		t.Fatalf("PUT: %d %s", code, b)
	}
	code, b := do(0, "POST", "/api/shares", writer, `{"path":"report.txt","expires_in":"1h"}`)
	var l struct{ ID string }
	if err := json.Unmarshal(b, &l); code != 201 || err != nil {
		t.Fatalf("POST /api/shares: %d %s", code, b)
	}
	for i := range c.nodes {
		if code, b := do(i, "GET", "/s/"+l.ID, "", ""); code != 200 || string(b) != "shared" {
			t.Fatalf("node %d before the revocation: %d %q", i, code, b)
		}
	}
	c.ctl(t, "token", "revoke", "--tenant", name, "--subject", "w")
	for i := range c.nodes {
		if code, _ := do(i, "GET", "/s/"+l.ID, "", ""); code != 404 {
			t.Fatalf("node %d after its creator's revocation: %d, want 404", i, code)
		}
	}
}
