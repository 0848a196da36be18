package tenants

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// TestSymlinkEscape puts symlinks pointing outside the tenant into files/ and checks
// that no operation reads, writes, deletes or lists through them.
func TestSymlinkEscape(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.put("d/inside", []byte("in"))
	files := e.filesDir()
	must(t, os.Symlink(outside, filepath.Join(files, "link")))
	must(t, os.Symlink(secret, filepath.Join(files, "evil")))
	must(t, os.Symlink("../../../..", filepath.Join(files, "up")))
	e.reopen() // recovery scans the disk: symlinks are skipped
	for _, p := range []string{"link", "evil", "up"} {
		if _, ok := e.list()[p]; ok {
			t.Fatalf("symlink %s indexed", p)
		}
	}
	for _, p := range []string{"evil", "link/secret", "up/etc/passwd"} {
		if f, _, err := e.sp.Open(ctx, p); err == nil {
			f.Close()
			t.Fatalf("Open(%s) through a symlink succeeded", p)
		}
	}
	for _, p := range []string{"evil", "link/secret", "link/new", "up/x"} {
		_, _, err := e.sp.Put(ctx, p, strings.NewReader("pwned"), PutOptions{Size: 5})
		if err == nil {
			t.Fatalf("Put(%s) through a symlink succeeded", p)
		}
		if _, _, err := e.sp.Mkdir(ctx, p, Source{}); err == nil {
			t.Fatalf("Mkdir(%s) through a symlink succeeded", p)
		}
	}
	_, err := e.sp.Delete(ctx, "link", DeleteOptions{Recursive: true})
	wantCode(t, err, protocol.CodeNotFound)
	_, err = e.sp.Move(ctx, "d/inside", "link/moved", "", Source{})
	if err == nil {
		t.Fatal("move into a symlinked dir succeeded")
	}
	// An indexed directory swapped for a symlink by hand.
	must(t, os.Rename(filepath.Join(files, "d"), filepath.Join(t.TempDir(), "d-away")))
	must(t, os.Symlink(outside, filepath.Join(files, "d")))
	if f, _, err := e.sp.Open(ctx, "d/secret"); err == nil {
		f.Close()
		t.Fatal("Open through a swapped directory succeeded")
	}
	if _, _, err := e.sp.Put(ctx, "d/secret", strings.NewReader("pwned"), PutOptions{Size: 5}); err == nil {
		t.Fatal("Put through a swapped directory succeeded")
	}
	_, err = e.sp.Delete(ctx, "d", DeleteOptions{Recursive: true})
	wantCode(t, err, protocol.CodeConflict)
	if b, err := os.ReadFile(secret); err != nil || string(b) != "top secret" {
		t.Fatalf("outside file changed: %q %v", b, err)
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Fatalf("outside dir changed: %v", ents)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRecovery simulates a crash: a temp file left in tmp/, a file on disk the index
// does not know, an index row whose file is gone, a file changed by hand, an orphan
// version; reopening reconciles index and disk with gapless events.
func TestRecovery(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	e.put("keep", []byte("keep"))
	e.put("gone", []byte("gone"))
	e.put("dir/changed", []byte("before"))
	e.put("dir/sub/deep", []byte("deep"))
	epoch, head := e.sp.Head()
	e.close()

	tdir := filepath.Join(e.dir, "tenants", e.tenant)
	must(t, os.WriteFile(filepath.Join(tdir, "tmp", "up-crashed"), []byte("partial"), 0o600))
	must(t, os.WriteFile(filepath.Join(tdir, "versions", "orphan"), []byte("orphan"), 0o600))
	must(t, os.MkdirAll(filepath.Join(tdir, "files", "newdir", "inner"), 0o700))
	must(t, os.WriteFile(filepath.Join(tdir, "files", "newdir", "inner", "n.txt"), []byte("new"), 0o600))
	must(t, os.WriteFile(filepath.Join(tdir, "files", "new.txt"), []byte("new"), 0o600))
	must(t, os.Remove(filepath.Join(tdir, "files", "gone")))
	must(t, os.RemoveAll(filepath.Join(tdir, "files", "dir", "sub")))
	must(t, os.WriteFile(filepath.Join(tdir, "files", "dir", "changed"), []byte("AFTER!"), 0o600))
	must(t, os.WriteFile(filepath.Join(tdir, "files", "bad:name"), []byte("x"), 0o600))

	e.events = nil
	e.open()
	e.space()
	assertTmpEmpty(t, e)
	if _, err := os.Stat(filepath.Join(tdir, "versions", "orphan")); !os.IsNotExist(err) {
		t.Fatal("orphan version kept")
	}
	ep2, head2 := e.sp.Head()
	if ep2 != epoch {
		t.Fatal("epoch changed without need")
	}
	page, err := e.sp.Changes(ctx, head, epoch, 0)
	if err != nil {
		t.Fatal(err)
	}
	if page.Seq != head2 || int64(len(page.Events)) != head2-head {
		t.Fatalf("gap: %d events from %d to %d", len(page.Events), head, head2)
	}
	kinds := map[string]string{}
	for _, ev := range page.Events {
		if ev.SourceClient != "" || ev.SourceSubject != "" {
			t.Fatalf("recovery event with a source: %+v", ev)
		}
		kinds[ev.Operation.Meta().Path] = ev.Operation.Kind()
	}
	want := map[string]string{"gone": "Delete", "dir/sub": "Delete", "dir/changed": "Update", "new.txt": "Create",
		"newdir": "Create", "newdir/inner": "Create", "newdir/inner/n.txt": "Create"}
	for p, k := range want {
		if kinds[p] != k {
			t.Errorf("%s: got %q want %q (all %v)", p, kinds[p], k, kinds)
		}
	}
	if len(kinds) != len(want) {
		t.Errorf("events %v", kinds)
	}
	if string(e.read("dir/changed")) != "AFTER!" || string(e.read("newdir/inner/n.txt")) != "new" {
		t.Fatal("content")
	}
	all, err := e.sp.Changes(ctx, 0, epoch, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, e.list(), replay(all.Events))
	u, _ := e.sp.Usage(ctx)
	if u.Used != int64(len("keep")+len("AFTER!")+3+3) || u.Entries != 7 {
		t.Fatalf("usage after recovery %+v", u)
	}
	// A second restart finds nothing to do.
	e.reopen()
	if _, h := e.sp.Head(); h != head2 {
		t.Fatalf("second recovery made %d events", h-head2)
	}
}

// TestRecoveryNewEpoch: a change log ahead of the recorded head (the seq promise can
// no longer be checked) starts a new epoch and keeps seqs increasing.
func TestRecoveryNewEpoch(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	e.put("a", []byte("a"))
	e.put("b", []byte("b"))
	epoch, head := e.sp.Head()
	e.close()
	e.open()
	if _, err := e.db.ExecContext(ctx, `UPDATE tenants SET head_seq = 1 WHERE name = ?`, e.tenant); err != nil {
		t.Fatal(err)
	}
	e.space()
	ep2, h2 := e.sp.Head()
	if ep2 == epoch || h2 != head {
		t.Fatalf("epoch %q→%q head %d→%d", epoch, ep2, head, h2)
	}
	_, err := e.sp.Changes(ctx, 0, epoch, 0)
	wantCode(t, err, protocol.CodeResyncRequired)
	m := e.put("c", []byte("c"))
	if m.Seq != head+1 {
		t.Fatalf("seq reused: %d", m.Seq)
	}
}

// TestRestoredDatabaseNewEpoch: syncd.db put back from a backup (its log behind the
// head mark) starts a new epoch, so clients that saw the lost seqs resynchronise;
// the files written after the backup are found on disk and committed again.
func TestRestoredDatabaseNewEpoch(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	e.put("a", []byte("a"))
	e.close()
	backup, err := os.ReadFile(filepath.Join(e.dir, "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	e.open()
	e.space()
	e.put("b", []byte("b"))
	e.put("c", []byte("c"))
	epoch, head := e.sp.Head()
	e.close()
	// A plain restart keeps the epoch.
	e.open()
	e.space()
	if ep, h := e.sp.Head(); ep != epoch || h != head {
		t.Fatalf("restart: %s/%d, want %s/%d", ep, h, epoch, head)
	}
	e.close()
	// Restore: the backup replaces syncd.db (its WAL files go too).
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(filepath.Join(e.dir, "syncd.db"+suffix))
	}
	if err := os.WriteFile(filepath.Join(e.dir, "syncd.db"), backup, 0o600); err != nil {
		t.Fatal(err)
	}
	e.open()
	e.space()
	ep2, h2 := e.sp.Head()
	if ep2 == epoch {
		t.Fatalf("epoch kept after a restore (head %d, was %d)", h2, head)
	}
	if _, err := e.sp.Changes(ctx, head, epoch, 0); protocol.CodeOf(err) != protocol.CodeResyncRequired {
		t.Fatalf("old epoch: %v", err)
	}
	got := e.list()
	for _, p := range []string{"a", "b", "c"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s missing after the restore: %v", p, got)
		}
	}
	// The new epoch is kept over a restart (the mark follows it).
	e.close()
	e.open()
	e.space()
	if ep3, _ := e.sp.Head(); ep3 != ep2 {
		t.Fatalf("epoch changed again on a plain restart: %s → %s", ep2, ep3)
	}
}

// Torn or foreign head marks are ignored.
func TestParseHeadMark(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"tid ep 12\n", true},
		{"tid ep 0\n", true},
		{"tid ep 12", false}, // torn: no newline
		{"tid ep -1\n", false},
		{"tid ep x\n", false},
		{"tid ep\n", false},
		{"", false},
		{"tid ep 1 extra\n", false},
		{"tid ep 99999999999999999999\n", false},
	} {
		if _, ok := parseHeadMark([]byte(c.in)); ok != c.ok {
			t.Errorf("%q: ok %v, want %v", c.in, ok, c.ok)
		}
	}
}

