package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncd/daemon"
	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// Long forms, off by default (the CI slice runs instead).
var (
	soakFor     = flag.Duration("soak", 0, "run the convergence soak for this long (0 = CI slice of about 45 s)")
	loadFor     = flag.Duration("load", 0, "run the load test for this long with 10,000 subscribers (0 = CI slice)")
	crashRounds = flag.Int("crash-rounds", 0, "rounds of the crash test (0 = CI slice of 3)")
	abuseFull   = flag.Bool("abuse-full", false, "full abuse sizes: 10,000 failed authentications, 1 GiB streamed quota")
	verbose     = flag.Bool("reliability-logs", false, "print syncd's logs of every test")
)

// TestMain: the suite is long and does not run under -short (the inner loop); .ci/run
// runs it.
func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("reliability: skipped with -short")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// logBuf is a goroutine-safe buffer for logs.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 8<<20 { // keep the tail bounded
		l.b.Reset()
		l.b.WriteString("[log truncated]\n")
	}
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server is a syncd running in this process (cmd/syncd/syncdtest) on 127.0.0.1.
type server struct {
	t    *testing.T
	srv  *syncdtest.Server
	d    *daemon.Daemon // nil while stopped
	base string
	logs *logBuf
}

// startServer starts syncd with a config file holding extra on top of the listen
// address, data dir and log level. extra's top-level keys replace the defaults.
func startServer(t *testing.T, extra map[string]any) *server {
	t.Helper()
	cfg := map[string]any{"limits": nil} // syncd's default limits unless extra sets them
	for k, v := range extra {
		cfg[k] = v
	}
	s := &server{t: t, logs: &logBuf{}}
	s.srv = syncdtest.Start(t, syncdtest.Options{Config: cfg, Logs: s.logs})
	s.d, s.base = s.srv.D, s.srv.URL
	t.Cleanup(func() {
		s.stop()
		if t.Failed() || *verbose {
			t.Logf("syncd logs:\n%s", tail(s.logs.String(), 200))
		}
	})
	return s
}

// stop shuts syncd down gracefully (idempotent).
func (s *server) stop() {
	if err := s.srv.Stop(); err != nil {
		s.t.Logf("syncd shutdown: %v", err)
	}
	s.d = nil
}

// restart stops syncd and starts it again on the same data dir (on a new port).
func (s *server) restart() {
	s.t.Helper()
	if err := s.srv.Restart(context.Background(), ""); err != nil {
		s.t.Fatalf("restart syncd: %v", err)
	}
	s.d, s.base = s.srv.D, s.srv.URL
}

// tenant creates a tenant.
func (s *server) tenant(name string, o tenants.Options) {
	s.t.Helper()
	s.srv.Tenant(s.t, name, o)
}

// token issues a tenant token.
func (s *server) token(tenant, subject, role string) string {
	s.t.Helper()
	return s.srv.TokenTTL(s.t, tenant, subject, role, 2*time.Hour)
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// api is an HTTP client of one tenant.
type api struct {
	base  string
	token string
	hc    *http.Client
}

func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func newAPI(base, token string) *api { return &api{base: base, token: token, hc: newHTTPClient()} }

func (a *api) close() { a.hc.CloseIdleConnections() }

// do sends one request and returns the status and body.
func (a *api) do(ctx context.Context, method, path string, body io.Reader, hdr map[string]string) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return 0, nil, nil, err
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, b, resp.Header, err
}

func filePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/api/files/" + strings.Join(segs, "/")
}

// put uploads content to p with its digest.
func (a *api) put(ctx context.Context, p string, content []byte) (int, []byte, error) {
	st, b, _, err := a.do(ctx, http.MethodPut, filePath(p), bytes.NewReader(content), map[string]string{"X-Content-SHA256": hashOf(content)})
	return st, b, err
}

// listing is GET /api/list.
type listing struct {
	Epoch   string              `json:"epoch"`
	Seq     int64               `json:"seq"`
	Entries []protocol.Metadata `json:"entries"`
}

func (a *api) list(ctx context.Context) (listing, error) {
	var l listing
	st, b, _, err := a.do(ctx, http.MethodGet, "/api/list?recursive=true", nil, nil)
	if err != nil {
		return l, err
	}
	if st != http.StatusOK {
		return l, fmt.Errorf("list: %d %s", st, b)
	}
	return l, json.Unmarshal(b, &l)
}

// changes reads the whole change log from since 0.
func (a *api) changes(ctx context.Context) (string, []protocol.Event, error) {
	var all []protocol.Event
	var epoch string
	since := int64(0)
	for {
		st, b, _, err := a.do(ctx, http.MethodGet, fmt.Sprintf("/api/changes?since=%d&limit=10000", since), nil, nil)
		if err != nil {
			return "", nil, err
		}
		if st != http.StatusOK {
			return "", nil, fmt.Errorf("changes: %d %s", st, b)
		}
		var p protocol.ChangesPage
		if err := json.Unmarshal(b, &p); err != nil {
			return "", nil, err
		}
		if epoch != "" && p.Epoch != epoch {
			return "", nil, fmt.Errorf("epoch changed while paging: %s → %s", epoch, p.Epoch)
		}
		epoch = p.Epoch
		all = append(all, p.Events...)
		if !p.More || len(p.Events) == 0 {
			return epoch, all, nil
		}
		since = p.Seq
	}
}

