package tenants

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestApplyFilesRacingWrite: a file change the disk check hashed is not committed when,
// before its commit, the index or the file moved on. Each case moves one of them only
// (a write through syncd whose file's mtime is then set back to the hashed one, so that
// the disk looks as hashed; a parent deleted through syncd and made again by hand; an
// edit by hand), so that each guard of stillApplies is needed on its own: the check's
// stale view must never overwrite what syncd committed meanwhile.
func TestApplyFilesRacingWrite(t *testing.T) {
	ctx := context.Background()
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	e := newEnv(t, Limits{}, Options{})
	files := e.filesDir()
	full := func(p string) string { return filepath.Join(files, filepath.FromSlash(p)) }
	// hashed is the change the check would commit for p as the disk now shows it.
	hashed := func(p string) *fileChange {
		t.Helper()
		fi, err := os.Lstat(full(p))
		must(t, err)
		old, err := e.sp.lookup(ctx, p)
		must(t, err)
		ch, unstable, err := e.sp.rc.diffFile(newDiskItem(p, fi), old, false)
		if err != nil || unstable || ch == nil {
			t.Fatalf("diffFile(%s): %v, unstable %v, change %v", p, err, unstable, ch)
		}
		return ch
	}
	byHand := func(p, content string, mod time.Time) {
		t.Helper()
		must(t, os.WriteFile(full(p), []byte(content), 0o600))
		must(t, os.Chtimes(full(p), mod, mod))
	}
	setBack := func(ch *fileChange) { must(t, os.Chtimes(full(ch.st.path), ch.st.mtime, ch.st.mtime)) }
	hour := time.Now().Add(-time.Hour).Truncate(time.Second)

	// An update: syncd writes the file after the check hashed its edit by hand.
	e.put("upd.txt", []byte("v1 by syncd"))
	byHand("upd.txt", "v2 by hand!", hour)
	updCh := hashed("upd.txt")
	e.put("upd.txt", []byte("v3 by syncd"))
	setBack(updCh)

	// A new file: syncd creates it after the check hashed the one placed by hand (and
	// it was removed by hand).
	byHand("new.txt", "placed", hour)
	newCh := hashed("new.txt")
	must(t, os.Remove(full("new.txt")))
	e.put("new.txt", []byte("synced"))
	setBack(newCh)

	// A new file whose parent syncd deleted (and a hand made again) after the hash.
	e.put("dir/keep.txt", []byte("k"))
	byHand("dir/orphan.txt", "orphan", hour)
	orphanCh := hashed("dir/orphan.txt")
	if _, err := e.sp.Delete(ctx, "dir", DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	must(t, os.Mkdir(full("dir"), 0o700))
	byHand("dir/orphan.txt", "orphan", orphanCh.st.mtime)

	// A new file edited by hand after its hash (the index untouched).
	byHand("edited.txt", "first", hour)
	editedCh := hashed("edited.txt")
	byHand("edited.txt", "second, longer", hour.Add(time.Minute))

	_, head := e.sp.Head()
	must(t, e.sp.rc.applyFiles(ctx, []*fileChange{updCh, newCh, orphanCh, editedCh}))
	if _, after := e.sp.Head(); after != head {
		t.Errorf("the stale changes committed %d events", after-head)
	}
	want := map[string]string{"upd.txt": sum("v3 by syncd"), "new.txt": sum("synced")}
	got := e.list()
	for p, h := range want {
		if got[p].Hash != h {
			t.Errorf("%s: index holds %q, want syncd's %q", p, got[p].Hash, h)
		}
	}
	for _, p := range []string{"dir", "dir/orphan.txt", "edited.txt"} {
		if m, ok := got[p]; ok {
			t.Errorf("%s indexed from a stale view: %+v", p, m)
		}
	}

	// Nothing moved on: the same kind of change commits.
	byHand("fresh.txt", "fresh", hour)
	must(t, e.sp.rc.applyFiles(ctx, []*fileChange{hashed("fresh.txt")}))
	if got := e.list()["fresh.txt"].Hash; got != sum("fresh") {
		t.Errorf("fresh.txt: index holds %q, want its hash", got)
	}
}
