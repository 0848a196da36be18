package clientapp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/syncclient"
)

// faultyRemote wraps the real client; its streams lose some events or replace them
// with ResyncRequired (fault injection only).
type faultyRemote struct {
	engine.Remote
	mu       sync.Mutex
	n        int
	drop     func(n int) bool // drop the n-th FileOperation
	resyncAt int              // replace the n-th FileOperation with ResyncRequired
}

type faultyStream struct {
	engine.Stream
	r *faultyRemote
}

func (f *faultyRemote) Subscribe(ctx context.Context, id string, since int64, epoch string) (engine.Stream, protocol.Message, error) {
	st, ack, err := f.Remote.Subscribe(ctx, id, since, epoch)
	if err != nil {
		return nil, ack, err
	}
	return &faultyStream{Stream: st, r: f}, ack, nil
}

func (s *faultyStream) Recv(ctx context.Context) (protocol.Message, error) {
	for {
		m, err := s.Stream.Recv(ctx)
		if err != nil || m.Type != protocol.TypeFileOperation {
			return m, err
		}
		s.r.mu.Lock()
		s.r.n++
		n := s.r.n
		s.r.mu.Unlock()
		if s.r.resyncAt == n {
			return protocol.Message{Type: protocol.TypeResyncRequired, Seq: m.Seq}, nil
		}
		if s.r.drop != nil && s.r.drop(n) {
			continue
		}
		return m, nil
	}
}

// runEngine runs an engine on dir with the given remote until the test ends.
func runEngine(t *testing.T, dir string, r engine.Remote, progress *syncBuf) *syncBuf {
	t.Helper()
	logs := &syncBuf{}
	o := engine.Options{Root: dir, Remote: r, Realtime: true, Interval: time.Hour, RescanInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if progress != nil {
		o.Progress, o.InitialSync = terminalBars(progress), true
	}
	e, err := engine.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
		e.Close()
		if t.Failed() {
			t.Logf("engine logs:\n%s", logs.String())
		}
	})
	return logs
}

func realClient(t *testing.T, url, tok string) *syncclient.Client {
	t.Helper()
	c, err := syncclient.New(syncclient.Options{Server: url, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSeqGapRepairedFromChanges(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	startClient(t, "A", srv.URL, tok, a, "--realtime")
	fr := &faultyRemote{Remote: realClient(t, srv.URL, srv.Token), drop: func(n int) bool { return n%3 == 0 }}
	logs := runEngine(t, b, fr, nil)
	eventually(t, waitLong, "B live", func() bool { return strings.Contains(logs.String(), "live connection up") })
	for i := 1; i <= 10; i++ {
		writeFile(t, filepath.Join(a, fmt.Sprintf("f%02d.txt", i)), fmt.Sprint(i))
		time.Sleep(150 * time.Millisecond)
	}
	// No polling (interval 1h): only gap repair can bring the dropped events.
	eventually(t, waitLong, "all 10 on B", func() bool {
		for i := 1; i <= 10; i++ {
			if !fileIs(filepath.Join(b, fmt.Sprintf("f%02d.txt", i)), fmt.Sprint(i))() {
				return false
			}
		}
		return true
	})
}

func TestResyncRequiredTriggersFullReconcile(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	startClient(t, "A", srv.URL, tok, a, "--realtime")
	fr := &faultyRemote{Remote: realClient(t, srv.URL, srv.Token), resyncAt: 2}
	logs := runEngine(t, b, fr, nil)
	eventually(t, waitLong, "B live", func() bool { return strings.Contains(logs.String(), "live connection up") })
	writeFile(t, filepath.Join(a, "one.txt"), "1")
	eventually(t, waitLong, "one", fileIs(filepath.Join(b, "one.txt"), "1"))
	writeFile(t, filepath.Join(a, "two.txt"), "2") // its event becomes ResyncRequired
	eventually(t, waitLong, "two via full reconcile", fileIs(filepath.Join(b, "two.txt"), "2"))
	if !strings.Contains(logs.String(), "full resync") {
		t.Fatal("resync not logged")
	}
}

func TestProgressBarsOnInitialSync(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	for i := 0; i < 40; i++ {
		writeFile(t, filepath.Join(a, fmt.Sprintf("p%02d.bin", i)), strings.Repeat("x", 10000))
	}
	if code, logs := runOnce(t, srv.URL, tok, a); code != 0 {
		t.Fatalf("A: %d %s", code, logs)
	}
	bars := &syncBuf{}
	runEngine(t, b, realClient(t, srv.URL, srv.Token), bars)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("progress output:\n%q", bars.String())
		}
	})
	eventually(t, waitLong, "synced", sameTree(t, a, b))
	eventually(t, waitLong, "bars drawn", func() bool {
		s := bars.String()
		return strings.Contains(s, "files") && strings.Contains(s, "40 / 40") && bytes.Contains([]byte(s), []byte("bytes"))
	})
}

// hookRemote runs a hook after each download (before the engine renames the file into
// place), simulating a user writing the local file at the worst moment.
type hookRemote struct {
	engine.Remote
	after func(path string)
}

func (h *hookRemote) Download(ctx context.Context, p string, w io.Writer) (protocol.Metadata, error) {
	m, err := h.Remote.Download(ctx, p, w)
	if err == nil && h.after != nil {
		h.after(p)
	}
	return m, err
}

func TestLocalWriteDuringDownloadBecomesConflictCopy(t *testing.T) {
	srv := startServer(t)
	tok := writeToken(t, srv.Token)
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "new.txt"), "server new")
	writeFile(t, filepath.Join(a, "old.txt"), "v1")
	mustOnce(t, srv.URL, tok, a)
	// B already has old.txt v1 synced; then A changes it.
	writeFile(t, filepath.Join(b, "old.txt"), "v1")
	mustOnce(t, srv.URL, tok, b)
	// new.txt: B deletes it (deleted on the server too), then A writes it again, so
	// for B it is a new file; old.txt: an update of a synced file.
	os.Remove(filepath.Join(b, "new.txt"))
	mustOnce(t, srv.URL, tok, b)
	writeFile(t, filepath.Join(a, "new.txt"), "server new 2")
	writeFile(t, filepath.Join(a, "old.txt"), "v2")
	mustOnce(t, srv.URL, tok, a)
	// While B downloads, the user writes both files.
	hr := &hookRemote{Remote: realClient(t, srv.URL, srv.Token), after: func(p string) {
		os.WriteFile(filepath.Join(b, p), []byte("user wrote "+p), 0o644)
	}}
	logs := &syncBuf{}
	e, err := engine.Open(engine.Options{Root: b, Remote: hr, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Close()
	tb := tree(t, b)
	for _, name := range []string{"new.txt", "old.txt"} {
		found := false
		for k, v := range tb {
			if strings.HasPrefix(k, strings.TrimSuffix(name, ".txt")+".sync-conflict-") && v == "user wrote "+name {
				found = true
			}
		}
		if !found {
			t.Fatalf("user's write to %s during the download was not kept as a conflict copy: %v\n%s", name, tb, logs.String())
		}
	}
	if tb["old.txt"] != "v2" || tb["new.txt"] != "server new 2" {
		t.Fatalf("server versions not in place: %v", tb)
	}
}
