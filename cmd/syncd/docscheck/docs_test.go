package docscheck

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/cmd/syncd/daemon"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/tenants"
	"github.com/syncspace/syncspace/tenants/sqlindex"
	"github.com/syncspace/syncspace/tenants/sqlite"
	"github.com/syncspace/syncspace/transport/server"
)

// repoRoot is the repository's top directory (this package is cmd/syncd/docscheck).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s", root)
	}
	return root
}

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// markdownFiles returns README.md and docs/*.md, relative to the root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	m, err := filepath.Glob(filepath.Join(repoRoot(t), "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m {
		files = append(files, "docs/"+filepath.Base(f))
	}
	return files
}

var (
	linkRE  = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	fenceRE = regexp.MustCompile("(?ms)^```.*?^```")
)

// TestMarkdownLinksResolve: every relative link in README.md and docs/*.md names a file
// or directory of the repository.
func TestMarkdownLinksResolve(t *testing.T) {
	root := repoRoot(t)
	for _, f := range markdownFiles(t) {
		text := fenceRE.ReplaceAllString(readDoc(t, f), "")
		for _, m := range linkRE.FindAllStringSubmatch(text, -1) {
			target := m[1]
			u, err := url.Parse(target)
			if err != nil {
				t.Errorf("%s: bad link %q", f, target)
				continue
			}
			if u.Scheme != "" || u.Host != "" || u.Path == "" {
				continue // external, or an anchor in the same file
			}
			p := filepath.Join(root, filepath.Dir(filepath.FromSlash(f)), filepath.FromSlash(u.Path))
			if !strings.HasPrefix(p, root+string(filepath.Separator)) {
				t.Errorf("%s: link %q leaves the repository", f, target)
				continue
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: link %q does not resolve: %v", f, target, err)
			}
		}
	}
}

// TestReferenceNeedsNoOutsideFile: the user-facing reference does not send its reader to
// the design's SPEC.md, DESIGN.md or the seed document, which are not in the repository.
func TestReferenceNeedsNoOutsideFile(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join(repoRoot(t), "docs", "*.md"))
	if err != nil || len(docs) < 8 {
		t.Fatalf("docs/*.md: %v %v", docs, err)
	}
	files := []string{"README.md"}
	for _, d := range docs {
		files = append(files, "docs/"+filepath.Base(d))
	}
	for _, f := range files {
		text := readDoc(t, f)
		for _, bad := range []string{"SPEC", "DESIGN.md", "seed/"} {
			if i := strings.Index(text, bad); i >= 0 {
				line := strings.Count(text[:i], "\n") + 1
				t.Errorf("%s:%d mentions %q, which is not in the repository", f, line, bad)
			}
		}
	}
}

// configKeys returns the dotted JSON keys of t's fields, recursing into structs (a
// type with its own UnmarshalJSON is a leaf).
func configKeys(prefix string, t reflect.Type) []string {
	var out []string
	unmarshaler := reflect.TypeFor[json.Unmarshaler]()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		out = append(out, key)
		ft := f.Type
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(unmarshaler) {
			out = append(out, configKeys(key, ft)...)
		}
	}
	return out
}

// TestConfigKeysDocumented: every key config accepts appears, in backquotes with its
// full dotted name, in docs/CONFIG.md.
func TestConfigKeysDocumented(t *testing.T) {
	doc := readDoc(t, "docs/CONFIG.md")
	keys := configKeys("", reflect.TypeFor[config.Config]())
	if len(keys) < 30 {
		t.Fatalf("only %d keys found: %q", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("docs/CONFIG.md does not document `%s`", k)
		}
	}
	// The seed's route form, which config also accepts.
	for _, k := range []string{"`routes`", "`root`", "`enable_upload`"} {
		if !strings.Contains(doc, k) {
			t.Errorf("docs/CONFIG.md does not document the seed route key %s", k)
		}
	}
}

