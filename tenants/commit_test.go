package tenants

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// checkConsistent checks SPEC §3's promises after a run: the listener got every event
// once, gapless from 1 and in seq order; the changes feed holds the same events; the
// replayed log equals the listing; every indexed file's content on disk has its hash
// and nothing unindexed lies on disk; no quota or entry reservation is left over.
func checkConsistent(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	evs := e.evs()
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("listener event %d has seq %d: not gapless and ordered", i, ev.Seq)
		}
	}
	page, err := e.sp.Changes(ctx, 0, "", protocol.MaxChangesLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != len(evs) {
		t.Fatalf("changes feed has %d events, listeners got %d", len(page.Events), len(evs))
	}
	for i := range evs {
		if page.Events[i].Seq != evs[i].Seq || page.Events[i].Operation.Meta().Hash != evs[i].Operation.Meta().Hash {
			t.Fatalf("event %d differs between feed and listener", i)
		}
	}
	if _, head := e.sp.Head(); head != int64(len(evs)) {
		t.Fatalf("head %d, %d events", head, len(evs))
	}
	list := e.list()
	sameTree(t, list, replay(evs))
	onDisk := map[string]bool{}
	err = filepath.WalkDir(e.filesDir(), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.filesDir(), path)
		if rel != "." {
			onDisk[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, m := range list {
		if !onDisk[p] {
			t.Errorf("%s indexed but not on disk", p)
		}
		if !m.IsDirectory && sum(e.read(p)) != m.Hash {
			t.Errorf("%s: disk content differs from the index", p)
		}
		delete(onDisk, p)
	}
	for p := range onDisk {
		t.Errorf("%s on disk but not indexed", p)
	}
	if tmp, _ := os.ReadDir(filepath.Join(e.dir, "tenants", e.tenant, "tmp")); len(tmp) != 0 {
		t.Errorf("%d temp files left", len(tmp))
	}
	e.sp.hmu.Lock()
	defer e.sp.hmu.Unlock()
	if e.sp.reserved != 0 || e.sp.pendingUsed != 0 || e.sp.pendingEntries != 0 {
		t.Errorf("left over: reserved %d, pending used %d, pending entries %d", e.sp.reserved, e.sp.pendingUsed, e.sp.pendingEntries)
	}
	var used, n int64
	for _, m := range list {
		n++
		if !m.IsDirectory {
			used += m.Size
		}
	}
	if e.sp.used != used || e.sp.entries != n {
		t.Errorf("counters used %d entries %d, index has %d and %d", e.sp.used, e.sp.entries, used, n)
	}
}

// TestGroupCommitConcurrent runs many concurrent uploads (new files in shared and new
// directories, overwrites of one hot path, identical re-uploads) and checks that
// every change got exactly one event, gapless and in seq order, and index == disk.
func TestGroupCommitConcurrent(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	const workers, each = 8, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	changes := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var p string
				data := []byte(fmt.Sprintf("worker %d file %d", w, i))
				switch i % 4 {
				case 0:
					p = fmt.Sprintf("small/f-%d-%d", w, i)
				case 1:
					p = fmt.Sprintf("deep/w%d/n%d/f", w, i)
				case 2:
					p = "hot.bin"
				case 3:
					p = "same.bin" // identical content from every worker
					data = []byte("identical")
				}
				_, _, err := e.sp.Put(ctx, p, bytes.NewReader(data), PutOptions{Size: int64(len(data)), SHA256: sum(data),
					Source: Source{ClientID: fmt.Sprintf("c%d", w)}})
				if err != nil {
					t.Errorf("Put(%s): %v", p, err)
					return
				}
				mu.Lock()
				changes++
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	checkConsistent(t, e)
	// Every Put changed something except the identical re-uploads of same.bin after
	// the first, and hot.bin writes equal to its current content (none: contents
	// are distinct).
	want := changes - (workers*each/4 - 1)
	if got := len(e.evs()); got != want {
		t.Fatalf("%d events, want %d", got, want)
	}
	vs, err := e.sp.Versions(ctx, "hot.bin")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != workers*each/4-1 {
		t.Fatalf("hot.bin has %d versions, want %d", len(vs), workers*each/4-1)
	}
	// Each event carries the source of its own upload.
	for _, ev := range e.evs() {
		if ev.SourceClient == "" {
			t.Fatalf("event %d without its source", ev.Seq)
		}
	}
	e.reopen() // recovery finds nothing to reconcile
	checkConsistent(t, e)
}

// queueLen returns how many uploads wait for the next batch, and whether a leader is
// committing.
func queueLen(s *Space) (int, bool) {
	s.gc.mu.Lock()
	defer s.gc.mu.Unlock()
	return len(s.gc.queue), s.gc.leading
}

// putResult is what one Put returned.
type putResult struct {
	meta    protocol.Metadata
	created bool
	err     error
}

type batchPut struct {
	path string
	data []byte
	o    PutOptions
}

// batchOf starts the uploads of puts in order so that they all land in one batch: the
// test holds the commit section while a first upload leads a batch of its own, queues
// the others behind it, then lets go. Each of puts must pass the checks made before
// the body is read (against the committed index), or it would never queue. It returns
// each upload's result.
func batchOf(t *testing.T, e *env, first batchPut, puts []batchPut) (putResult, []putResult) {
	t.Helper()
	ctx := context.Background()
	res := make([]putResult, len(puts))
	var firstRes putResult
	var wg sync.WaitGroup
	do := func(bp batchPut, out *putResult) {
		defer wg.Done()
		o := bp.o
		o.Size = int64(len(bp.data))
		m, c, err := e.sp.Put(ctx, bp.path, bytes.NewReader(bp.data), o)
		*out = putResult{m, c, err}
	}
	e.sp.mu.Lock()
	locked := true
	defer func() {
		if locked { // a wait failed: let the uploads finish
			e.sp.mu.Unlock()
			wg.Wait()
		}
	}()
	wg.Add(1)
	go do(first, &firstRes)
	waitFor(t, 5*time.Second, "the first upload to lead", func() bool {
		n, leading := queueLen(e.sp)
		return n == 0 && leading
	})
	for i, bp := range puts {
		wg.Add(1)
		go do(bp, &res[i])
		waitFor(t, 5*time.Second, "the upload to queue", func() bool {
			n, _ := queueLen(e.sp)
			return n == i+1
		})
	}
	locked = false
	e.sp.mu.Unlock()
	wg.Wait()
	return firstRes, res
}

// TestGroupCommitBatch commits one batch whose members depend on each other and some
// of which fail on their own: a new file creating its directory, an overwrite of it
// within the batch (versioned), an identical re-upload of that (no change), a member
// whose BeforeCommit fails, one whose If-None-Match fails only because of an earlier
// member, one conflicting with a parent written as a file earlier in the batch, and a
// last good one.
func TestGroupCommitBatch(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	e.put("pre.bin", []byte("before"))
	denied := errors.New("token revoked")
	first, res := batchOf(t, e, batchPut{path: "lead.bin", data: []byte("lead")}, []batchPut{
		{path: "x/new1", data: []byte("one")},
		{path: "x/new1", data: []byte("two")},
		{path: "x/new1", data: []byte("two")},
		{path: "x/denied", data: []byte("no"), o: PutOptions{BeforeCommit: func() error { return denied }}},
		{path: "x/new1", data: []byte("three"), o: PutOptions{IfNoneMatch: true}},
		{path: "f", data: []byte("a file")},
		{path: "f/under", data: []byte("under a file")},
		{path: "x/new3", data: []byte("three"), o: PutOptions{Source: Source{ClientID: "last"}}},
	})
	if first.err != nil || first.meta.Seq != 2 || !first.created {
		t.Fatalf("first: %+v", first)
	}
	for i, want := range []struct {
		seq     int64
		created bool
		code    protocol.Code
	}{{3, true, ""}, {4, false, ""}, {4, false, ""}, {0, false, "denied"}, {0, false, protocol.CodePreconditionFailed},
		{5, true, ""}, {0, false, protocol.CodeConflict}, {6, true, ""}} {
		r := res[i]
		switch {
		case want.code == "denied":
			if !errors.Is(r.err, denied) {
				t.Errorf("member %d: err %v, want the BeforeCommit error", i, r.err)
			}
		case want.code != "":
			if protocol.CodeOf(r.err) != want.code {
				t.Errorf("member %d: err %v, want %s", i, r.err, want.code)
			}
		default:
			if r.err != nil || r.meta.Seq != want.seq || r.created != want.created {
				t.Errorf("member %d: %+v, want seq %d created %v", i, r, want.seq, want.created)
			}
		}
	}
	if res[2].meta != res[1].meta {
		t.Errorf("identical re-upload answered %+v, the write it matched %+v", res[2].meta, res[1].meta)
	}
	evs := e.evs()
	var ops []string
	for _, ev := range evs {
		ops = append(ops, ev.Operation.Kind()+" "+ev.Operation.Meta().Path)
	}
	want := []string{"Create pre.bin", "Create lead.bin", "Create x/new1", "Update x/new1", "Create f", "Create x/new3"}
	if fmt.Sprint(ops) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", ops, want)
	}
	if evs[5].SourceClient != "last" {
		t.Fatalf("source %q", evs[5].SourceClient)
	}
	// One notice per commit: pre.bin, the leader's own batch, then the batch. The bus
	// sender may have coalesced consecutive ones (then without their events).
	waitFor(t, 10*time.Second, "the notices up to seq 6", func() bool {
		ns := busOf(e.reg).published()
		return len(ns) > 0 && ns[len(ns)-1].Last == 6
	})
	var spans []string
	next := int64(1)
	for _, n := range busOf(e.reg).published() {
		if n.TenantName != e.tenant || n.TenantID != e.sp.ID() || n.Epoch == "" || n.First != next ||
			n.Events != nil && (len(n.Events) != int(n.Last-n.First+1) || n.Events[0].Seq != n.First || n.Events[len(n.Events)-1].Seq != n.Last) {
			t.Errorf("notice %+v", n)
		}
		next = n.Last + 1
		spans = append(spans, fmt.Sprintf("%d-%d", n.First, n.Last))
	}
	switch fmt.Sprint(spans) {
	case "[1-1 2-2 3-6]", "[1-2 3-6]", "[1-1 2-6]", "[1-6]":
	default:
		t.Fatalf("notices %v, want one per group commit [1-1 2-2 3-6] (or consecutive ones coalesced)", spans)
	}
	if got := string(e.read("x/new1")); got != "two" {
		t.Fatalf("x/new1 = %q", got)
	}
	vs, err := e.sp.Versions(ctx, "x/new1")
	if err != nil || len(vs) != 1 || vs[0].Hash != sum([]byte("one")) {
		t.Fatalf("versions of x/new1: %+v %v", vs, err)
	}
	if got := string(e.read("pre.bin")); got != "before" {
		t.Fatalf("pre.bin = %q", got)
	}
	checkConsistent(t, e)
}

// TestGroupCommitBatchFailure fails a whole batch after its members are on disk,
// inside the SQL transaction: every member gets the error, the disk is as before (old
// contents back, new files and directories gone, no versions left), no seq is used and
// the next upload continues the log without a gap.
func TestGroupCommitBatchFailure(t *testing.T) {
	for _, stage := range []string{"commit"} {
		t.Run(stage, func(t *testing.T) {
			e := newEnv(t, Limits{}, Options{})
			ctx := context.Background()
			e.put("keep.bin", []byte("k0"))
			e.put("d/old", []byte("o0"))
			before := e.list()
			boom := errors.New("injected fault")
			batchFault = func(s string) error {
				if s == stage {
					return boom
				}
				return nil
			}
			var once sync.Once
			reset := func() { once.Do(func() { batchFault = nil }) }
			t.Cleanup(reset)
			// Every batch fails while the fault is set: the lead's own and the next.
			first, res := batchOf(t, e, batchPut{path: "lead", data: []byte("lead")}, []batchPut{
				{path: "keep.bin", data: []byte("k1")},
				{path: "z/new", data: []byte("new")},
				{path: "keep.bin", data: []byte("k2")},
				{path: "d/old", data: []byte("o1")},
				{path: "keep.bin", data: []byte("k0")}, // equals the committed content: no change, no error
			})
			reset()
			// The last member writes k0 again, but after k2 in the same batch: a real
			// overwrite that fails with the batch.
			for i, r := range append([]putResult{first}, res...) {
				if !errors.Is(r.err, boom) || protocol.CodeOf(r.err) != protocol.CodeInternal {
					t.Errorf("upload %d: %+v, want the injected fault as an internal error", i, r)
				}
			}
			sameTree(t, e.list(), before)
			if got := string(e.read("keep.bin")); got != "k0" {
				t.Fatalf("keep.bin = %q after the failed batch", got)
			}
			if got := string(e.read("d/old")); got != "o0" {
				t.Fatalf("d/old = %q after the failed batch", got)
			}
			if _, err := os.Stat(filepath.Join(e.filesDir(), "z")); !os.IsNotExist(err) {
				t.Fatalf("directory z left on disk: %v", err)
			}
			vdir := filepath.Join(e.dir, "tenants", e.tenant, "versions")
			if vs, _ := os.ReadDir(vdir); len(vs) != 0 {
				t.Fatalf("%d version files left", len(vs))
			}
			if n := len(e.evs()); n != 2 {
				t.Fatalf("%d events after the failed batch, want 2", n)
			}
			checkConsistent(t, e)
			m := e.put("after", []byte("fine"))
			if m.Seq != 3 {
				t.Fatalf("next seq %d, want 3", m.Seq)
			}
			checkConsistent(t, e)
			e.reopen()
			checkConsistent(t, e)
			vs, err := e.sp.Versions(ctx, "keep.bin")
			if err != nil || len(vs) != 0 {
				t.Fatalf("versions of keep.bin after the failed batch: %+v %v", vs, err)
			}
		})
	}
}

// TestGroupCommitSyncFailureAfterCommit: the directory fsyncs run beside the SQL
// commit; when they fail and the commit did not, the changes stay committed and
// published (index, disk and log agree, no gap), but no member gets a success: a
// retry is an identical PUT.
func TestGroupCommitSyncFailureAfterCommit(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	e.put("keep.bin", []byte("k0"))
	boom := errors.New("injected fsync failure")
	var once sync.Once
	batchFault = func(s string) error {
		if s == "sync" {
			return boom
		}
		return nil
	}
	reset := func() { once.Do(func() { batchFault = nil }) }
	t.Cleanup(reset)
	first, res := batchOf(t, e, batchPut{path: "lead", data: []byte("lead")}, []batchPut{
		{path: "keep.bin", data: []byte("k1")},
		{path: "z/new", data: []byte("new")},
	})
	reset()
	for i, r := range append([]putResult{first}, res...) {
		if !errors.Is(r.err, boom) || protocol.CodeOf(r.err) != protocol.CodeInternal {
			t.Errorf("upload %d: %+v, want the injected fault as an internal error", i, r)
		}
	}
	got := e.list()
	for p, want := range map[string]string{"lead": "lead", "keep.bin": "k1", "z/new": "new"} {
		if m, ok := got[p]; !ok || m.Hash != sum([]byte(want)) {
			t.Errorf("%s: %+v, want the committed content %q", p, m, want)
		}
		if string(e.read(p)) != want {
			t.Errorf("%s on disk: %q", p, e.read(p))
		}
	}
	checkConsistent(t, e)
	// The retry is an identical PUT: success, no new change.
	_, head := e.sp.Head()
	m := e.put("keep.bin", []byte("k1"))
	if _, h := e.sp.Head(); h != head || m.Hash != sum([]byte("k1")) {
		t.Fatalf("retry made a change: head %d → %d", head, h)
	}
	e.reopen()
	checkConsistent(t, e)
}

// TestGroupCommitPanicDoesNotHang: a panic inside a batch (a bug) fails every member of
// that batch with an internal error, and the tenant's next upload is committed instead
// of waiting forever for a leader that never handed over.
func TestGroupCommitPanicDoesNotHang(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	var once sync.Once
	batchFault = func(stage string) error {
		if stage == "sync" {
			once.Do(func() { panic("injected bug") })
		}
		return nil
	}
	t.Cleanup(func() { batchFault = nil })
	first, res := batchOf(t, e, batchPut{path: "lead", data: []byte("lead")}, []batchPut{
		{path: "a", data: []byte("a")},
		{path: "b", data: []byte("b")},
	})
	for i, r := range append([]putResult{first}, res...) {
		if protocol.CodeOf(r.err) != protocol.CodeInternal {
			t.Errorf("upload %d: %+v, want an internal error", i, r)
		}
	}
	done := make(chan protocol.Metadata, 1)
	go func() { done <- e.put("after", []byte("fine")) }()
	select {
	case m := <-done:
		if m.Path != "after" || m.Seq == 0 {
			t.Fatalf("upload after the panic: %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upload after a panicking batch hangs")
	}
}

// TestGroupCommitLimits runs concurrent uploads against the quota and the entry limit:
// what is on disk in a batch but not yet committed counts, so the limits hold and
// nothing is left reserved.
func TestGroupCommitLimits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
		o      Options
		max    int
		code   protocol.Code
	}{
		{"quota", Limits{}, Options{Quota: 10 << 10}, 2, protocol.CodeQuotaExceeded},
		{"entries", Limits{MaxEntries: 4}, Options{}, 3, protocol.CodeTooLarge}, // dir + 3 files
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.limits, tc.o)
			ctx := context.Background()
			var wg sync.WaitGroup
			var mu sync.Mutex
			ok := 0
			for i := 0; i < 12; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					data := bytes.Repeat([]byte{byte(i)}, 4<<10)
					_, _, err := e.sp.Put(ctx, fmt.Sprintf("d/f%02d", i), bytes.NewReader(data), PutOptions{Size: int64(len(data))})
					switch {
					case err == nil:
						mu.Lock()
						ok++
						mu.Unlock()
					case protocol.CodeOf(err) != tc.code:
						t.Errorf("upload %d: %v, want %s", i, err, tc.code)
					}
				}(i)
			}
			wg.Wait()
			if ok == 0 || ok > tc.max {
				t.Fatalf("%d uploads succeeded, want 1..%d", ok, tc.max)
			}
			u, err := e.sp.Usage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if u.Used != int64(ok)*4<<10 {
				t.Fatalf("used %d for %d files", u.Used, ok)
			}
			checkConsistent(t, e)
		})
	}
}

