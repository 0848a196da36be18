package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathrule"
)

// TestSaveStateWritesAfterSyncAll: the state file (whose base vouches for downloaded
// files) appears only after the file system flush has returned, although the state is
// encoded while the flush runs.
func TestSaveStateWritesAfterSyncAll(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFileName)
	release := make(chan struct{})
	entered := make(chan struct{})
	returned := make(chan error, 1)
	p := &persisted{Epoch: "e", Seq: 7, Base: map[string]baseEntry{"a": {Path: "a", Hash: "h"}}, Local: map[string]localEntry{}}
	go func() {
		returned <- saveState(dir, p, func() error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	time.Sleep(50 * time.Millisecond) // time enough to write, were it not waiting
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("state file written before the flush returned (stat: %v)", err)
	}
	select {
	case err := <-returned:
		t.Fatalf("saveState returned before the flush did: %v", err)
	default:
	}
	close(release)
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	st, _, err := loadState(dir)
	if err != nil || st.Seq != 7 || st.Base["a"].Hash != "h" {
		t.Fatalf("saved state: %+v, %v", st, err)
	}
}

// TestUnpackerFlushesInBackground: an archive of many files starts a flush of the
// file system every archiveFlushEvery files, never two at once, and wait returns only
// once the last one has.
func TestUnpackerFlushesInBackground(t *testing.T) {
	var running, most, calls atomic.Int32
	u := &unpacker{done: map[*action]bool{}, jobs: make(chan unpackJob)}
	u.flush = func() error {
		calls.Add(1)
		n := running.Add(1)
		if n > most.Load() {
			most.Store(n)
		}
		time.Sleep(5 * time.Millisecond)
		running.Add(-1)
		return nil
	}
	for range 3*archiveFlushEvery + 1 {
		u.written(&action{})
	}
	u.wait()
	if running.Load() != 0 {
		t.Fatal("a flush still runs after wait")
	}
	if c := calls.Load(); c < 1 || c > 3 {
		t.Fatalf("%d flushes for %d files", c, 3*archiveFlushEvery+1)
	}
	if most.Load() != 1 {
		t.Fatalf("%d flushes at once", most.Load())
	}
}

// sampleState is a state of n files under n/100 directories, with mixed-case names.
func sampleState(n int) *persisted {
	p := &persisted{Version: stateVersion, Root: "/home/u/Sync", ClientID: "c-1", Epoch: "ep", Seq: int64(n),
		Base: make(map[string]baseEntry, n), Local: make(map[string]localEntry, n)}
	for i := range n {
		path := fmt.Sprintf("d%04d/file-%07d.txt", i/100, i)
		if i%7 == 0 {
			path = fmt.Sprintf("D%04d/File-%07d.TXT", i/100, i)
		}
		k := pathrule.FoldKey(path)
		h := fmt.Sprintf("%064x", i)
		p.Base[k] = baseEntry{Path: path, Hash: h, Name: map[bool]string{true: "x\"é<"}[i%11 == 0]}
		p.Local[k] = localEntry{Path: path, Size: int64(i), MtimeNs: 1e18 + int64(i), Ino: uint64(i), Hash: h, At: 2e18}
	}
	return p
}

// TestStateFileReadsOldFormat: a state file written by the previous client (one
// json.Marshal of persisted, no counts) loads into the same state, and a file written
// now is read back equal, and by the old reader (json.Unmarshal) too.
func TestStateFileReadsOldFormat(t *testing.T) {
	want := sampleState(500)
	want.Base["z"] = baseEntry{Path: "z", Dir: true}
	old, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFileName), old, 0o600); err != nil {
		t.Fatal(err)
	}
	got, found, err := loadState(dir)
	if err != nil || !found || !reflect.DeepEqual(got, want) {
		t.Fatalf("old-format file: found %v, err %v, equal %v", found, err, reflect.DeepEqual(got, want))
	}
	if err := saveState(dir, want, nil); err != nil {
		t.Fatal(err)
	}
	got, found, err = loadState(dir)
	if err != nil || !found || !reflect.DeepEqual(got, want) {
		t.Fatalf("new file: found %v, err %v, equal %v", found, err, reflect.DeepEqual(got, want))
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	var back persisted
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, want) {
		t.Fatalf("the old reader cannot read the new file: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("files left in the state dir: %v", ents)
	}
}