func (a *api) versions(ctx context.Context, p string) ([]protocol.Version, error) {
	st, b, _, err := a.do(ctx, http.MethodGet, "/api/versions?path="+url.QueryEscape(p), nil, nil)
	if err != nil {
		return nil, err
	}
	if st == http.StatusNotFound {
		return nil, nil
	}
	if st != http.StatusOK {
		return nil, fmt.Errorf("versions %s: %d %s", p, st, b)
	}
	var v struct {
		Versions []protocol.Version `json:"versions"`
	}
	return v.Versions, json.Unmarshal(b, &v)
}

// deletedEntry is one element of GET /api/deleted.
type deletedEntry struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Hash    string `json:"hash"`
}

func (a *api) deleted(ctx context.Context) ([]deletedEntry, error) {
	st, b, _, err := a.do(ctx, http.MethodGet, "/api/deleted", nil, nil)
	if err != nil {
		return nil, err
	}
	if st != http.StatusOK {
		return nil, fmt.Errorf("deleted: %d %s", st, b)
	}
	var v struct {
		Entries []deletedEntry `json:"entries"`
	}
	return v.Entries, json.Unmarshal(b, &v)
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// treeEntry is one node of a file tree: a directory (hash "") or a file.
type treeEntry struct {
	Dir  bool
	Hash string
}

// serverTree turns a listing into a tree keyed by path.
func serverTree(l listing) map[string]treeEntry {
	m := make(map[string]treeEntry, len(l.Entries))
	for _, e := range l.Entries {
		m[e.Path] = treeEntry{Dir: e.IsDirectory, Hash: e.Hash}
	}
	return m
}

// diskTree walks root (files and directories, hashed), skipping names skip rejects.
// It never follows symlinks.
func diskTree(root string, skip func(rel string, d fs.DirEntry) bool) (map[string]treeEntry, error) {
	m := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p != root {
				return nil // vanished during the walk
			}
			return err
		}
		if p == root {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		if skip != nil && skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			m[rel] = treeEntry{Dir: true}
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			m[rel] = treeEntry{Hash: hashOf(b)}
		}
		return nil
	})
	return m, err
}

// diffTrees describes how a differs from b ("" when equal), at most max lines.
func diffTrees(aName string, a map[string]treeEntry, bName string, b map[string]treeEntry, max int) string {
	var lines []string
	for p, ea := range a {
		eb, ok := b[p]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("%s only in %s (dir=%v)", p, aName, ea.Dir))
		case ea != eb:
			lines = append(lines, fmt.Sprintf("%s differs: %s %+v, %s %+v", p, aName, ea, bName, eb))
		}
	}
	for p, eb := range b {
		if _, ok := a[p]; !ok {
			lines = append(lines, fmt.Sprintf("%s only in %s (dir=%v)", p, bName, eb.Dir))
		}
	}
	sort.Strings(lines)
	if len(lines) > max {
		lines = append(lines[:max], fmt.Sprintf("… %d more", len(lines)-max))
	}
	return strings.Join(lines, "\n")
}

// checkGapless checks that events are numbered 1..n without gap or repetition.
func checkGapless(events []protocol.Event) error {
	for i, ev := range events {
		if ev.Seq != int64(i+1) {
			return fmt.Errorf("change log not gapless: event %d has seq %d", i, ev.Seq)
		}
		if ev.Operation.Kind() == "" {
			return fmt.Errorf("event seq %d has no single operation", ev.Seq)
		}
	}
	return nil
}

// replay applies events to an empty tree per SPEC §3's consistency rule (a file event
// creates missing parents; a directory Delete or Move applies to its subtree).
func replay(events []protocol.Event) map[string]treeEntry {
	m := map[string]treeEntry{}
	addParents := func(p string) {
		for {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				return
			}
			p = p[:i]
			m[p] = treeEntry{Dir: true}
		}
	}
	under := func(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	for _, ev := range events {
		op := ev.Operation
		md := op.Meta()
		switch op.Kind() {
		case protocol.OpCreate, protocol.OpUpdate:
			addParents(md.Path)
			m[md.Path] = treeEntry{Dir: md.IsDirectory, Hash: md.Hash}
		case protocol.OpDelete:
			for p := range m {
				if under(p, md.Path) {
					delete(m, p)
				}
			}
		case protocol.OpMove:
			from := op.Move.From
			moved := map[string]treeEntry{}
			for p, e := range m {
				if under(p, from) {
					moved[md.Path+strings.TrimPrefix(p, from)] = e
					delete(m, p)
				}
			}
			addParents(md.Path)
			for p, e := range moved {
				m[p] = e
			}
			if len(moved) == 0 {
				m[md.Path] = treeEntry{Dir: md.IsDirectory, Hash: md.Hash}
			}
		}
	}
	return m
}

// heapInuse returns the heap in use after a GC.
func heapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// settleGoroutines waits until the goroutine count is at most limit, or d passed; it
// returns the last count.
func settleGoroutines(limit int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// latencies collects durations and reports percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// len is the number of durations collected since the last take.
func (l *latencies) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// take returns the collected durations and starts afresh.
func (l *latencies) take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.d
	l.d = nil
	return d
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// waitUntil polls cond every 100 ms until it holds or d passes.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
