package reliability

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/internal/testbin"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// soakClient is one realtime-sync-client process behind its own proxy.
type soakClient struct {
	t     *testing.T
	bin   string
	name  string
	dir   string
	tok   string
	px    *proxy
	logs  *logBuf
	mu    sync.Mutex
	cmd   *exec.Cmd
	exit  chan struct{}
	kills int
}

func (c *soakClient) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	cmd := exec.Command(c.bin, "--server", "http://"+c.px.addr(), "--local-path", c.dir, "--token-file", c.tok,
		"--realtime", "--interval", "2s", "--client-id", c.name, "--log-level", "info")
	cmd.Stdout, cmd.Stderr = c.logs, c.logs
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start client %s: %v", c.name, err)
	}
	exit := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exit) }()
	c.cmd, c.exit = cmd, exit
	fmt.Fprintf(c.logs, "=== test: client started (pid %d)\n", cmd.Process.Pid)
}

// running reports whether the process is alive.
func (c *soakClient) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.exit:
		return false
	default:
		return true
	}
}

// kill SIGKILLs the client (as a crash or the OOM killer would).
func (c *soakClient) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exit
	c.cmd = nil
	c.kills++
	fmt.Fprintf(c.logs, "=== test: client killed\n")
}

// stop ends the client with SIGTERM (its graceful path), then SIGKILL.
func (c *soakClient) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exit:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
		<-c.exit
	}
	c.cmd = nil
}

// skipLocal hides the client's own state and temp files from tree comparisons.
func skipLocal(rel string, d fs.DirEntry) bool {
	base := path.Base(rel)
	return rel == ".syncspace" || strings.HasPrefix(base, ".syncspace-tmp-")
}

// soakWorld is the shared bookkeeping of the soak's actors.
type soakWorld struct {
	mu      sync.Mutex
	written map[string]string // hash → where it was first written
	base    func() string     // the server's current base URL
	tok     string
	ops     map[string]int
	skipped int // destructive operations skipped because the content was not synced yet
	journal []string
}

func (w *soakWorld) wrote(h, where string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.written[h]; !ok {
		w.written[h] = where
	}
}

// count records one user operation of client c (for the journal printed on failure).
func (w *soakWorld) count(c *soakClient, op, detail string) {
	w.mu.Lock()
	w.ops[op]++
	w.journal = append(w.journal, fmt.Sprintf("%s %s %s %s", time.Now().UTC().Format("15:04:05.000"), c.name, op, detail))
	w.mu.Unlock()
}

// synced reports whether the server holds exactly this content at rel (so that
// replacing or deleting the local file cannot lose a content the sync never saw).
func (w *soakWorld) synced(a *api, rel, hash string) bool {
	a.base = w.base()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, _, h, err := a.do(ctx, http.MethodHead, filePath(rel), nil, nil)
	return err == nil && st == http.StatusOK && h.Get("ETag") == `"`+hash+`"`
}

var (
	soakDirs  = []string{"", "docs", "docs/old", "pics", "music/live"}
	soakNames = []string{"a.txt", "b.md", "notes", "c.bin", "report.pdf", "d.txt", "e.json"}
)

