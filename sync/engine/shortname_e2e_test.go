package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A server path that is an 8.3 short name of .syncspace ("SYNCSP~1/state.json",
// valid under SPEC §3) must not reach the state directory of a client on a file
// system with short names (Windows): it is kept on the server but not synced, as is a
// local name of that form, and nothing of .syncspace travels to the server. A client
// on Linux syncs the same path as any other.
func TestShortNameOfStateDir(t *testing.T) {
	c := startSyncd(t)
	l, w := openSide(t, c, false), openSide(t, c, true)
	l.write(t, "notes.txt", "ok")
	if err := l.fs.MkdirAll("SYNCSP~1", 0o755); err != nil {
		t.Fatal(err)
	}
	l.write(t, "SYNCSP~1/state.json", "planted")
	l.sync(t)
	w.write(t, "Sync~2.txt", "local")
	for range 3 {
		w.sync(t)
	}
	if got := w.read(t, "notes.txt"); got != "ok" {
		t.Fatalf("notes.txt on the Windows side: %q", got)
	}
	filepath.WalkDir(filepath.Join(w.dir, ".syncspace"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if strings.Contains(d.Name(), "sync-conflict") || string(b) == "planted" {
			t.Errorf("the server's SYNCSP~1 reached the state directory: %s", p)
		}
		return nil
	})
	if _, err := os.Lstat(filepath.Join(w.dir, "SYNCSP~1")); err == nil {
		t.Error("SYNCSP~1 made on the Windows side")
	}
	if got := serverNames(t, c); !eq(got, "SYNCSP~1/state.json", "notes.txt") {
		t.Fatalf("server holds %q, want the two files of the Linux side only", got)
	}
	if logs := w.logs.String(); !strings.Contains(logs, "SYNCSP~1/state.json") || !strings.Contains(logs, "Sync~2.txt") || !strings.Contains(logs, "8.3 short name") {
		t.Errorf("the refused names are not reported:\n%s", logs)
	}
	l.sync(t)
	if got := l.read(t, "SYNCSP~1/state.json"); got != "planted" || len(l.names(t)) != 2 {
		t.Fatalf("the Linux side: %q, %q", got, l.names(t))
	}
}