// TestStateFileDamaged: a truncated, foreign or null-mapped file gives an empty state
// (or the maps it has), never an error.
func TestStateFileDamaged(t *testing.T) {
	full, _ := json.Marshal(sampleState(20))
	for name, tc := range map[string]struct {
		body  string
		found bool
	}{
		"truncated":   {string(full[:len(full)/2]), false},
		"not json":    {"garbage", false},
		"array":       {"[1,2]", false},
		"old version": {`{"version":0,"base":{}}`, false},
		"null maps":   {`{"version":1,"root":"/r","base":null,"local":null,"extra":[1,{"a":2}]}`, true},
		"empty":       {"", false},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, stateFileName), []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		st, found, err := loadState(dir)
		if err != nil || found != tc.found || st.Base == nil || st.Local == nil || (!found && len(st.Base) != 0) {
			t.Errorf("%s: found %v, err %v, %d base entries", name, found, err, len(st.Base))
		}
	}
}

// BenchmarkStateFile loads and saves a state of stateBenchN files (env
// SYNCSPACE_STATE_N, default 10⁵); -benchmem gives the allocations a run.
func BenchmarkStateFile(b *testing.B) {
	n := 100_000
	if s := os.Getenv("SYNCSPACE_STATE_N"); s != "" {
		fmt.Sscan(s, &n)
	}
	dir := b.TempDir()
	p := sampleState(n)
	if err := saveState(dir, p, nil); err != nil {
		b.Fatal(err)
	}
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if st, found, err := loadState(dir); err != nil || !found || len(st.Local) != n {
				b.Fatal(err)
			}
		}
	})
	b.Run("save", func(b *testing.B) {
		for b.Loop() {
			if err := saveState(dir, p, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The previous reader (a json.Decoder over the stream), for comparison.
	b.Run("load-decoder", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(filepath.Join(dir, stateFileName))
			if err != nil {
				b.Fatal(err)
			}
			q, err := decodeStateJSON(f)
			f.Close()
			if err != nil || len(q.Local) != n {
				b.Fatal(err)
			}
		}
	})
	// The previous client's way, for comparison: the whole file in one []byte.
	b.Run("load-whole", func(b *testing.B) {
		for b.Loop() {
			raw, err := os.ReadFile(filepath.Join(dir, stateFileName))
			var q persisted
			if err != nil || json.Unmarshal(raw, &q) != nil || len(q.Local) != n {
				b.Fatal(err)
			}
		}
	})
	b.Run("save-whole", func(b *testing.B) {
		for b.Loop() {
			raw, err := json.Marshal(p)
			if err != nil || fsys.WriteFileAtomic(filepath.Join(dir, stateFileName), raw, 0o600) != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestOpenSavesOnlyANewState: Open writes the state file when there is none (the new
// client id must survive) or when the identity changed, and leaves an up-to-date one
// alone (a restart does not rewrite a state of a million entries).
func TestOpenSavesOnlyANewState(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, stateDirName, stateFileName)
	open := func(id string) os.FileInfo {
		t.Helper()
		e, err := Open(Options{Root: dir, Remote: &hostileRemote{}, OpenFS: testOpenFS(), ClientID: id,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(state)
		if err != nil {
			t.Fatalf("no state file after Open: %v", err)
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		return fi
	}
	first := open("")
	if again := open(""); !os.SameFile(first, again) {
		t.Fatal("Open rewrote a state file that held the same state")
	}
	if other := open("client-b"); os.SameFile(first, other) {
		t.Fatal("Open kept a state file of another client id")
	}
}

// TestSaveStateKeepsOldOnFailedFlush: when the file-system flush before the save
// fails, the state file is not replaced (the old base stays and the next pass compares
// again) and saveState says why.
func TestSaveStateKeepsOldOnFailedFlush(t *testing.T) {
	dir := t.TempDir()
	old := &persisted{Epoch: "e", Seq: 3, Base: map[string]baseEntry{"a": {Path: "a", Hash: "old"}}, Local: map[string]localEntry{}}
	if err := saveState(dir, old, nil); err != nil {
		t.Fatal(err)
	}
	next := &persisted{Epoch: "e", Seq: 9, Base: map[string]baseEntry{"a": {Path: "a", Hash: "new"}}, Local: map[string]localEntry{}}
	err := saveState(dir, next, func() error { return errors.New("EIO") })
	if err == nil || !strings.Contains(err.Error(), "EIO") {
		t.Fatalf("saveState after a failed flush: %v", err)
	}
	st, _, err := loadState(dir)
	if err != nil || st.Seq != 3 || st.Base["a"].Hash != "old" {
		t.Fatalf("state after a failed flush: %+v, %v", st, err)
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 {
		t.Fatalf("temp files left: %v", left)
	}
}
