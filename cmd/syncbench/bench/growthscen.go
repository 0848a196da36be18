package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// runGrowth (opt-in: not in the default run) measures how syncd's costs grow with the
// size of one tenant: 10⁴, 10⁵ and 10⁶ small files generated directly on the server's
// disk. For each size, in a syncd child process: the first start's indexing of the
// files, the time to /readyz 200 and of the start-up check on a plain restart, the
// resident memory once checked, a recursive listing, /api/changes paging through the
// whole log, and the catch-up of a resumed reader after 10,000 changes. Figures are
// printed per file so that growth is visible. A size is skipped when the free disk is
// short or the time left (the scenario's cap) would not cover it.
func runGrowth(ctx context.Context, r *runner) []Result {
	self, err := os.Executable()
	if err != nil {
		return []Result{failed("growth", "", "", err)}
	}
	sizes := []int{10_000, 100_000, 1_000_000}
	if r.opts.Quick {
		sizes = []int{1000, 3000}
	}
	if env := os.Getenv("SYNCBENCH_GROWTH_SIZES"); env != "" {
		if sizes, err = parseSizes(env); err != nil {
			return []Result{failed("growth", "", "", err)}
		}
	}
	var out []Result
	var last time.Duration
	for i, n := range sizes {
		label := countLabel(n)
		if free, need := freeBytes(r.work), uint64(n)*8<<10+2<<30; free < need {
			out = append(out, skipped("growth", label+" files", "", fmt.Sprintf("free disk %d MiB < %d MiB needed", free>>20, need>>20)))
			continue
		}
		if dl, ok := ctx.Deadline(); ok && i > 0 && last > 0 {
			// Every step grows about linearly (the first indexing a little faster).
			if want := last * time.Duration(n/sizes[i-1]) * 6 / 5; time.Until(dl) < want {
				out = append(out, skipped("growth", label+" files", "", fmt.Sprintf("time cap: ~%s needed, %s left", want.Round(time.Second), time.Until(dl).Round(time.Second))))
				continue
			}
		}
		t0 := time.Now()
		rows := growthAt(ctx, r, self, n)
		last = time.Since(t0)
		for _, x := range rows { // a long run shows each size as it ends
			r.log.Info("growth", "metric", x.Metric, "value", x.Syncspace, "verdict", x.Verdict, "notes", x.Notes)
		}
		out = append(out, rows...)
	}
	return out
}

