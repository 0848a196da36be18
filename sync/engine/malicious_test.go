package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// hostileRemote is a server that lies: its list and changes feed carry paths that try
// to escape DIR or reach .syncspace, and it serves content under any name. Only used to
// inject that fault; the real server is tested end to end in clientapp.
type hostileRemote struct {
	entries []protocol.Metadata
	content map[string]string
	events  []protocol.Event
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (h *hostileRemote) List(ctx context.Context, head func(string, int64) error, each func(protocol.Metadata) error) error {
	if err := head("ep", 1); err != nil {
		return err
	}
	for _, m := range h.entries {
		if err := each(m); err != nil {
			return err
		}
	}
	return nil
}

func (h *hostileRemote) Download(ctx context.Context, p string, w io.Writer) (protocol.Metadata, error) {
	c, ok := h.content[p]
	if !ok {
		c = "evil"
	}
	_, err := io.WriteString(w, c)
	return protocol.Metadata{Path: p, Hash: sum(c), Size: int64(len(c))}, err
}

func (h *hostileRemote) Upload(ctx context.Context, p string, body io.Reader, size int64, o UploadOptions) (protocol.Metadata, bool, error) {
	return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeForbidden, "read only")
}

func (h *hostileRemote) Delete(ctx context.Context, p string, o DeleteOptions) (int64, error) {
	return 0, protocol.Errorf(protocol.CodeForbidden, "read only")
}

func (h *hostileRemote) Mkdir(ctx context.Context, p, id string) (protocol.Metadata, bool, error) {
	return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeForbidden, "read only")
}

func (h *hostileRemote) Move(ctx context.Context, from, to, ifMatch, id string) (protocol.Metadata, error) {
	return protocol.Metadata{}, protocol.Errorf(protocol.CodeForbidden, "read only")
}

func (h *hostileRemote) Changes(ctx context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error) {
	var evs []protocol.Event
	for _, ev := range h.events {
		if ev.Seq > since {
			evs = append(evs, ev)
		}
	}
	last := since
	if len(evs) > 0 {
		last = evs[len(evs)-1].Seq
	}
	return protocol.ChangesPage{Epoch: "ep", Seq: last, Events: evs}, nil
}

func (h *hostileRemote) Subscribe(ctx context.Context, id string, since int64, epoch string) (Stream, protocol.Message, error) {
	return nil, protocol.Message{}, errors.New("no websocket")
}

func TestHostileServerPaths(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := func(p, c string) protocol.Metadata {
		return protocol.Metadata{Path: p, Hash: sum(c), Size: int64(len(c))}
	}
	bad := []string{"../escape.txt", "/abs.txt", ".syncspace/state.json", "a/../../escape2.txt",
		".SyncSpace/x", `..\win.txt`, "e\u0301.txt", "ok/\x00nul", "CON"}
	h := &hostileRemote{content: map[string]string{"good.txt": "good"}}
	for _, p := range bad {
		h.entries = append(h.entries, file(p, "evil"))
	}
	h.entries = append(h.entries, file("good.txt", "good"))
	e, err := Open(Options{Root: dir, Remote: h, OpenFS: testOpenFS(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := e.SyncOnce(ctx); err != nil {
		t.Fatalf("SyncOnce: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "good.txt")); err != nil || string(b) != "good" {
		t.Fatalf("good file not synced: %q %v", b, err)
	}
	// Events with hostile paths, applied through the changes feed.
	for i, p := range append(bad, "good2.txt") {
		h.events = append(h.events, protocol.Event{Type: protocol.TypeFileOperation, Seq: int64(2 + i),
			Operation: protocol.NewOperation(protocol.OpCreate, "", file(p, "evil"))})
	}
	h.events = append(h.events, protocol.Event{Type: protocol.TypeFileOperation, Seq: int64(2 + len(bad) + 1),
		Operation: protocol.NewOperation(protocol.OpMove, "good.txt", file("../moved-out.txt", "good"))})
	if err := e.catchUp(ctx); err != nil {
		t.Fatalf("catchUp: %v", err)
	}
	if _, err := e.remotePass(ctx); err != nil {
		t.Fatalf("remotePass: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "good2.txt")); err != nil || string(b) != "evil" {
		t.Fatalf("good event not applied: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "good.txt")); err != nil {
		t.Fatalf("a hostile move removed a file: %v", err)
	}
	// Nothing outside DIR, nothing in .syncspace but the client's own files.
	ents, _ := os.ReadDir(parent)
	if len(ents) != 1 {
		t.Fatalf("files written next to DIR: %v", ents)
	}
	st, _ := os.ReadDir(filepath.Join(dir, ".syncspace"))
	for _, s := range st {
		if s.Name() != "state.json" && s.Name() != "lock" {
			t.Fatalf("unexpected file in .syncspace: %s", s.Name())
		}
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.Contains(p, "escape") || strings.Contains(p, "win.txt") || strings.Contains(p, "abs.txt") {
			t.Errorf("hostile path materialized: %s", p)
		}
		return nil
	})
}

// Two server names that fold to one (data from before the server's rule): the first
// listed is synced, the other is reported once and never downloaded over it; passes
// repeat without uploads, deletes or a change of the local file.
func TestServerNamesThatFoldToOne(t *testing.T) {
	dir := t.TempDir()
	file := func(p, c string) protocol.Metadata {
		return protocol.Metadata{Path: p, Hash: sum(c), Size: int64(len(c)), Modified: time.Unix(1700000000, 0).UTC(), Seq: 1}
	}
	h := &hostileRemote{content: map[string]string{"Doc.txt": "first", "doc.txt": "second"},
		entries: []protocol.Metadata{file("Doc.txt", "first"), file("doc.txt", "second")}}
	logs := &strings.Builder{}
	e, err := Open(Options{Root: dir, Remote: h, OpenFS: testOpenFS(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		if _, err := e.SyncOnce(ctx); err != nil {
			t.Fatalf("SyncOnce: %v", err)
		}
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, d := range ents {
		if d.Name() != ".syncspace" {
			names = append(names, d.Name())
		}
	}
	if len(names) != 1 || names[0] != "Doc.txt" {
		t.Fatalf("local names %v, want [Doc.txt]", names)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "Doc.txt")); string(b) != "first" {
		t.Fatalf("content %q", b)
	}
	if n := strings.Count(logs.String(), "kept on the server but not synced"); n != 1 {
		t.Fatalf("reported %d times, want once:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "read only") || strings.Contains(logs.String(), "upload") {
		t.Fatalf("the engine tried to change the server:\n%s", logs.String())
	}
}
