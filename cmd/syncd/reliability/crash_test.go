package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// crashWorkload is the concurrent writer of one crash round: uploads, deletes, moves
// of files and directories, mkdirs and recursive deletes on a small tree, so that
// SIGKILL lands in every kind of write.
type crashWorkload struct {
	a       *api
	mu      sync.Mutex
	written map[string]bool  // hash of every content ever sent
	ok      atomic.Int64     // 2xx answers
	refused atomic.Int64     // 4xx answers (conflicts of the random workload)
	bad     []string         // 5xx answers: never expected
	acked   map[int64]string // seq answered in a 2xx upload → its content hash
	maxSeq  int64            // highest seq any 2xx answer carried
}

func (w *crashWorkload) record(op string, st int, body []byte) {
	switch {
	case st >= 200 && st < 300:
		w.ok.Add(1)
		var m struct {
			Seq  int64  `json:"seq"`
			Hash string `json:"hash"`
		}
		if json.Unmarshal(body, &m) == nil {
			w.mu.Lock()
			w.maxSeq = max(w.maxSeq, m.Seq)
			if strings.HasPrefix(op, "put") && m.Seq > 0 {
				w.acked[m.Seq] = m.Hash
			}
			w.mu.Unlock()
		}
	case st >= 400 && st < 500:
		w.refused.Add(1)
	case st >= 500:
		w.mu.Lock()
		w.bad = append(w.bad, fmt.Sprintf("%s: %d %s", op, st, body))
		w.mu.Unlock()
	}
}