// parseSizes reads SYNCBENCH_GROWTH_SIZES: the sizes to run instead of the default
// ones, comma-separated file counts ("10000,100000").
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1000 {
			return nil, fmt.Errorf("SYNCBENCH_GROWTH_SIZES: %q is not a file count of at least 1000", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// growthFigures are the measurements of one size.
type growthFigures struct {
	empty, first, restart startTimes // syncd: tenant empty, first indexing, plain restart
	rssAfter              int64      // syncd's RSS after every step
	list, changes         time.Duration
	entries, events       int
	catchup               time.Duration // the reader's /api/changes catch-up
	adopt, idle, resumed  clientRun     // the client: no state, in sync, after 10,000 changes
}

// growthAt measures one size, in this order: syncd started with the tenant empty; n
// files generated (and hard-linked into the client's folder); syncd's first start
// (indexing); a plain restart, on which every other step runs: the listing, the
// changes feed, the client's first run (no state: every file hashed, nothing
// transferred), its run with nothing to do, 10,000 PUTs, the reader's and the
// client's catch-up. The size's data is removed afterwards.
func growthAt(ctx context.Context, r *runner, self string, n int) []Result {
	label := countLabel(n)
	fail := func(what string, err error) []Result {
		return []Result{failed("growth", label+" files: "+what, "", err)}
	}
	dir, err := r.dir(fmt.Sprintf("growth-%d", n))
	if err != nil {
		return fail("setup", err)
	}
	c, err := prepareSyncdChild(ctx, dir)
	if err != nil {
		return fail("setup", err)
	}
	defer os.RemoveAll(filepath.Join(dir, "client"))
	defer os.RemoveAll(filepath.Join(dir, "data"))
	var f growthFigures
	if f.empty, err = c.timeStart(ctx, self, "empty", r.childEnv()); err != nil {
		return fail("empty start", err)
	}
	if err := genFiles(c.files, n, 64); err != nil {
		return fail("generate", err)
	}
	g, err := newGrowthClient(self, dir, c.files, c.token, r.childEnv())
	if err != nil {
		return fail("client setup", err)
	}
	if f.first, err = c.timeStart(ctx, self, "index", r.childEnv()); err != nil {
		return fail("indexing start", err)
	}
	p, addr, t0, err := c.start(ctx, self, "growth", r.childEnv())
	if err != nil {
		return fail("restart", err)
	}
	defer p.stop()
	if f.restart.ready, err = waitReady(ctx, p, "http://"+addr+"/readyz", t0); err != nil {
		return fail("restart", err)
	}
	if f.restart.checked, err = waitLog(ctx, p, "start-up disk check done", t0, 30*time.Minute); err != nil {
		return fail("restart", err)
	}
	f.restart.rss, _ = rssOf(p.cmd.Process.Pid)
	g.server = "http://" + addr
	if what, err := f.measure(ctx, r, c, g, n); err != nil {
		return fail(what, err)
	}
	f.rssAfter, _ = rssOf(p.cmd.Process.Pid)
	return f.rows(n)
}

// measure runs the steps on the restarted syncd at g.server; on error it names the
// step that failed.
func (f *growthFigures) measure(ctx context.Context, r *runner, c *syncdChild, g *growthClient, n int) (string, error) {
	cl := newHTTPClient(8)
	var err error
	if f.list, f.entries, err = timeList(ctx, cl, g.server, c.token); err != nil {
		return "listing", err
	}
	if f.changes, f.events, err = timeChanges(ctx, cl, g.server, c.token, 0); err != nil {
		return "changes", err
	}
	if f.adopt, err = g.once(ctx); err != nil {
		return "client, first run", err
	}
	if err := g.stillLinked(n); err != nil {
		return "client, first run", err
	}
	r.log.Info("growth client first run", "files", n, "seconds", f.adopt.wall.Seconds())
	if f.idle, err = g.once(ctx); err != nil {
		return "client, nothing to do", err
	}
	if err := g.stillLinked(n); err != nil {
		return "client, nothing to do", err
	}
	if f.catchup, err = timeCatchUp(ctx, cl, g.server, c.token, 10_000); err != nil {
		return "catch-up", err
	}
	if f.resumed, err = g.once(ctx); err != nil {
		return "client catch-up", err
	}
	if got := countFiles(filepath.Join(g.folder, "catchup")); got != 10_000 {
		return "client catch-up", fmt.Errorf("the client holds %d of the 10,000 new files", got)
	}
	return "", nil
}

// rows turns the figures of one size into the table's rows.
func (f *growthFigures) rows(n int) []Result {
	const scen = "growth"
	label := countLabel(n) + " files: "
	perFile := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	perMillion := func(b int64) float64 { return float64(b) / float64(n) * 1e6 / (1 << 20) }
	notes := fmt.Sprintf("%s files of 64 B, 1,000 a directory, one tenant; syncd child process", countLabel(n))
	client := func(c clientRun) string {
		return fmt.Sprintf("%.2f s wall, %.2f s CPU (%.1f µs/file), peak RSS %d MiB; realtime-sync-client --once child process",
			c.wall.Seconds(), c.cpu.Seconds(), perFile(c.cpu), c.maxRSS>>20)
	}
	return []Result{
		row(scen, label+"s to ready (plain restart)", f.restart.ready.Seconds(), "", 0, notes, valueAtMost(2, "s")),
		row(scen, label+"µs/file start-up check (background, nothing changed)", perFile(f.restart.checked), "", 0, notes),
		row(scen, label+"µs/file first indexing (placed directly)", perFile(f.first.checked), "", 0, notes+"; each file hashed and committed"),
		row(scen, label+"µs/entry recursive listing", float64(f.list.Microseconds())/float64(max(f.entries, 1)), "", 0, fmt.Sprintf("%d entries in %s", f.entries, f.list.Round(time.Millisecond))),
		row(scen, label+"µs/event /api/changes whole log", float64(f.changes.Microseconds())/float64(max(f.events, 1)), "", 0, fmt.Sprintf("%d events in %s, limit 10000 a page", f.events, f.changes.Round(time.Millisecond))),
		row(scen, label+"ms catch-up of 10,000 changes", ms(f.catchup), "", 0, "a reader resumed at the head before 10,000 PUTs pages /api/changes to the new head"),
		row(scen, label+"MiB RSS per 10⁶ files", perMillion(f.restart.rss-f.empty.rss), "", 0, fmt.Sprintf("RSS %d MiB after the check, %d MiB with the tenant empty, %d MiB after every step", f.restart.rss>>20, f.empty.rss>>20, f.rssAfter>>20)),
		row(scen, label+"µs/file client's first run (no state, nothing transferred)", perFile(f.adopt.wall), "", 0, client(f.adopt)+"; every file hashed"),
		row(scen, label+"µs/file client's full scan, nothing to do", perFile(f.idle.wall), "", 0, client(f.idle)+"; state loaded, folder scanned, tree listed, state saved"),
		row(scen, label+"client's peak MiB RSS (nothing to do)", float64(f.idle.maxRSS)/(1<<20), "", 0, client(f.idle)),
		row(scen, label+"s client catch-up of 10,000 changes", f.resumed.wall.Seconds(), "", 0, client(f.resumed)+"; a full scan and listing, then 10,000 downloads"),
	}
}

// timeList reads the recursive listing of the root and counts its entries.
func timeList(ctx context.Context, cl *http.Client, base, token string) (time.Duration, int, error) {
	t0 := time.Now()
	var l struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if err := getJSON(ctx, cl, base+"/api/list?recursive=true", token, &l); err != nil {
		return 0, 0, err
	}
	return time.Since(t0), len(l.Entries), nil
}

// timeChanges pages /api/changes from since to the head and counts the events.
func timeChanges(ctx context.Context, cl *http.Client, base, token string, since int64) (time.Duration, int, error) {
	t0 := time.Now()
	n := 0
	for {
		var page struct {
			Seq    int64             `json:"seq"`
			Events []json.RawMessage `json:"events"`
			More   bool              `json:"more"`
		}
		if err := getJSON(ctx, cl, fmt.Sprintf("%s/api/changes?since=%d&limit=10000", base, since), token, &page); err != nil {
			return 0, n, err
		}
		n += len(page.Events)
		since = page.Seq
		if !page.More {
			return time.Since(t0), n, nil
		}
	}
}

// timeCatchUp makes k changes (PUTs, 8 at a time) after noting the head, then times
// paging /api/changes from that head.
func timeCatchUp(ctx context.Context, cl *http.Client, base, token string, k int) (time.Duration, error) {
	var h struct {
		Seq int64 `json:"seq"`
	}
	if err := getJSON(ctx, cl, base+"/api/list?path=d0000", token, &h); err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < k; i += 8 {
				body := []byte(fmt.Sprintf("change %d", i))
				if err := put(ctx, cl, fmt.Sprintf("%s/api/files/catchup/%d/c%05d.txt", base, i%10, i), token, body, sha256Hex(body)); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return 0, err
	}
	d, n, err := timeChanges(ctx, cl, base, token, h.Seq)
	if err == nil && n < k {
		err = fmt.Errorf("catch-up saw %d events, want %d", n, k)
	}
	return d, err
}

// getJSON GETs url with token and decodes a 200 answer into v.
func getJSON(ctx context.Context, cl *http.Client, url, token string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("GET %s: %d %s", hidePath(url), resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
