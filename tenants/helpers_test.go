package tenants

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/rootblobs"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// env is a registry on a real SQLite file in a temp dir, with one tenant "t1".
type env struct {
	t      testing.TB
	dir    string
	db     *sql.DB
	reg    *Registry
	sp     *Space
	mu     sync.Mutex
	events []protocol.Event
	limits Limits
	tenant string
	logger *slog.Logger
	single bool // registry on an in-process bus (one syncd alone: metadata cache on)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{}, &slog.HandlerOptions{Level: slog.LevelError}))
}

type testWriter struct{}

func (testWriter) Write(p []byte) (int, error) { return os.Stderr.Write(p) }

func newEnv(t testing.TB, limits Limits, o Options) *env {
	t.Helper()
	return newEnvOf(t, limits, o, singleByDefault)
}

// singleByDefault makes newEnv a newSingleEnv (TestSingleNodeSuite; no test here runs
// in parallel).
var singleByDefault bool

// newSingleEnv is newEnv on an in-process bus, as a single syncd runs (localbus): the
// registry trusts its own commits alone and the spaces cache metadata.
func newSingleEnv(t testing.TB, limits Limits, o Options) *env {
	t.Helper()
	return newEnvOf(t, limits, o, true)
}

func newEnvOf(t testing.TB, limits Limits, o Options, single bool) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), limits: limits, tenant: "t1", logger: quietLogger(), single: single}
	e.open()
	if _, err := e.reg.Create(context.Background(), e.tenant, o); err != nil {
		t.Fatal(err)
	}
	e.space()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	e.t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(e.dir, "syncd.db"))
	if err != nil {
		e.t.Fatal(err)
	}
	var bus Bus = &syncBus{}
	if e.single {
		bus = &inProcBus{}
	}
	reg, err := openRegistryOn(ctx, db, e.dir, e.limits, e.logger, bus)
	if err != nil {
		e.t.Fatal(err)
	}
	e.db, e.reg = db, reg
	reg.seq.listen(func(_, tenant string, ev protocol.Event) {
		if tenant != e.tenant {
			return
		}
		e.mu.Lock()
		e.events = append(e.events, ev)
		e.mu.Unlock()
	}, nil)
}

func (e *env) space() *Space {
	e.t.Helper()
	sp, err := e.reg.Space(context.Background(), e.tenant)
	if err != nil {
		e.t.Fatal(err)
	}
	e.sp = sp
	return sp
}

func (e *env) close() {
	if e.reg != nil {
		e.reg.Close()
		e.db.Close()
		e.reg, e.db = nil, nil
	}
}

// reopen simulates a restart: close everything and open again (recovery runs).
func (e *env) reopen() {
	e.t.Helper()
	e.close()
	e.open()
	e.space()
}

func (e *env) evs() []protocol.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]protocol.Event(nil), e.events...)
}

func (e *env) filesDir() string { return filepath.Join(e.dir, "tenants", e.tenant, "files") }

func (e *env) put(p string, data []byte) protocol.Metadata {
	e.t.Helper()
	m, _, err := e.sp.Put(context.Background(), p, bytes.NewReader(data), PutOptions{Size: int64(len(data))})
	if err != nil {
		e.t.Fatalf("Put(%q): %v", p, err)
	}
	return m
}

func (e *env) read(p string) []byte {
	e.t.Helper()
	f, _, err := e.sp.Open(context.Background(), p)
	if err != nil {
		e.t.Fatalf("Open(%q): %v", p, err)
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		e.t.Fatal(err)
	}
	return b.Bytes()
}

