package engine

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// slowCommitRemote is an empty server whose uploads commit after a delay whatever the
// client does meanwhile, like a real server that has the body and is fsyncing. Only
// used to inject that timing.
type slowCommitRemote struct {
	hostileRemote
	started chan string
	delay   time.Duration
}

func (s *slowCommitRemote) Upload(ctx context.Context, p string, body io.Reader, size int64, o UploadOptions) (protocol.Metadata, bool, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return protocol.Metadata{}, false, err
	}
	s.started <- p
	time.Sleep(s.delay) // committing: the client cannot stop that
	if err := ctx.Err(); err != nil {
		return protocol.Metadata{}, false, err // the answer is lost with the request
	}
	return protocol.Metadata{Path: p, Hash: sum(string(b)), Size: int64(len(b)), Seq: 2}, true, nil
}

// TestStopKeepsCommittedUpload: told to stop while an upload is in flight, the
// engine lets the request finish (StopGrace) and records the server's answer in the
// saved base, so that a later local edit is an ordinary update, not a conflict.
func TestStopKeepsCommittedUpload(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An mtime well in the past, so the hash is trusted (racy window) on reopen.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(dir, "a.txt"), old, old)
	r := &slowCommitRemote{started: make(chan string, 1), delay: 300 * time.Millisecond}
	e, err := Open(Options{Root: dir, Remote: r, OpenFS: testOpenFS(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.SyncOnce(ctx)
		done <- err
	}()
	select {
	case <-r.started:
	case <-time.After(10 * time.Second):
		t.Fatal("upload never started")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(StopGrace + 5*time.Second):
		t.Fatal("SyncOnce did not return")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st, _, err := loadState(filepath.Join(dir, stateDirName))
	if err != nil {
		t.Fatal(err)
	}
	if b, ok := st.Base["a.txt"]; !ok || b.Hash != sum("content") {
		t.Fatalf("the committed upload is not in the saved base: %+v", st.Base)
	}
}

// TestOwnAnswerKeepsRecreatedParent: the server deleted directory X (seq 4), then this
// client's mkdir X/Y (answered at seq 5) made the server create X again, as it creates
// missing parents, without an event of its own. Applying the older Delete of X from
// the changes feed afterwards must not drop X (nor X/Y) from the client's view of the
// server, or the client would delete X locally while the server keeps it.
func TestOwnAnswerKeepsRecreatedParent(t *testing.T) {
	e, err := Open(Options{Root: t.TempDir(), Remote: &hostileRemote{}, OpenFS: testOpenFS(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.remoteM["x"] = protocol.Metadata{Path: "X", IsDirectory: true, Seq: 1}
	e.setRemote(protocol.Metadata{Path: "X/Y", IsDirectory: true, Seq: 5})
	e.ensureParents("X/Y", 5)
	touched := map[string]bool{}
	var moves []pendingMove
	e.applyEvent(protocol.Event{Type: protocol.TypeFileOperation, Seq: 4,
		Operation: protocol.NewOperation(protocol.OpDelete, "", protocol.Metadata{Path: "X", IsDirectory: true, Seq: 1})}, touched, &moves)
	for _, k := range []string{"x", "x/y"} {
		if _, ok := e.remoteM[k]; !ok {
			t.Errorf("%s dropped by an older Delete: %v", k, e.remoteM)
		}
	}
	// A newer Delete still removes both.
	e.applyEvent(protocol.Event{Type: protocol.TypeFileOperation, Seq: 6,
		Operation: protocol.NewOperation(protocol.OpDelete, "", protocol.Metadata{Path: "X", IsDirectory: true, Seq: 5})}, touched, &moves)
	if len(e.remoteM) != 0 {
		t.Errorf("after the newer Delete: %v", e.remoteM)
	}
}
