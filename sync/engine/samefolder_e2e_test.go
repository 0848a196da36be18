package engine_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/engine"
)

// The same folder opened under another spelling of its path (a symlink on the way, as
// macOS's /var → /private/var or a home directory reached through a link) is not a
// copy of it: the client keeps its id and its base, so a file deleted here while it
// was stopped is deleted on the server, not brought back as if never synced.
func TestSameFolderUnderAnotherPathKeepsBase(t *testing.T) {
	c := startSyncd(t)
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	open := func(root string) *engine.Engine {
		e, err := engine.Open(engine.Options{Root: root, Remote: c, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	once := func(e *engine.Engine) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := e.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()
	for _, n := range []string{"keep.txt", "gone.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := open(dir)
	once(e)
	id := e.ClientID()
	e.Close()
	if err := os.Remove(filepath.Join(dir, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	e = open(link)
	defer e.Close()
	if e.ClientID() != id {
		t.Errorf("client id changed: %s → %s", id, e.ClientID())
	}
	once(e)
	if got := serverNames(t, c); !eq(got, "keep.txt") {
		t.Errorf("server after the delete: %v (the base was dropped)", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone.txt")); err == nil {
		t.Error("gone.txt came back")
	}
}