func (w *crashWorkload) run(ctx context.Context, worker, round int) {
	r := rand.New(rand.NewPCG(uint64(worker), uint64(round)))
	dir := func() string { return fmt.Sprintf("d%d", r.IntN(4)) }
	file := func() string { return fmt.Sprintf("%s/s%d/f%d.bin", dir(), r.IntN(2), r.IntN(8)) }
	for n := 0; ctx.Err() == nil; n++ {
		var st int
		var body []byte
		var err error
		op := r.IntN(100)
		switch {
		case op < 55: // upload: 1 KiB … 768 KiB so that a kill lands mid-body
			size := 1<<10 + r.IntN(768<<10)
			content := make([]byte, size)
			for i := range content {
				content[i] = byte(r.Uint32())
			}
			copy(content, fmt.Sprintf("round %d worker %d write %d\n", round, worker, n))
			w.mu.Lock()
			w.written[hashOf(content)] = true
			w.mu.Unlock()
			st, body, err = w.a.put(ctx, file(), content)
			if err == nil {
				w.record("put", st, body)
				continue
			}
		case op < 70:
			st, body, _, err = w.a.do(ctx, http.MethodDelete, filePath(file()), nil, nil)
		case op < 85:
			b, _ := json.Marshal(map[string]string{"from": file(), "to": file()})
			st, body, _, err = w.a.do(ctx, http.MethodPost, "/api/move", strings.NewReader(string(b)), map[string]string{"Content-Type": "application/json"})
		case op < 90:
			b, _ := json.Marshal(map[string]string{"from": dir() + fmt.Sprintf("/s%d", r.IntN(2)), "to": dir() + fmt.Sprintf("/s%d", r.IntN(3))})
			st, body, _, err = w.a.do(ctx, http.MethodPost, "/api/move", strings.NewReader(string(b)), map[string]string{"Content-Type": "application/json"})
		case op < 95:
			b, _ := json.Marshal(map[string]string{"path": dir() + fmt.Sprintf("/e%d", r.IntN(3))})
			st, body, _, err = w.a.do(ctx, http.MethodPost, "/api/mkdir", strings.NewReader(string(b)), map[string]string{"Content-Type": "application/json"})
		default:
			st, body, _, err = w.a.do(ctx, http.MethodDelete, "/api/files/"+dir()+fmt.Sprintf("/s%d", r.IntN(2))+"?recursive=true", nil, nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(20 * time.Millisecond) // server killed: wait for the round's end
			continue
		}
		w.record(fmt.Sprint("op", op), st, body)
	}
}

// firstWriteWait bounds how long a crash round waits for its first 2xx before the
// kill: the round's random delay alone may end before a loaded machine answers any.
const firstWriteWait = 60 * time.Second

// TestCrash SIGKILLs a syncd subprocess during concurrent uploads, deletes and moves,
// restarts it and checks after every round: the index equals the disk, the change log
// is gapless and replays to the listing, and every file holds a complete content that
// was written (no partial file is visible). CI: 3 rounds; -crash-rounds=10 for the
// full run.
func TestCrash(t *testing.T) {
	rounds := *crashRounds
	if rounds <= 0 {
		rounds = 3
	}
	bin := syncdBinary(t)
	dir := t.TempDir()
	filesDir := filepath.Join(dir, "syncd-data", "tenants", "default", "files")
	w := &crashWorkload{written: map[string]bool{}, acked: map[int64]string{}}
	var prevEpoch string
	var prevSeq int64
	for round := range rounds {
		p := startProc(t, bin, dir)
		tok, err := os.ReadFile(filepath.Join(dir, "syncd-data", "default.token"))
		if err != nil {
			t.Fatal(err)
		}
		a := newAPI("http://"+p.addr, strings.TrimSpace(string(tok)))
		w.a = a
		ctx := context.Background()

		// After the restart: recovery must have made the index equal the disk.
		if round > 0 {
			p.waitStartCheck(t)
			epoch, seq := checkCrashInvariants(t, a, filesDir, w, round)
			if prevEpoch != "" && epoch != prevEpoch {
				t.Logf("round %d: recovery started a new epoch (%s → %s)", round, prevEpoch, epoch)
			} else if seq < prevSeq {
				t.Errorf("round %d: seq went back from %d to %d within epoch %s", round, prevSeq, seq, epoch)
			}
			prevEpoch, prevSeq = epoch, seq
		}

		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		okBefore := w.ok.Load()
		for worker := range 6 {
			wg.Add(1)
			go func() { defer wg.Done(); w.run(wctx, worker, round) }()
		}
		r := rand.New(rand.NewPCG(uint64(round), 7))
		time.Sleep(time.Duration(600+r.IntN(1400)) * time.Millisecond)
		// A loaded machine (race detector, other packages' tests) may not have
		// answered one write yet: wait for the first, so the kill lands mid-workload.
		waitUntil(firstWriteWait, func() bool { return w.ok.Load() > okBefore })
		p.kill() // SIGKILL mid-write
		cancel()
		wg.Wait()
		a.close()
		t.Logf("round %d: killed after %d successful writes (total refused %d)", round, w.ok.Load()-okBefore, w.refused.Load())
		if w.ok.Load() == okBefore {
			t.Errorf("round %d: no write succeeded before the kill", round)
		}
	}
	// Final restart and check.
	p := startProc(t, bin, dir)
	tok, _ := os.ReadFile(filepath.Join(dir, "syncd-data", "default.token"))
	a := newAPI("http://"+p.addr, strings.TrimSpace(string(tok)))
	defer a.close()
	p.waitStartCheck(t)
	checkCrashInvariants(t, a, filesDir, w, rounds)
	if len(w.bad) > 0 {
		t.Errorf("5xx answers during the workload:\n%s", strings.Join(w.bad[:min(len(w.bad), 20)], "\n"))
	}
	p.kill()
	if t.Failed() {
		t.Logf("syncd logs (last run):\n%s", tail(p.logs.String(), 100))
	}
}

// checkCrashInvariants compares index and disk, the change log and the contents.
func checkCrashInvariants(t *testing.T, a *api, filesDir string, w *crashWorkload, round int) (string, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := a.list(ctx)
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	index := serverTree(l)
	disk, err := diskTree(filesDir, func(rel string, d fs.DirEntry) bool { return false })
	if err != nil {
		t.Fatalf("round %d: walk: %v", round, err)
	}
	if d := diffTrees("index", index, "disk", disk, 20); d != "" {
		t.Errorf("round %d: index != disk after restart:\n%s", round, d)
	}
	epoch, events, err := a.changes(ctx)
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	if epoch != l.Epoch {
		t.Errorf("round %d: changes epoch %s, list epoch %s", round, epoch, l.Epoch)
	}
	if err := checkGapless(events); err != nil {
		t.Errorf("round %d: %v", round, err)
	}
	if int64(len(events)) != l.Seq {
		t.Errorf("round %d: list seq %d, change log has %d events", round, l.Seq, len(events))
	}
	// Durability: whatever was answered 2xx before the kill survived it.
	if l.Seq < w.maxSeq {
		t.Errorf("round %d: head seq %d after restart, but seq %d was answered before the kill", round, l.Seq, w.maxSeq)
	}
	for seq, hash := range w.acked {
		if seq > int64(len(events)) {
			continue // reported above
		}
		ev := events[seq-1]
		if k := ev.Operation.Kind(); (k != "Create" && k != "Update") || ev.Operation.Meta().Hash != hash {
			t.Errorf("round %d: upload answered with seq %d (hash %.12s) but the log holds %s %.12s there", round, seq, hash, k, ev.Operation.Meta().Hash)
		}
	}
	if d := diffTrees("replayed log", replay(events), "list", index, 20); d != "" {
		t.Errorf("round %d: replaying the change log does not give the listing:\n%s", round, d)
	}
	files := 0
	for p, e := range index {
		if e.Dir {
			continue
		}
		files++
		if !w.written[e.Hash] {
			t.Errorf("round %d: %s holds content %s that no one wrote (partial file?)", round, p, e.Hash)
		}
	}
	// Downloads agree with the listing (a sample, to keep the round short).
	n := 0
	for p, e := range index {
		if e.Dir || n >= 10 {
			continue
		}
		n++
		st, body, h, err := a.do(ctx, http.MethodGet, filePath(p), nil, nil)
		if err != nil || st != http.StatusOK {
			t.Errorf("round %d: GET %s: %v %d", round, p, err, st)
			continue
		}
		if hashOf(body) != e.Hash || h.Get("ETag") != `"`+e.Hash+`"` {
			t.Errorf("round %d: GET %s: body hash %s, ETag %s, listed %s", round, p, hashOf(body), h.Get("ETag"), e.Hash)
		}
	}
	t.Logf("round %d: after restart %d files, %d entries, %d events (epoch %s)", round, files, len(index), len(events), epoch)
	return epoch, l.Seq
}