// act performs one random user operation in c's folder.
func (w *soakWorld) act(c *soakClient, a *api, r *rand.Rand, n int) {
	files, dirs := localContent(c.dir)
	mkContent := func() []byte {
		b := make([]byte, 64+r.IntN(32<<10))
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		copy(b, fmt.Sprintf("%s op %d\n", c.name, n))
		return b
	}
	write := func(rel string, b []byte) bool {
		full := filepath.Join(c.dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return false
		}
		// Written like an editor does: a temp file renamed into place.
		// ("~$" names are ignored by the client, like an office suite's lock files.)
		tmp := filepath.Join(filepath.Dir(full), fmt.Sprintf("~$edit-%s-%d", c.name, n))
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return false
		}
		if err := os.Rename(tmp, full); err != nil {
			os.Remove(tmp)
			return false
		}
		w.wrote(hashOf(b), c.name+":"+rel)
		return true
	}
	op := r.IntN(100)
	switch {
	case op < 35 || len(files) == 0: // create
		if len(files) > 60 {
			return
		}
		rel := path.Join(soakDirs[r.IntN(len(soakDirs))], soakNames[r.IntN(len(soakNames))])
		if _, err := os.Lstat(filepath.Join(c.dir, rel)); err == nil {
			return
		}
		if write(rel, mkContent()) {
			w.count(c, "create", rel)
		}
	case op < 60: // edit
		rel := pick(r, files)
		if !w.synced(a, rel, hashFile(filepath.Join(c.dir, rel))) {
			w.skip()
			return
		}
		if write(rel, mkContent()) {
			w.count(c, "edit", rel)
		}
	case op < 70: // delete a file
		rel := pick(r, files)
		if !w.synced(a, rel, hashFile(filepath.Join(c.dir, rel))) {
			w.skip()
			return
		}
		if os.Remove(filepath.Join(c.dir, rel)) == nil {
			w.count(c, "delete", rel)
		}
	case op < 82: // move or rename a file
		rel := pick(r, files)
		to := path.Join(soakDirs[r.IntN(len(soakDirs))], fmt.Sprintf("mv-%s-%d-%s", c.name, n, path.Base(rel)))
		if len(to) > 120 {
			return
		}
		_ = os.MkdirAll(filepath.Join(c.dir, filepath.FromSlash(path.Dir(to))), 0o755)
		if os.Rename(filepath.Join(c.dir, rel), filepath.Join(c.dir, to)) == nil {
			w.count(c, "move", rel+" -> "+to)
		}
	case op < 88: // mkdir
		rel := path.Join(soakDirs[r.IntN(len(soakDirs))], fmt.Sprintf("dir-%d", r.IntN(3)))
		if os.MkdirAll(filepath.Join(c.dir, rel), 0o755) == nil {
			w.count(c, "mkdir", rel)
		}
	case op < 95: // rename a directory
		if len(dirs) == 0 {
			return
		}
		rel := pick(r, dirs)
		to := path.Join(path.Dir(rel), fmt.Sprintf("ren-%s-%d", c.name, n))
		if os.Rename(filepath.Join(c.dir, rel), filepath.Join(c.dir, to)) == nil {
			w.count(c, "rename-dir", rel+" -> "+to)
		}
	default: // delete a directory tree, if everything in it is synced
		if len(dirs) == 0 {
			return
		}
		rel := pick(r, dirs)
		for _, f := range files {
			if strings.HasPrefix(f, rel+"/") && !w.synced(a, f, hashFile(filepath.Join(c.dir, f))) {
				w.skip()
				return
			}
		}
		if os.RemoveAll(filepath.Join(c.dir, rel)) == nil {
			w.count(c, "delete-dir", rel)
		}
	}
}

func (w *soakWorld) skip() {
	w.mu.Lock()
	w.skipped++
	w.mu.Unlock()
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

func hashFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return hashOf(b)
}

// localContent lists the synced files and directories of a client folder.
func localContent(dir string) (files, dirs []string) {
	tree, _ := diskTree(dir, func(rel string, d fs.DirEntry) bool {
		return skipLocal(rel, d) || strings.HasPrefix(path.Base(rel), "~$")
	})
	for p, e := range tree {
		if e.Dir {
			dirs = append(dirs, p)
		} else {
			files = append(files, p)
		}
	}
	slices.Sort(files)
	slices.Sort(dirs)
	return files, dirs
}

