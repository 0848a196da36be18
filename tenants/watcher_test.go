package tenants

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// waitIdle waits until the watcher has looked at no new name for 600 ms and returns
// its counters.
func waitIdle(t *testing.T, w *watcher) (names, own, dirs, full int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	last := -1
	for time.Now().Before(deadline) {
		time.Sleep(600 * time.Millisecond)
		names, own, dirs, full = w.statsSnapshot()
		w.mu.Lock()
		pending := len(w.names) + len(w.dirty)
		w.mu.Unlock()
		if names == last && pending == 0 && full > 0 {
			return
		}
		last = names
	}
	t.Fatal("watcher never idle")
	return
}

// TestWatcherOwnWritesCheap checks that syncd's own writes in a large directory cost
// the watcher no directory reconcile and (nearly always) no index query, produce no
// extra events, and that hand changes right after own writes are still seen.
func TestWatcherOwnWritesCheap(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	must(t, e.reg.StartWatchers(ctx))
	w := e.sp.w
	_, _, dirs0, _ := waitIdle(t, w)

	const n = 300
	for i := 0; i < n; i++ {
		e.put(fmt.Sprintf("big/f%04d.bin", i), []byte(fmt.Sprintf("own %d", i)))
	}
	e.put("big/f0003.bin", []byte("own update")) // keeps a version (a hard link)
	if _, _, err := e.sp.Mkdir(ctx, "m/n", Source{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sp.Move(ctx, "big/f0001.bin", "m/n/g.bin", "", Source{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sp.Delete(ctx, "big/f0002.bin", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.put("gone/x/y.bin", []byte("y"))
	if _, err := e.sp.Delete(ctx, "gone", DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	nEvents := len(e.evs())
	names, own, dirs, _ := waitIdle(t, w)
	t.Logf("own writes: %d names looked at, %d recognized as own, %d directory reconciles", names, own, dirs-dirs0)
	if dirs != dirs0 {
		t.Fatalf("own writes caused %d directory reconciles", dirs-dirs0)
	}
	if names < n || own < names*9/10 {
		t.Fatalf("%d of %d names recognized as own writes", own, names)
	}
	if got := len(e.evs()); got != nEvents {
		t.Fatalf("watcher added %d events for own writes: %+v", got-nEvents, e.evs()[nEvents:])
	}

	// attacks: hand changes right after own writes at the same names are not hidden.
	files := e.filesDir()
	e.put("big/h.bin", []byte("own h"))
	must(t, os.WriteFile(filepath.Join(files, "big", "h.bin"), []byte("hand edit of h"), 0o600))
	e.put("big/del.bin", []byte("own del"))
	must(t, os.Remove(filepath.Join(files, "big", "del.bin")))
	if _, err := e.sp.Delete(ctx, "big/f0004.bin", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(files, "big", "f0004.bin"), []byte("hand recreate"), 0o600))
	must(t, os.WriteFile(filepath.Join(files, "m", "n", "hand.bin"), []byte("hand new"), 0o600))
	// A hand rename over an own write: its creation event comes after the own
	// write's, and the state the first one found must not stand for the name.
	e.put("big/swap.bin", []byte("own swap"))
	must(t, os.WriteFile(filepath.Join(files, "swap.tmp"), []byte("hand swap"), 0o600))
	must(t, os.Rename(filepath.Join(files, "swap.tmp"), filepath.Join(files, "big", "swap.bin")))
	waitFor(t, 20*time.Second, "hand changes", func() bool {
		h, err1 := e.sp.Stat(ctx, "big/h.bin")
		_, err2 := e.sp.Stat(ctx, "big/del.bin")
		f4, err3 := e.sp.Stat(ctx, "big/f0004.bin")
		_, err4 := e.sp.Stat(ctx, "m/n/hand.bin")
		sw, err5 := e.sp.Stat(ctx, "big/swap.bin")
		return err1 == nil && h.Hash == sum([]byte("hand edit of h")) && protocol.CodeOf(err2) == protocol.CodeNotFound &&
			err3 == nil && f4.Hash == sum([]byte("hand recreate")) && err4 == nil &&
			err5 == nil && sw.Hash == sum([]byte("hand swap"))
	})
	_, _, dirs, _ = waitIdle(t, w)
	if dirs != dirs0 {
		t.Fatalf("hand changes caused %d directory reconciles", dirs-dirs0)
	}
	all, err := e.sp.Changes(ctx, 0, "", protocol.MaxChangesLimit)
	if err != nil {
		t.Fatal(err)
	}
	sameTree(t, e.list(), replay(all.Events))
}

// TestWatcherSameSizeSameMtimeEdit checks that a file edited in place by hand to
// content of the same size, its mtime then set back (cp -p, rsync --inplace -t, or a
// second write within the clock tick of the indexed one), is hashed again: the event
// says the file changed even where size and mtime cannot.
func TestWatcherSameSizeSameMtimeEdit(t *testing.T) {
	e, ctx, files := watchedEnv(t)
	e.put("own.txt", []byte("own content 1"))
	must(t, os.WriteFile(filepath.Join(files, "hand.txt"), []byte("hand content 1"), 0o600))
	waitFor(t, 20*time.Second, "hand file indexed", func() bool {
		m, err := e.sp.Stat(ctx, "hand.txt")
		return err == nil && m.Hash == sum([]byte("hand content 1"))
	})
	waitIdle(t, e.sp.w)
	for p, data := range map[string]string{"own.txt": "own content 2", "hand.txt": "hand content 2"} {
		full := filepath.Join(files, p)
		fi, err := os.Stat(full)
		must(t, err)
		f, err := os.OpenFile(full, os.O_WRONLY, 0)
		must(t, err)
		_, err = f.WriteAt([]byte(data), 0)
		must(t, err)
		must(t, f.Close())
		must(t, os.Chtimes(full, fi.ModTime(), fi.ModTime()))
	}
	waitFor(t, 20*time.Second, "in-place edits indexed", func() bool {
		o, err1 := e.sp.Stat(ctx, "own.txt")
		h, err2 := e.sp.Stat(ctx, "hand.txt")
		return err1 == nil && err2 == nil && o.Hash == sum([]byte("own content 2")) && h.Hash == sum([]byte("hand content 2"))
	})
	all, err := e.sp.Changes(ctx, 0, "", protocol.MaxChangesLimit)
	must(t, err)
	sameTree(t, e.list(), replay(all.Events))
}

// TestWatcherRenamedDirectoryWatched checks that after a directory is renamed, by hand
// or by syncd's own Move, hand changes inside it (and in its subdirectories) are
// indexed under its new name: inotify watches follow the renamed directory while
// fsnotify keeps naming their events by the old path, and adding the new path again
// only finds the old watch.
func TestWatcherRenamedDirectoryWatched(t *testing.T) {
	e, ctx, files := watchedEnv(t)
	must(t, os.MkdirAll(filepath.Join(files, "a", "sub"), 0o700))
	must(t, os.WriteFile(filepath.Join(files, "a", "sub", "x.txt"), []byte("x1"), 0o600))
	e.put("o/sub/x.txt", []byte("ox1"))
	waitFor(t, 20*time.Second, "a indexed", func() bool {
		_, err := e.sp.Stat(ctx, "a/sub/x.txt")
		return err == nil
	})
	waitIdle(t, e.sp.w)
	must(t, os.Rename(filepath.Join(files, "a"), filepath.Join(files, "b")))
	if _, err := e.sp.Move(ctx, "o", "p", "", Source{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "b indexed", func() bool {
		_, err := e.sp.Stat(ctx, "b/sub/x.txt")
		_, err2 := e.sp.Stat(ctx, "a")
		return err == nil && protocol.CodeOf(err2) == protocol.CodeNotFound
	})
	waitIdle(t, e.sp.w)
	for _, d := range []string{"b", "p"} {
		must(t, os.WriteFile(filepath.Join(files, d, "sub", "x.txt"), []byte("x2 longer"), 0o600))
		must(t, os.WriteFile(filepath.Join(files, d, "sub", "y.txt"), []byte("y"), 0o600))
		must(t, os.WriteFile(filepath.Join(files, d, "z.txt"), []byte("z"), 0o600))
	}
	waitFor(t, 20*time.Second, "hand changes in the renamed directories", func() bool {
		for _, d := range []string{"b", "p"} {
			m, err := e.sp.Stat(ctx, d+"/sub/x.txt")
			_, err2 := e.sp.Stat(ctx, d+"/sub/y.txt")
			_, err3 := e.sp.Stat(ctx, d+"/z.txt")
			if err != nil || m.Hash != sum([]byte("x2 longer")) || err2 != nil || err3 != nil {
				return false
			}
		}
		return true
	})
	all, err := e.sp.Changes(ctx, 0, "", protocol.MaxChangesLimit)
	must(t, err)
	sameTree(t, e.list(), replay(all.Events))
}

// TestWatcherDirectoryReplaced checks that a directory renamed away by hand and
// replaced at once by a new one of the same name leaves no stale entries: the old
// children's events name the other directory, so the new one must be compared whole.
func TestWatcherDirectoryReplaced(t *testing.T) {
	e, ctx, files := watchedEnv(t)
	must(t, os.MkdirAll(filepath.Join(files, "d", "sub"), 0o700))
	must(t, os.WriteFile(filepath.Join(files, "d", "x.txt"), []byte("x"), 0o600))
	must(t, os.WriteFile(filepath.Join(files, "d", "sub", "y.txt"), []byte("y"), 0o600))
	waitFor(t, 20*time.Second, "d indexed", func() bool {
		_, err := e.sp.Stat(ctx, "d/sub/y.txt")
		_, err2 := e.sp.Stat(ctx, "d/x.txt")
		return err == nil && err2 == nil
	})
	waitIdle(t, e.sp.w)
	must(t, os.Rename(filepath.Join(files, "d"), filepath.Join(files, "old")))
	must(t, os.Mkdir(filepath.Join(files, "d"), 0o700))
	must(t, os.WriteFile(filepath.Join(files, "d", "new.txt"), []byte("new"), 0o600))
	waitFor(t, 20*time.Second, "replacement indexed", func() bool {
		_, err1 := e.sp.Stat(ctx, "old/sub/y.txt")
		_, err2 := e.sp.Stat(ctx, "d/new.txt")
		return err1 == nil && err2 == nil
	})
	waitIdle(t, e.sp.w)
	for _, p := range []string{"d/x.txt", "d/sub", "d/sub/y.txt"} {
		if _, err := e.sp.Stat(ctx, p); protocol.CodeOf(err) != protocol.CodeNotFound {
			t.Errorf("Stat(%s) = %v, want not found", p, err)
		}
	}
	all, err := e.sp.Changes(ctx, 0, "", protocol.MaxChangesLimit)
	must(t, err)
	sameTree(t, e.list(), replay(all.Events))
}

// watchedEnv is a registry with its watchers started and idle, the context they run
// in (cancelled at the test's end) and the tenant's files directory.
func watchedEnv(t *testing.T) (*env, context.Context, string) {
	t.Helper()
	e := newEnv(t, Limits{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	must(t, e.reg.StartWatchers(ctx))
	waitIdle(t, e.sp.w)
	return e, ctx, e.filesDir()
}