func TestWatcher(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	must(t, e.reg.StartWatchers(ctx))
	e.put("api.txt", []byte("via api"))
	files := e.filesDir()

	// A file copied in by hand becomes a Create (after watchDebounce; the time is logged).
	start := time.Now()
	must(t, os.MkdirAll(filepath.Join(files, "hand", "made"), 0o755))
	must(t, os.WriteFile(filepath.Join(files, "hand", "made", "copied.txt"), []byte("by hand"), 0o644))
	waitFor(t, 20*time.Second, "hand-copied file", func() bool {
		_, err := e.sp.Stat(ctx, "hand/made/copied.txt")
		return err == nil
	})
	t.Logf("hand-copied file indexed after %v", time.Since(start))
	if string(e.read("hand/made/copied.txt")) != "by hand" {
		t.Fatal("content")
	}
	// Symlinks and refused names are skipped.
	must(t, os.Symlink("/etc", filepath.Join(files, "hand", "etc-link")))
	must(t, os.WriteFile(filepath.Join(files, "hand", "bad?name"), []byte("x"), 0o644))
	// A hand edit becomes an Update, a hand delete a Delete.
	must(t, os.WriteFile(filepath.Join(files, "api.txt"), []byte("edited by hand"), 0o644))
	waitFor(t, 20*time.Second, "hand edit", func() bool {
		m, err := e.sp.Stat(ctx, "api.txt")
		return err == nil && m.Hash == sum([]byte("edited by hand"))
	})
	must(t, os.Remove(filepath.Join(files, "hand", "made", "copied.txt")))
	waitFor(t, 20*time.Second, "hand delete", func() bool {
		_, err := e.sp.Stat(ctx, "hand/made/copied.txt")
		return protocol.CodeOf(err) == protocol.CodeNotFound
	})
	// syncd's own writes make exactly one event each.
	time.Sleep(300 * time.Millisecond)
	n := len(e.evs())
	e.put("own/write.txt", []byte("own"))
	e.put("own/write.txt", []byte("own 2"))
	if _, err := e.sp.Delete(ctx, "own", DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	evs := e.evs()
	if len(evs) != n+3 {
		t.Fatalf("own writes made %d events, want 3: %+v", len(evs)-n, evs[n:])
	}
	for _, ev := range evs {
		p := ev.Operation.Meta().Path
		if strings.Contains(p, "etc-link") || strings.Contains(p, "bad?name") {
			t.Fatalf("skipped entry published: %+v", ev)
		}
		if strings.HasPrefix(p, "hand") && ev.SourceClient != "" {
			t.Fatalf("disk change with a source: %+v", ev)
		}
	}
	all, err := e.sp.Changes(ctx, 0, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, e.list(), replay(all.Events))
}