// TestSoak is the convergence soak: four realtime-sync-client processes, each behind
// its own proxy, edit one tenant at random (creates, edits, deletes, moves and renames
// of files and directories) while the test cuts their connections, takes their
// proxies down, SIGKILLs and restarts them, and restarts syncd once. Afterwards every
// replica and the server must hold the same tree, and every content ever written must
// still exist on the server: as a current file (conflict copies included), a version
// or a deleted entry. CI: about 35 s of chaos; -soak=10m for the long run.
func TestSoak(t *testing.T) {
	chaosFor := 30 * time.Second
	if *soakFor > 0 {
		chaosFor = *soakFor
	}
	bin := testbin.Path(t, testbin.Client)
	s := startServer(t, nil)
	s.tenant("soak", tenants.Options{})
	var baseMu sync.Mutex
	w := &soakWorld{written: map[string]string{}, ops: map[string]int{}}
	w.base = func() string { baseMu.Lock(); defer baseMu.Unlock(); return s.base }
	w.tok = s.token("soak", "observer", "read")

	var clients []*soakClient
	for i := range 4 {
		name := fmt.Sprintf("soak-c%d", i)
		px, err := newProxy(s.d.Addr())
		if err != nil {
			t.Fatal(err)
		}
		tokFile := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(tokFile, []byte(s.token("soak", fmt.Sprintf("user%d", i), "write")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		c := &soakClient{t: t, bin: bin, name: name, dir: dir, tok: tokFile, px: px, logs: &logBuf{}}
		clients = append(clients, c)
		c.start()
	}
	t.Cleanup(func() {
		for _, c := range clients {
			c.stop()
			c.px.close()
			if t.Failed() || *verbose {
				t.Logf("client %s logs:\n%s", c.name, tail(c.logs.String(), 60))
			}
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), chaosFor)
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
			a := newAPI(w.base(), w.tok)
			defer a.close()
			for n := 0; ctx.Err() == nil; n++ {
				w.act(c, a, r, n)
				time.Sleep(time.Duration(100+r.IntN(300)) * time.Millisecond)
			}
		}()
	}
	// Chaos: disconnects, outages, client kills, and one server restart half-way.
	chaos := map[string]int{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(42, uint64(time.Now().UnixNano())))
		restartAt := time.Now().Add(chaosFor / 2)
		restarted := false
		for k := 0; ctx.Err() == nil; k++ {
			time.Sleep(time.Duration(1500+r.IntN(2500)) * time.Millisecond)
			if ctx.Err() != nil {
				return
			}
			if !restarted && time.Now().After(restartAt) {
				restarted = true
				baseMu.Lock()
				s.restart()
				baseMu.Unlock()
				for _, c := range clients {
					c.px.setTarget(s.d.Addr())
				}
				chaos["server restart"]++
				continue
			}
			c := clients[r.IntN(len(clients))]
			switch k % 3 { // every kind of fault, in turn, on a random client
			case 0:
				c.px.cut()
				chaos["disconnect"]++
			case 1:
				c.px.setDown(true)
				time.Sleep(time.Duration(500+r.IntN(2500)) * time.Millisecond)
				c.px.setDown(false)
				chaos["outage"]++
			case 2:
				c.kill()
				time.Sleep(time.Duration(200+r.IntN(1500)) * time.Millisecond)
				c.start()
				chaos["client kill"]++
			}
		}
	}()
	wg.Wait()
	for _, c := range clients {
		c.px.setDown(false)
		if !c.running() {
			t.Errorf("client %s stopped by itself during the soak", c.name)
			c.start()
		}
	}
	t.Logf("soak: %v of chaos %v; user operations %v (%d destructive ones skipped: content not synced yet); %d contents written",
		chaosFor, chaos, w.ops, w.skipped, len(w.written))

	// Convergence: every replica equals the server, twice in a row.
	a := newAPI(s.base, w.tok)
	defer a.close()
	var lastDiff string
	var diffPaths []string
	stable := 0
	start := time.Now()
	converged := waitUntil(90*time.Second, func() bool {
		l, err := a.list(context.Background())
		if err != nil {
			lastDiff = err.Error()
			stable = 0
			return false
		}
		st := serverTree(l)
		var diffs []string
		diffPaths = diffPaths[:0]
		for _, c := range clients {
			lt, err := diskTree(c.dir, skipLocal)
			if err != nil {
				diffs = append(diffs, err.Error())
				continue
			}
			if d := diffTrees("server", st, c.name, lt, 15); d != "" {
				diffs = append(diffs, d)
				for _, line := range strings.Split(d, "\n") {
					diffPaths = append(diffPaths, strings.Fields(line)[0])
				}
			}
		}
		if len(diffs) > 0 {
			lastDiff = strings.Join(diffs, "\n")
			stable = 0
			return false
		}
		stable++
		return stable >= 3
	})
	if !converged {
		// What the users did and what the clients logged about the divergent paths.
		// Keys: the paths, and the unique generated names on them (mv-…, ren-…).
		keys := map[string]bool{}
		for _, p := range diffPaths {
			keys[p] = true
			for _, seg := range strings.Split(p, "/") {
				if strings.Contains(seg, "-soak-c") {
					keys[seg] = true
				}
			}
		}
		match := func(line string) bool {
			for k := range keys {
				if strings.Contains(line, k) {
					return true
				}
			}
			return false
		}
		var hits []string
		for _, j := range w.journal {
			if match(j) {
				hits = append(hits, "user: "+j)
			}
		}
		for _, c := range clients {
			for _, line := range strings.Split(c.logs.String(), "\n") {
				if match(line) {
					hits = append(hits, c.name+": "+line)
				}
			}
		}
		if len(hits) > 200 {
			hits = hits[len(hits)-200:]
		}
		t.Fatalf("replicas did not converge within 90 s:\n%s\nrelated user operations and client log lines:\n%s", lastDiff, strings.Join(hits, "\n"))
	}
	t.Logf("converged %v after the chaos ended", time.Since(start).Round(100*time.Millisecond))

	// No content lost: every hash written is a current file, a version or a deleted entry.
	have := map[string]bool{}
	l, err := a.list(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, e := range l.Entries {
		have[e.Hash] = true
		paths[e.Path] = true
	}
	_, events, err := a.changes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := checkGapless(events); err != nil {
		t.Errorf("after the soak: %v", err)
	}
	for _, ev := range events {
		md := ev.Operation.Meta()
		have[md.Hash] = true
		paths[md.Path] = true
		if ev.Operation.Kind() == protocol.OpMove {
			paths[ev.Operation.Move.From] = true
		}
	}
	del, err := a.deleted(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range del {
		have[d.Hash] = true
		paths[d.Path] = true
	}
	for p := range paths {
		vs, err := a.versions(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			have[v.Hash] = true
		}
	}
	var lost []string
	for h, where := range w.written {
		if !have[h] {
			lost = append(lost, fmt.Sprintf("%s (written as %s)", h[:12], where))
		}
	}
	slices.Sort(lost)
	if len(lost) > 0 {
		t.Errorf("%d of %d contents written are nowhere on the server:\n%s", len(lost), len(w.written), strings.Join(lost[:min(len(lost), 20)], "\n"))
	}
	conflicts := 0
	for _, e := range l.Entries {
		if strings.Contains(e.Path, ".sync-conflict-") {
			conflicts++
		}
	}
	t.Logf("final tree: %d entries (%d conflict copies), %d events, %d contents all found", len(l.Entries), conflicts, len(events), len(w.written)-len(lost))
}

// TestEditAfterDirRename is the soak's most frequent divergence as a deterministic
// case: a realtime client syncs a folder, the user renames a directory, then edits a
// file directly in it and one in a subdirectory of it. Each edit must reach the server
// within 10 s (it normally takes well under one), not wait for the periodic rescan.
func TestEditAfterDirRename(t *testing.T) {
	bin := testbin.Path(t, testbin.Client)
	s := startServer(t, nil)
	s.tenant("rename", tenants.Options{})
	px, err := newProxy(s.d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer px.close()
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(s.token("rename", "user", "write")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "folder")
	for p, content := range map[string]string{"docs/top.txt": "top v1", "docs/old/deep.txt": "deep v1"} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := &soakClient{t: t, bin: bin, name: "renamer", dir: dir, tok: tokFile, px: px, logs: &logBuf{}}
	c.start()
	defer func() {
		c.stop()
		if t.Failed() || *verbose {
			t.Logf("client logs:\n%s", c.logs.String())
		}
	}()
	a := newAPI(s.base, s.token("rename", "observer", "read"))
	defer a.close()
	reaches := func(p, content string, within time.Duration) bool {
		start := time.Now()
		ok := waitUntil(within, func() bool {
			st, b, _, err := a.do(context.Background(), http.MethodGet, filePath(p), nil, nil)
			return err == nil && st == http.StatusOK && string(b) == content
		})
		t.Logf("%s = %q on the server: %v after %v", p, content, ok, time.Since(start).Round(time.Millisecond))
		return ok
	}
	if !reaches("docs/top.txt", "top v1", 30*time.Second) || !reaches("docs/old/deep.txt", "deep v1", 10*time.Second) {
		t.Fatal("initial sync did not happen")
	}
	if err := os.Rename(filepath.Join(dir, "docs"), filepath.Join(dir, "renamed")); err != nil {
		t.Fatal(err)
	}
	if !reaches("renamed/old/deep.txt", "deep v1", 10*time.Second) {
		t.Fatal("the directory rename did not reach the server")
	}
	for p, content := range map[string]string{"renamed/top.txt": "top v2", "renamed/old/deep.txt": "deep v2"} {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(p)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for p, content := range map[string]string{"renamed/top.txt": "top v2", "renamed/old/deep.txt": "deep v2"} {
		if !reaches(p, content, 10*time.Second) {
			t.Errorf("an edit of %s after its directory was renamed did not reach the server within 10 s", p)
		}
	}
}