// jsonBlocks returns the ```json blocks of a markdown text.
func jsonBlocks(text string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?ms)^```json\\n(.*?)^```").FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestConfigExamplesLoad: every JSON block of docs/CONFIG.md, docs/DEPLOY.md and
// README.md, every JSON config written by a here-document in README.md, and the config
// files of docs/deploy, is a complete config file that config.Parse loads and
// validates.
func TestConfigExamplesLoad(t *testing.T) {
	n := 0
	for _, f := range []string{"docs/CONFIG.md", "docs/DEPLOY.md", "README.md"} {
		text := readDoc(t, f)
		blocks := jsonBlocks(text)
		for _, m := range regexp.MustCompile("(?ms)<<'JSON'\n(.*?)^JSON$").FindAllStringSubmatch(text, -1) {
			blocks = append(blocks, m[1])
		}
		for i, block := range blocks {
			n++
			if _, err := config.Parse([]byte(block), nil); err != nil {
				t.Errorf("%s, JSON block %d does not load: %v\n%s", f, i+1, err, block)
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d JSON examples found", n)
	}
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "docs", "deploy", "*.json"))
	if len(files) == 0 {
		t.Error("no config files in docs/deploy")
	}
	for _, f := range files {
		if _, err := config.Load(f, nil); err != nil {
			t.Errorf("%s does not load: %v", f, err)
		}
	}
}

// routeDoc turns an Echo route into the form docs/API.md uses: ":name" → "{name}",
// the trailing "*" of /api/files/* → "{path}".
func routeDoc(method, path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, ":"):
			segs[i] = "{" + s[1:] + "}"
		case s == "*":
			segs[i] = "{path}"
		}
	}
	return method + " " + strings.Join(segs, "/")
}

// TestRoutesDocumented builds syncd's real Echo instances (main and admin_listen) and
// checks that every registered route appears in docs/API.md as "`METHOD /path`".
func TestRoutesDocumented(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.AdminListen = "127.0.0.1:0"
	db, err := sqlite.Open(ctx, filepath.Join(dir, "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	reg, err := sqlindex.OpenRegistry(ctx, db, dir, tenants.Limits{MaxFileSize: 1 << 20, MaxEntries: 1000, RetainChanges: 100, RetainVersions: 1 << 40}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	as, err := sqlitestore.OpenService(ctx, db, auth.Config{Issuer: "syncd", MaxTTL: 1 << 40, MaxOpsTTL: 1 << 40, KeyDir: filepath.Join(dir, "keys")}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := daemon.ServerOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, server.Deps{Options: opts, Tenants: reg, Auth: as, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx)
	doc := readDoc(t, "docs/API.md")
	seen := map[string]bool{}
	for name, h := range map[string]any{"main": srv.Main(), "admin": srv.Admin()} {
		e, ok := h.(*echo.Echo)
		if !ok {
			t.Fatalf("%s handler is %T, not *echo.Echo", name, h)
		}
		for _, r := range e.Routes() {
			if r.Method == echo.RouteNotFound || strings.HasPrefix(r.Method, "echo_") {
				continue
			}
			seen[routeDoc(r.Method, r.Path)] = true
		}
	}
	if len(seen) < 25 {
		t.Fatalf("only %d routes found: %v", len(seen), seen)
	}
	var routes []string
	for r := range seen {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		if !strings.Contains(doc, "`"+r+"`") {
			t.Errorf("docs/API.md does not document `%s`", r)
		}
	}
}

// mergeMarkerRE matches a line git leaves in a file whose merge conflict was not
// resolved.
var mergeMarkerRE = regexp.MustCompile(`(?m)^(<<<<<<< |>>>>>>> |=======$)`)

// TestNoMergeMarkers: no README.md or docs/*.md line is a merge-conflict marker (a
// conflict committed unresolved once, session 25).
func TestNoMergeMarkers(t *testing.T) {
	for _, f := range markdownFiles(t) {
		doc := readDoc(t, f)
		for _, loc := range mergeMarkerRE.FindAllStringIndex(doc, -1) {
			t.Errorf("%s:%d: merge-conflict marker", f, strings.Count(doc[:loc[0]], "\n")+1)
		}
	}
}
