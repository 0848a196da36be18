package clusterimport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/internal/node"
	"github.com/syncspace/syncspace/cmd/syncctl/ctl"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// call sends an API request with tok and returns the status and body.
func call(t *testing.T, method, url, tok string, body io.Reader) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if method == http.MethodPost {
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

func must(t *testing.T, want int, method, url, tok string, body io.Reader) []byte {
	t.Helper()
	code, b := call(t, method, url, tok, body)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, code, b, want)
	}
	return b
}

// TestImport: a single-node syncd's data dir (two tenants, files, an overwrite, a
// delete, 300 changes, a token, a device, a share link) imported into PostgreSQL and
// dir: blobs; a cluster node then accepts the old token, refreshes the device
// credential, serves the share link, continues the change log from the old epoch
// without resync, and serves the same content, versions and version content. A second
// import skips what is there; a tenant name held by another tenant is refused.
func TestImport(t *testing.T) {
	src := syncdtest.Start(t, syncdtest.Options{})
	src.Tenant(t, "alpha", tenants.Options{})
	src.Tenant(t, "beta", tenants.Options{})
	tok := src.Token(t, "alpha", "ann", "write")
	tokB := src.Token(t, "beta", "bob", "write")
	f := src.URL + "/api/files/"
	must(t, http.StatusCreated, "PUT", f+"docs/a.txt", tok, strings.NewReader("first"))
	must(t, http.StatusOK, "PUT", f+"docs/a.txt", tok, strings.NewReader("second"))
	must(t, http.StatusCreated, "PUT", f+"gone.txt", tok, strings.NewReader("bye"))
	must(t, http.StatusOK, "DELETE", f+"gone.txt", tok, nil)
	for i := 0; i < 296; i++ {
		must(t, http.StatusCreated, "PUT", fmt.Sprintf("%sn/%03d", f, i), tok, strings.NewReader(fmt.Sprint(i)))
	}
	must(t, http.StatusCreated, "PUT", f+"b.txt", tokB, strings.NewReader("beta"))
	var link struct{ ID string }
	json.Unmarshal(must(t, http.StatusCreated, "POST", src.URL+"/api/shares", tok, strings.NewReader(`{"path":"docs/a.txt","expires_in":"72h"}`)), &link)
	var before protocol.ChangesPage
	json.Unmarshal(must(t, 200, "GET", src.URL+"/api/changes?since=0&limit=1000", tok, nil), &before)
	if before.Seq < 300 {
		t.Fatalf("head %d, want >= 300", before.Seq)
	}
	if err := src.Stop(); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	devFile := filepath.Join(dir, "laptop.json")
	var out, errb bytes.Buffer
	if code := ctl.Run(context.Background(), []string{"--data", src.DataDir, "token", "issue", "--tenant", "alpha", "--subject", "ann",
		"--role", "write", "--device", "laptop", "--out", devFile}, &out, &errb); code != 0 {
		t.Fatalf("device: %s", errb.String())
	}
	duplicateDevice(t, src.DataDir, "laptop")
	url := pgtest.Postgres(t)
	kek := filepath.Join(dir, "kek")
	if err := auth.WriteKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	clusterCfg := map[string]any{"auth": map[string]any{"kek_file": kek},
		"cluster": map[string]any{"postgres": url, "blobs": "dir:" + filepath.Join(dir, "blobs")}}
	cfgFile := filepath.Join(dir, "cluster.json")
	b, _ := json.Marshal(map[string]any{"data_dir": filepath.Join(dir, "unused"), "auth": clusterCfg["auth"], "cluster": clusterCfg["cluster"]})
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	syncctl := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := ctl.Run(context.Background(), args, &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := syncctl("cluster", "import", "--data", src.DataDir, "--config", cfgFile); code != 0 || !strings.Contains(out, "left out device dup-laptop") {
		t.Fatalf("import: %d %s", code, out)
	}
	if code, out := syncctl("cluster", "import", "--data", src.DataDir, "--config", cfgFile); code != 0 || !strings.Contains(out, "imported 0 tenants (2 already there)") {
		t.Fatalf("second import: %d %s", code, out)
	}

	node := syncdtest.Start(t, syncdtest.Options{Config: clusterCfg})
	checkNode(t, node.URL, tok, tokB, before)
	var dev struct {
		RefreshToken string `json:"refresh_token"`
	}
	raw, _ := os.ReadFile(devFile)
	if err := json.Unmarshal(raw, &dev); err != nil || dev.RefreshToken == "" {
		t.Fatalf("device file: %v %s", err, raw)
	}
	body, _ := json.Marshal(map[string]string{"grant_type": "refresh_token", "refresh_token": dev.RefreshToken})
	must(t, 200, "POST", node.URL+"/api/token", "", bytes.NewReader(body))
	if got := must(t, 200, "GET", node.URL+"/s/"+link.ID, "", nil); string(got) != "second" {
		t.Fatalf("share link = %q", got)
	}

	// Another tenant called alpha: refused, nothing written.
	if code, out := syncctl("tenant", "delete", "alpha", "--force", "--config", cfgFile); code != 0 {
		t.Fatalf("delete: %s", out)
	}
	if code, out := syncctl("tenant", "create", "alpha", "--config", cfgFile); code != 0 {
		t.Fatalf("create: %s", out)
	}
	if code, out := syncctl("cluster", "import", "--data", src.DataDir, "--config", cfgFile); code != 1 || !strings.Contains(out, "already holds a tenant named alpha") {
		t.Fatalf("clashing import: %d %s", code, out)
	}
}

func checkNode(t *testing.T, base, tok, tokB string, before protocol.ChangesPage) {
	f := base + "/api/files/"
	if got := must(t, 200, "GET", f+"docs/a.txt", tok, nil); string(got) != "second" {
		t.Fatalf("a.txt = %q", got)
	}
	if got := must(t, 200, "GET", f+"b.txt", tokB, nil); string(got) != "beta" {
		t.Fatalf("b.txt = %q", got)
	}
	if got := must(t, 200, "GET", f+"n/123", tok, nil); string(got) != "123" {
		t.Fatalf("n/123 = %q", got)
	}
	must(t, http.StatusNotFound, "GET", f+"gone.txt", tok, nil)
	var page protocol.ChangesPage
	json.Unmarshal(must(t, 200, "GET", fmt.Sprintf("%s/api/changes?since=%d&epoch=%s", base, before.Seq-10, before.Epoch), tok, nil), &page)
	if page.Epoch != before.Epoch || page.Seq != before.Seq || len(page.Events) != 10 || page.Events[9].Seq != before.Seq {
		t.Fatalf("changes after import: epoch %s seq %d, %d events; before: epoch %s seq %d", page.Epoch, page.Seq, len(page.Events), before.Epoch, before.Seq)
	}
	var vs struct{ Versions []protocol.Version }
	json.Unmarshal(must(t, 200, "GET", base+"/api/versions?path=docs/a.txt", tok, nil), &vs)
	if len(vs.Versions) != 1 || vs.Versions[0].Size != int64(len("first")) {
		t.Fatalf("versions: %+v", vs.Versions)
	}
	body, _ := json.Marshal(map[string]string{"path": "docs/a.txt", "version": vs.Versions[0].ID, "to": "old.txt"})
	must(t, 200, "POST", base+"/api/restore", tok, bytes.NewReader(body))
	if got := must(t, 200, "GET", f+"old.txt", tok, nil); string(got) != "first" {
		t.Fatalf("restored version = %q", got)
	}
	// New writes continue the log.
	must(t, http.StatusCreated, "PUT", f+"after.txt", tok, strings.NewReader("x"))
	json.Unmarshal(must(t, 200, "GET", fmt.Sprintf("%s/api/changes?since=%d&epoch=%s", base, before.Seq, before.Epoch), tok, nil), &page)
	if page.Epoch != before.Epoch || len(page.Events) != 2 || page.Events[0].Seq != before.Seq+1 {
		t.Fatalf("changes after a new write: %+v", page)
	}
}

// duplicateDevice adds to the data dir a second live device of the name, enrolled a
// nanosecond after the first with its own secret: what a data dir holds when racing
// enrolments both got through before the name check was atomic.
func duplicateDevice(t *testing.T, dataDir, name string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, node.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`INSERT INTO auth_devices (id, name, tenant, tid, subject, role, thumbprint, created_at, expires_at, last_used_at, last_address, revoked_at)
			SELECT 'dup-' || name, name, tenant, tid, subject, role, thumbprint, created_at + 1, expires_at, last_used_at, last_address, revoked_at
			FROM auth_devices WHERE name = ?`,
		`INSERT INTO auth_refresh (hash, device_id, issued_at) SELECT 'dup-hash', id, created_at FROM auth_devices WHERE id = 'dup-' || ?`,
	} {
		if res, err := db.ExecContext(ctx, q, name); err != nil {
			t.Fatal(err)
		} else if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%d rows for %s", n, q)
		}
	}
}