// TestGroupCommitOrderedListeners checks that listeners see each batch's events in
// seq order, each exactly once, even with several tenants committing at once.
func TestGroupCommitOrderedListeners(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	if _, err := e.reg.Create(ctx, "t2", Options{}); err != nil {
		t.Fatal(err)
	}
	sp2, err := e.reg.Space(ctx, "t2")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seqs := map[string][]int64{}
	e.reg.seq.listen(func(_, tenant string, ev protocol.Event) {
		mu.Lock()
		seqs[tenant] = append(seqs[tenant], ev.Seq)
		mu.Unlock()
	}, nil)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			sp := e.sp
			if w%2 == 1 {
				sp = sp2
			}
			for i := 0; i < 10; i++ {
				data := []byte(fmt.Sprintf("%d-%d", w, i))
				if _, _, err := sp.Put(ctx, fmt.Sprintf("w%d/f%d", w, i), bytes.NewReader(data), PutOptions{Size: int64(len(data))}); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, tn := range []string{"t1", "t2"} {
		got := seqs[tn]
		if len(got) != 40 || !sort.SliceIsSorted(got, func(i, j int) bool { return got[i] < got[j] }) {
			t.Fatalf("tenant %s: listener seqs %v", tn, got)
		}
		for i, s := range got {
			if s != int64(i+1) {
				t.Fatalf("tenant %s: seq %d at %d", tn, s, i)
			}
		}
	}
}

// TestCommitAlongsideOnClosedSpace: a commit that finds its space closed (a Delete
// racing an upload's group commit) still starts its Alongside work once: the group
// commit's leader waits for that work's result (its directory flush), and would
// otherwise wait forever, holding the space's commit section.
func TestCommitAlongsideOnClosedSpace(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	e.put("a.bin", []byte("x"))
	s := e.sp
	s.hmu.Lock()
	s.closed = true
	s.hmu.Unlock()
	defer func() {
		s.hmu.Lock()
		s.closed = false // let the env's cleanup close it as usual
		s.hmu.Unlock()
	}()
	ran := make(chan struct{})
	_, err := s.cm.commitTxAlong(context.Background(), Source{}, func() func() { return func() { close(ran) } }, nil, func(*wtx) error {
		t.Error("a closed space ran a transaction")
		return nil
	})
	if protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Errorf("commit on a closed space: %v, want %s", err, protocol.CodeNotFound)
	}
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("Alongside never ran for a commit on a closed space")
	}
}
