package e2eteams_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/cmd/internal/testbin"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/tenants"
)

// env is a real syncd with tenant acme, a full write token and a token scoped to
// proj/a.
type env struct {
	s      *syncdtest.Server
	full   string
	scoped string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s := syncdtest.Start(t, syncdtest.Options{})
	s.Tenant(t, "acme", tenants.Options{})
	e := &env{s: s, full: s.Token(t, "acme", "owner", auth.RoleWrite)}
	tok, _, err := s.D.Auth().IssueTenant(context.Background(), auth.TenantTokenRequest{
		Tenant: "acme", Subject: "contractor", Role: auth.RoleWrite, TTL: time.Hour, Paths: []string{"proj/a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.scoped = tok
	return e
}

func (e *env) do(t *testing.T, token, method, path string, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
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

func (e *env) put(t *testing.T, token, p, content string) {
	t.Helper()
	if code, b := e.do(t, token, "PUT", "/api/files/"+p, content); code != 201 && code != 200 {
		t.Fatalf("PUT %s: %d %s", p, code, b)
	}
}

func (e *env) seed(t *testing.T) {
	for _, p := range []string{"proj/a/x.txt", "proj/a/sub/deep.txt", "proj/b/y.txt", "project/z.txt", "proj.bak/w.txt", "secret.txt"} {
		e.put(t, e.full, p, "content of "+p)
	}
}

// TestScopeRoutes probes every /api route with a token scoped to proj/a: inside it
// works, outside everything is 404 (a move to outside 403), listings show the
// ancestors, archives and changes only what is inside.
func TestScopeRoutes(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	// Versions and deleted entries on both sides.
	e.put(t, e.full, "proj/a/x.txt", "second")
	e.put(t, e.full, "secret.txt", "second")
	e.do(t, e.full, "DELETE", "/api/files/proj/b/y.txt", "")
	e.put(t, e.full, "proj/a/gone.txt", "bye")
	e.do(t, e.full, "DELETE", "/api/files/proj/a/gone.txt", "")

	cases := []struct {
		name, method, path, body string
		want                     int
	}{
		{"download inside", "GET", "/api/files/proj/a/x.txt", "", 200},
		{"list inside", "GET", "/api/list?path=proj/a", "", 200},
		{"list ancestor", "GET", "/api/list?path=proj", "", 200},
		{"versions inside", "GET", "/api/versions?path=proj/a/x.txt", "", 200},
		{"upload inside", "PUT", "/api/files/proj/a/new.txt", "new", 201},
		{"mkdir inside", "POST", "/api/mkdir", `{"path":"proj/a/d"}`, 201},
		{"move inside", "POST", "/api/move", `{"from":"proj/a/new.txt","to":"proj/a/d/new.txt"}`, 200},
		// attacks
		{"download outside", "GET", "/api/files/secret.txt", "", 404},
		{"download sibling", "GET", "/api/files/proj/b/y.txt", "", 404},
		{"prefix trick project", "GET", "/api/files/project/z.txt", "", 404},
		{"prefix trick proj.bak", "GET", "/api/files/proj.bak/w.txt", "", 404},
		{"head outside", "HEAD", "/api/files/secret.txt", "", 404},
		{"case folding outside", "GET", "/api/files/PROJ/B/y.txt", "", 404},
		{"dotdot", "GET", "/api/files/proj/a/%2E%2E/b/y.txt", "", 400},
		{"encoded slash dotdot", "GET", "/api/files/proj%2Fa%2F..%2Fb%2Fy.txt", "", 400},
		{"list outside", "GET", "/api/list?path=proj/b", "", 404},
		{"list prefix trick", "GET", "/api/list?path=project", "", 404},
		{"archive outside", "GET", "/api/archive?path=project", "", 404},
		{"versions outside", "GET", "/api/versions?path=secret.txt", "", 404},
		{"deleted outside", "GET", "/api/deleted?path=proj/b", "", 404},
		{"upload outside", "PUT", "/api/files/proj/b/evil.txt", "x", 404},
		{"upload NFD prefix trick", "PUT", "/api/files/proje\u0301/evil.txt", "x", 404},
		{"delete outside", "DELETE", "/api/files/secret.txt", "", 404},
		{"delete ancestor", "DELETE", "/api/files/proj?recursive=true", "", 404},
		{"mkdir outside", "POST", "/api/mkdir", `{"path":"proj/b/d"}`, 404},
		{"mkdir ancestor", "POST", "/api/mkdir", `{"path":"proj"}`, 404},
		{"move from outside", "POST", "/api/move", `{"from":"secret.txt","to":"proj/a/s.txt"}`, 404},
		{"move to outside", "POST", "/api/move", `{"from":"proj/a/x.txt","to":"proj/b/x.txt"}`, 403},
		{"move to prefix trick", "POST", "/api/move", `{"from":"proj/a/x.txt","to":"proj/ab"}`, 403},
		{"restore outside", "POST", "/api/restore", `{"path":"secret.txt","version":"1"}`, 404},
		{"restore to outside", "POST", "/api/restore", `{"path":"proj/a/x.txt","version":"1","to":"leak.txt"}`, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, b := e.do(t, e.scoped, c.method, c.path, c.body)
			if code != c.want {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, code, b, c.want)
			}
		})
	}
	for _, p := range []string{"secret.txt", "project/z.txt", "proj.bak/w.txt", "proj/a/x.txt"} {
		if code, _ := e.do(t, e.full, "GET", "/api/files/"+p, ""); code != 200 {
			t.Fatalf("%s changed by the attacks: %d", p, code)
		}
	}
	t.Run("listing", func(t *testing.T) { checkListing(t, e) })
	t.Run("deleted", func(t *testing.T) {
		_, b := e.do(t, e.scoped, "GET", "/api/deleted?path=", "")
		if !strings.Contains(string(b), "proj/a/gone.txt") || strings.Contains(string(b), "proj/b") {
			t.Fatalf("deleted: %s", b)
		}
	})
	t.Run("archive", func(t *testing.T) { checkArchive(t, e) })
	t.Run("changes", func(t *testing.T) { checkChanges(t, e) })
}

func checkListing(t *testing.T, e *env) {
	code, b := e.do(t, e.scoped, "GET", "/api/list?recursive=true", "")
	if code != 200 {
		t.Fatalf("list: %d %s", code, b)
	}
	var l struct {
		Entries []struct{ Path string } `json:"entries"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range l.Entries {
		got = append(got, en.Path)
	}
	slices.Sort(got)
	want := []string{"proj", "proj/a", "proj/a/d", "proj/a/d/new.txt", "proj/a/sub", "proj/a/sub/deep.txt", "proj/a/x.txt"}
	if !slices.Equal(got, want) {
		t.Fatalf("list = %q, want %q", got, want)
	}
}

func checkArchive(t *testing.T, e *env) {
	code, b := e.do(t, e.scoped, "GET", "/api/archive", "")
	if code != 200 {
		t.Fatalf("archive: %d", code)
	}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, "proj/a/") {
			t.Fatalf("archive holds %s", h.Name)
		}
	}
}

func checkChanges(t *testing.T, e *env) {
	_, b := e.do(t, e.scoped, "GET", "/api/changes?since=0", "")
	var page struct {
		Seq    int64 `json:"seq"`
		Events []json.RawMessage
	}
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	_, full := e.do(t, e.full, "GET", "/api/changes?since=0", "")
	var fp struct{ Seq int64 }
	json.Unmarshal(full, &fp)
	if page.Seq != fp.Seq {
		t.Fatalf("scoped seq %d, full %d: seq must be the last examined", page.Seq, fp.Seq)
	}
	for _, ev := range page.Events {
		for _, p := range eventPaths(t, ev) {
			if !strings.HasPrefix(p, "proj/a/") {
				t.Fatalf("changes show %s: %s", p, ev)
			}
		}
	}
}

// eventPaths returns every path an event frame names.
func eventPaths(t *testing.T, raw []byte) []string {
	t.Helper()
	var ev struct {
		Operation map[string]struct {
			From     string `json:"from"`
			Metadata struct {
				Path string `json:"path"`
			} `json:"metadata"`
		} `json:"operation"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, op := range ev.Operation {
		out = append(out, op.Metadata.Path)
		if op.From != "" {
			out = append(out, op.From)
		}
	}
	return out
}

// frame reads the next frame that is a FileOperation event, as "Kind path".
func nextEvent(t *testing.T, ws *websocket.Conn) (string, []byte) {
	t.Helper()
	for {
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m struct {
			Type      string `json:"type"`
			Operation map[string]struct {
				Metadata struct {
					Path string `json:"path"`
				} `json:"metadata"`
			} `json:"operation"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type != "FileOperation" {
			continue
		}
		for k, op := range m.Operation {
			return k + " " + op.Metadata.Path, b
		}
	}
}

// TestScopeWebSocket: a subscriber with the scoped token gets the events inside only,
// live and in replay; moves in and out appear as Create and Delete, a directory moved
// in with its content.
func TestScopeWebSocket(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	ws := e.s.Dial(t, e.scoped)
	if err := ws.WriteJSON(map[string]any{"type": "Subscribe", "client_id": "scoped", "since": 0}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 { // replay: the two files under proj/a
		k, _ := nextEvent(t, ws)
		got = append(got, k)
	}
	if !slices.Equal(got, []string{"Create proj/a/x.txt", "Create proj/a/sub/deep.txt"}) {
		t.Fatalf("replay = %q", got)
	}
	move := func(from, to string) {
		body, _ := json.Marshal(map[string]string{"from": from, "to": to})
		if code, b := e.do(t, e.full, "POST", "/api/move", string(body)); code != 200 {
			t.Fatalf("move %s %s: %d %s", from, to, code, b)
		}
	}
	e.put(t, e.full, "secret.txt", "outside, not seen")
	e.put(t, e.full, "project/z.txt", "prefix trick, not seen")
	move("proj/b/y.txt", "proj/a/y.txt")      // file in
	move("proj/a/x.txt", "elsewhere.txt")     // file out
	e.put(t, e.full, "proj/b/d/one.txt", "1") // outside
	e.put(t, e.full, "proj/b/d/two.txt", "2")
	move("proj/b/d", "proj/a/d") // directory in, with content
	e.put(t, e.full, "proj/a/last.txt", "live again")
	want := []string{
		"Create proj/a/y.txt",
		"Delete proj/a/x.txt",
		"Create proj/a/d",
		"Create proj/a/d/one.txt",
		"Create proj/a/d/two.txt",
		"Create proj/a/last.txt",
	}
	got = nil
	for range want {
		k, raw := nextEvent(t, ws)
		got = append(got, k)
		for _, p := range eventPaths(t, raw) {
			if !strings.HasPrefix(p, "proj/a/") {
				t.Fatalf("event outside the scope: %s", raw)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("live = %q\nwant %q", got, want)
	}
	// Nothing else arrives, in particular nothing of the outside writes.
	e.put(t, e.full, "outside-again.txt", "x")
	ws.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, b, err := ws.ReadMessage(); err == nil {
		t.Fatalf("unexpected frame %s", b)
	}
}

// TestScopedClient: the real client with a scoped token syncs exactly its subtree,
// and what it uploads lands inside it.
func TestScopedClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the client")
	}
	e := newEnv(t)
	e.seed(t)
	bin := testbin.Path(t, testbin.Client)
	dir := t.TempDir()
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(e.scoped+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "--server", e.s.URL, "--local-path", dir, "--token-file", tokFile, "--once").CombinedOutput()
		if err != nil {
			t.Fatalf("client: %v\n%s", err, out)
		}
	}
	run()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Name() == ".syncspace" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(files)
	if !slices.Equal(files, []string{"proj/a/sub/deep.txt", "proj/a/x.txt"}) {
		t.Fatalf("client synced %q", files)
	}
	if err := os.WriteFile(filepath.Join(dir, "proj", "a", "mine.txt"), []byte("from the contractor"), 0o644); err != nil {
		t.Fatal(err)
	}
	run()
	if code, b := e.do(t, e.full, "GET", "/api/files/"+url.PathEscape("proj")+"/a/mine.txt", ""); code != 200 || string(b) != "from the contractor" {
		t.Fatalf("upload through the scoped client: %d %q", code, b)
	}
}

// TestScopeWebSocketOperations: file operations over /ws with a scoped token meet
// the same wall as HTTP.
func TestScopeWebSocketOperations(t *testing.T) {
	e := newEnv(t)
	e.seed(t)
	ws := e.s.Dial(t, e.scoped)
	ws.WriteJSON(map[string]any{"type": "Subscribe", "client_id": "scoped"})
	md := func(p string, dir bool) map[string]any {
		return map[string]any{"path": p, "size": 0, "modified": "2024-01-01T00:00:00Z", "hash": "", "is_directory": dir, "seq": 0}
	}
	cases := []struct {
		name string
		op   map[string]any
		code string
	}{
		{"delete outside", map[string]any{"Delete": map[string]any{"metadata": md("secret.txt", false)}}, "not_found"},
		{"delete ancestor", map[string]any{"Delete": map[string]any{"metadata": md("proj", true)}}, "not_found"},
		{"mkdir outside", map[string]any{"Create": map[string]any{"metadata": md("project/d", true)}}, "not_found"},
		{"create file outside", map[string]any{"Create": map[string]any{"metadata": md("secret.txt", false)}}, "not_found"},
		{"move from outside", map[string]any{"Move": map[string]any{"from": "secret.txt", "metadata": md("proj/a/s.txt", false)}}, "not_found"},
		{"move to outside", map[string]any{"Move": map[string]any{"from": "proj/a/x.txt", "metadata": md("PROJECT/x.txt", false)}}, "forbidden"},
		{"mkdir inside", map[string]any{"Create": map[string]any{"metadata": md("proj/a/new", true)}}, ""},
	}
	for i, c := range cases {
		id := "op-" + string(rune('a'+i))
		if err := ws.WriteJSON(map[string]any{"type": "FileOperation", "operation": c.op, "source_client": "scoped", "operation_id": id}); err != nil {
			t.Fatal(err)
		}
		for {
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			var m struct {
				Type        string `json:"type"`
				Code        string `json:"code"`
				OperationID string `json:"operation_id"`
			}
			if err := ws.ReadJSON(&m); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if m.OperationID != id {
				continue
			}
			if c.code == "" && m.Type != "Ack" || c.code != "" && (m.Type != "Error" || m.Code != c.code) {
				t.Fatalf("%s: %s %s, want %q", c.name, m.Type, m.Code, c.code)
			}
			break
		}
	}
	for _, p := range []string{"secret.txt", "proj/a/x.txt", "proj/b/y.txt"} {
		if code, _ := e.do(t, e.full, "GET", "/api/files/"+p, ""); code != 200 {
			t.Fatalf("%s after the attacks: %d", p, code)
		}
	}
}