func (e *env) list() map[string]protocol.Metadata {
	e.t.Helper()
	out := map[string]protocol.Metadata{}
	err := e.sp.List(context.Background(), "", true, nil, func(m protocol.Metadata) error {
		out[m.Path] = m
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func wantCode(t *testing.T, err error, code protocol.Code) {
	t.Helper()
	if got := protocol.CodeOf(err); err == nil || got != code {
		t.Fatalf("got error %v (code %s), want code %s", err, got, code)
	}
}

// replay applies events to an empty tree as a client would (SPEC §3 consistency).
func replay(evs []protocol.Event) map[string]protocol.Metadata {
	tree := map[string]protocol.Metadata{}
	mkParents := func(p string) {
		for d := parentOf(p); d != ""; d = parentOf(d) {
			if _, ok := tree[d]; !ok {
				tree[d] = protocol.Metadata{Path: d, IsDirectory: true}
			}
		}
	}
	removeTree := func(p string) {
		for k := range tree {
			if k == p || (len(k) > len(p) && k[:len(p)+1] == p+"/") {
				delete(tree, k)
			}
		}
	}
	for _, ev := range evs {
		m := ev.Operation.Meta()
		switch ev.Operation.Kind() {
		case protocol.OpCreate, protocol.OpUpdate:
			mkParents(m.Path)
			tree[m.Path] = m
		case protocol.OpDelete:
			removeTree(m.Path)
		case protocol.OpMove:
			from := ev.Operation.Move.From
			moved := map[string]protocol.Metadata{}
			for k, v := range tree {
				if k == from || (len(k) > len(from) && k[:len(from)+1] == from+"/") {
					nk := m.Path + k[len(from):]
					v.Path = nk
					moved[nk] = v
				}
			}
			removeTree(from)
			mkParents(m.Path)
			for k, v := range moved {
				tree[k] = v
			}
		}
	}
	return tree
}

func parentOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return ""
}

// sameTree compares trees by path, kind, size and hash (directory mtimes and seqs of
// implicitly created parents are not carried by events).
func sameTree(t *testing.T, got, want map[string]protocol.Metadata) {
	t.Helper()
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, ok1 := got[k]
		w, ok2 := want[k]
		if !ok1 || !ok2 || g.IsDirectory != w.IsDirectory || g.Size != w.Size || g.Hash != w.Hash ||
			(!g.IsDirectory && !g.Modified.Equal(w.Modified)) {
			t.Errorf("path %q: got %+v (%v), want %+v (%v)", k, g, ok1, w, ok2)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// openRegistry opens a registry on db and the data dir dir with a syncBus (localbus
// imports this package, so this package's own tests cannot use it).
func openRegistry(ctx context.Context, db *sql.DB, dir string, limits Limits, logger *slog.Logger) (*Registry, error) {
	return openRegistryOn(ctx, db, dir, limits, logger, &syncBus{})
}

// openRegistryOn is openRegistry on bus.
func openRegistryOn(ctx context.Context, db *sql.DB, dir string, limits Limits, logger *slog.Logger, bus Bus) (*Registry, error) {
	store, err := sqlite.NewStore(ctx, db, logger)
	if err != nil {
		return nil, err
	}
	blobs, err := rootblobs.New(dir)
	if err != nil {
		return nil, err
	}
	return Open(ctx, Deps{Index: store, Bus: bus, Blobs: blobs}, limits, logger)
}

// inProcBus is syncBus declaring itself in-process and lossless (InProcess), as
// tenants/localbus does.
type inProcBus struct{ syncBus }

func (*inProcBus) InProcess() bool { return true }

// syncBus is an in-process Bus for this package's tests that also records every
// notice: it calls subscribers on the publisher's goroutine, like tenants/localbus.
type syncBus struct {
	mu      sync.Mutex
	subs    []func(Notice)
	losses  []func()
	notices []Notice
	down    bool          // Publish fails (a bus outage)
	deaf    bool          // the subscription is not connected (Receiving)
	gate    chan struct{} // non-nil: Publish waits until it is closed (a slow bus)
}

var errBusDown = errors.New("bus down")

func (b *syncBus) Publish(ctx context.Context, n Notice) error {
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.mu.Lock()
	if b.down {
		b.mu.Unlock()
		return errBusDown
	}
	b.notices = append(b.notices, n)
	subs := b.subs
	b.mu.Unlock()
	for _, fn := range subs {
		fn(n)
	}
	return nil
}

// published returns a copy of the notices published so far.
func (b *syncBus) published() []Notice {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Notice(nil), b.notices...)
}

// setDown starts (true) or ends an outage; its end is reported to subscribers as a
// possible loss, as a network bus does on reconnecting.
func (b *syncBus) setDown(down bool) {
	b.mu.Lock()
	b.down = down
	losses := b.losses
	b.mu.Unlock()
	if !down {
		for _, fn := range losses {
			fn()
		}
	}
}

func (b *syncBus) Subscribe(fn func(Notice), onLoss func()) func() {
	b.mu.Lock()
	b.subs = append(b.subs, fn)
	b.losses = append(b.losses, onLoss)
	b.mu.Unlock()
	return func() {}
}

func (b *syncBus) Close() error { return nil }

func (b *syncBus) Receiving() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.deaf
}

func (b *syncBus) set(fn func(b *syncBus)) {
	b.mu.Lock()
	fn(b)
	b.mu.Unlock()
}

// busOf returns the test bus of r, in-process or not.
func busOf(r *Registry) *syncBus {
	if b, ok := r.bus.(*inProcBus); ok {
		return &b.syncBus
	}
	return r.bus.(*syncBus)
}

// deletedIn collects what sp.Deleted streams for dir.
func deletedIn(ctx context.Context, sp *Space, dir string) ([]DeletedEntry, error) {
	var out []DeletedEntry
	err := sp.Deleted(ctx, dir, func(e DeletedEntry) error {
		out = append(out, e)
		return nil
	})
	return out, err
}
