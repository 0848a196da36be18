package tenants

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/delta"
	"github.com/syncspace/syncspace/sync/protocol"
)

func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// deltaOf encodes next against base as a client would (chunks the base has are
// copies, the others literals).
func deltaOf(t testing.TB, base, next []byte) []byte {
	t.Helper()
	have := map[[32]byte]int64{}
	bl, _ := chunk.List(context.Background(), bytes.NewReader(base))
	for _, c := range bl {
		have[c.Hash] = c.Offset
	}
	nl, _ := chunk.List(context.Background(), bytes.NewReader(next))
	var buf bytes.Buffer
	w := delta.NewWriter(&buf)
	for _, c := range nl {
		if off, ok := have[c.Hash]; ok {
			w.Copy(off, c.Size)
		} else {
			w.Data(next[c.Offset : c.Offset+c.Size])
		}
	}
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withH puts an 'H' op with h before the final 'E' of ops.
func withH(ops []byte, h [32]byte) []byte {
	out := append(bytes.Clone(ops[:len(ops)-1]), delta.OpHash)
	out = append(out, h[:]...)
	return append(out, delta.OpEnd)
}

func wantList(t *testing.T, got protocol.ChunkList, content []byte) {
	t.Helper()
	want, _ := chunk.List(context.Background(), bytes.NewReader(content))
	if got.Hash != sum(content) || got.Size != int64(len(content)) || len(got.Chunks) != len(want) {
		t.Fatalf("list %s/%d with %d chunks, want %s/%d with %d", got.Hash, got.Size, len(got.Chunks), sum(content), len(content), len(want))
	}
	for i, c := range want {
		if got.Chunks[i].Hash != c.Hash || got.Chunks[i].Size != c.Size {
			t.Fatalf("chunk %d differs", i)
		}
	}
}

func (e *env) storedList(hash string) []byte {
	e.t.Helper()
	b, err := e.reg.index.ChunkList(context.Background(), e.sp.id, hash)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// TestChunksKeptFromUpload: the list is recorded as the upload streams in (declared
// size or not) and answered without reading the content again; the replaced
// content's list goes; small files keep none but still answer.
func TestChunksKeptFromUpload(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	v1 := randomData(1, 2<<20)
	m := e.put("a.bin", v1)
	if e.storedList(m.Hash) == nil {
		t.Fatal("no list kept for a declared-size upload")
	}
	// Chunked upload (no declared size).
	v2 := randomData(2, 3<<20)
	m2, _, err := e.sp.Put(ctx, "a.bin", io.MultiReader(bytes.NewReader(v2)), PutOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	if e.storedList(m2.Hash) == nil || e.storedList(m.Hash) != nil {
		t.Fatal("the new list is missing or the replaced one kept")
	}
	// Answered from the index: the file's bytes are not read (they are gone here).
	if err := os.Remove(filepath.Join(e.filesDir(), "a.bin")); err != nil {
		t.Fatal(err)
	}
	l, err := NewDelta(e.sp).Chunks(ctx, "a.bin")
	if err != nil {
		t.Fatal(err)
	}
	wantList(t, l, v2)
	if l.Seq != m2.Seq {
		t.Fatalf("seq %d, want %d", l.Seq, m2.Seq)
	}
	// Replaced by a small file (which keeps no list): the large content's list goes.
	m3 := e.put("b.bin", randomData(4, 1<<20))
	if e.storedList(m3.Hash) == nil {
		t.Fatal("no list kept for a file of exactly chunk.MinDeltaSize")
	}
	e.put("b.bin", []byte("now small"))
	if e.storedList(m3.Hash) != nil {
		t.Fatal("the replaced content's list kept after a small upload")
	}
	// Small: nothing kept, computed on the fly.
	ms := e.put("s.txt", []byte("small"))
	if e.storedList(ms.Hash) != nil {
		t.Fatal("a list kept for a small file")
	}
	l, err = NewDelta(e.sp).Chunks(ctx, "s.txt")
	if err != nil {
		t.Fatal(err)
	}
	wantList(t, l, []byte("small"))
	if _, err := NewDelta(e.sp).Chunks(ctx, "nope"); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatalf("missing: %v", err)
	}
	e.sp.Mkdir(ctx, "dir", Source{})
	if _, err := NewDelta(e.sp).Chunks(ctx, "dir"); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatalf("directory: %v", err)
	}
}

// TestChunksComputedOnce: content without a list (arrived another way, or a lost
// list) is chunked on first request and the list kept; a damaged list is ignored.
func TestChunksComputedOnce(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	v := randomData(3, 2<<20)
	m := e.put("a.bin", v)
	if err := e.reg.index.DropChunkList(ctx, e.sp.id, m.Hash); err != nil {
		t.Fatal(err)
	}
	l, err := NewDelta(e.sp).Chunks(ctx, "a.bin")
	if err != nil {
		t.Fatal(err)
	}
	wantList(t, l, v)
	if e.storedList(m.Hash) == nil {
		t.Fatal("computed list not kept")
	}
	if err := e.reg.index.PutChunkList(ctx, e.sp.id, m.Hash, []byte("damaged")); err != nil {
		t.Fatal(err)
	}
	if l, err = NewDelta(e.sp).Chunks(ctx, "a.bin"); err != nil {
		t.Fatal(err)
	}
	wantList(t, l, v)
}

func TestChunkListEncoding(t *testing.T) {
	l := []protocol.ChunkRef{{Hash: [32]byte{1}, Size: 1}, {Hash: [32]byte{2}, Size: chunk.MaxSize}, {Hash: [32]byte{3}, Size: 300}}
	b := encodeChunks(l)
	got, ok := decodeChunks(b, 1+chunk.MaxSize+300)
	if !ok || len(got) != 3 || got[1] != l[1] {
		t.Fatalf("round trip: %v %+v", ok, got)
	}
	for name, c := range map[string]struct {
		b    []byte
		size int64
	}{
		"wrong total": {b, 5},
		"truncated":   {b[:len(b)-1], 1 + chunk.MaxSize + 300},
		"short":       {b[:20], 1},
		"zero size":   {append(make([]byte, 32), 0), 0},
		"over max":    {encodeChunks([]protocol.ChunkRef{{Size: chunk.MaxSize + 1}}), chunk.MaxSize + 1},
	} {
		if _, ok := decodeChunks(c.b, c.size); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// state is what a failed delta must leave alone.
type state struct {
	content []byte
	meta    protocol.Metadata
	seq     int64
	evs     int
}

func (e *env) state(p string) state {
	e.t.Helper()
	m, err := e.sp.Stat(context.Background(), p)
	if err != nil {
		e.t.Fatal(err)
	}
	_, seq := e.sp.Head()
	return state{content: e.read(p), meta: m, seq: seq, evs: len(e.evs())}
}

func (e *env) sameState(before state, p string) {
	e.t.Helper()
	after := e.state(p)
	if !bytes.Equal(after.content, before.content) || after.meta != before.meta || after.seq != before.seq || after.evs != before.evs {
		e.t.Fatalf("a failed delta changed the store: %+v seq %d -> %+v seq %d", before.meta, before.seq, after.meta, after.seq)
	}
	tmp, err := os.ReadDir(filepath.Join(e.dir, "tenants", e.tenant, "tmp"))
	if err != nil || len(tmp) != 0 {
		e.t.Fatalf("temp files left: %v %v", tmp, err)
	}
}

type failingReader struct {
	r   io.Reader
	n   int // bytes before the failure
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// TestDeltaAtomic: a delta that fails at any point (malformed or cut stream, a base
// that cannot be read, a digest mismatch) leaves content, metadata, head, events and
// temp files as they were; a good one commits with one event.
func TestDeltaAtomic(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	base := randomData(4, 3<<20)
	m := e.put("a.bin", base)
	next := bytes.Clone(base)
	next[len(next)/2] ^= 1
	ops := deltaOf(t, base, next)
	o := PutOptions{IfMatch: m.Hash, SHA256: sum(next)}
	reset := errors.New("connection reset")
	for _, tc := range []struct {
		name string
		ops  io.Reader
		o    PutOptions
		code protocol.Code
	}{
		{"stream cut", &failingReader{r: bytes.NewReader(ops), n: len(ops) / 2, err: reset}, o, protocol.CodeBadRequest},
		{"stream without E", bytes.NewReader(ops[:len(ops)-1]), o, protocol.CodeBadDelta},
		{"digest mismatch", bytes.NewReader(ops), PutOptions{IfMatch: m.Hash, SHA256: sum(base)}, protocol.CodeDigestMismatch},
		{"no If-Match", bytes.NewReader(ops), PutOptions{SHA256: sum(next)}, protocol.CodePreconditionRequired},
		{"no digest", bytes.NewReader(ops), PutOptions{IfMatch: m.Hash}, protocol.CodeBadRequest},
		// The hash as the stream's last op ('H'), X-Content-SHA256 then optional.
		{"H wrong", bytes.NewReader(withH(ops, sha256.Sum256(base))), PutOptions{IfMatch: m.Hash}, protocol.CodeDigestMismatch},
		{"H and header disagree", bytes.NewReader(withH(ops, sha256.Sum256(next))), PutOptions{IfMatch: m.Hash, SHA256: sum(base)}, protocol.CodeBadDelta},
		{"H right, stream cut before E", bytes.NewReader(withH(ops, sha256.Sum256(next))[:len(ops)+32]), PutOptions{IfMatch: m.Hash}, protocol.CodeBadDelta},
		{"H right, body broken before E", &failingReader{r: bytes.NewReader(withH(ops, sha256.Sum256(next))), n: len(ops) + 32, err: reset}, PutOptions{IfMatch: m.Hash}, protocol.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.state("a.bin")
			_, _, err := NewDelta(e.sp).Put(ctx, "a.bin", tc.ops, tc.o)
			wantCode(t, err, tc.code)
			e.sameState(before, "a.bin")
		})
	}
	t.Run("base unreadable", func(t *testing.T) {
		before := e.state("a.bin")
		// The file shrinks on disk behind the index: copies past its end fail.
		p := filepath.Join(e.filesDir(), "a.bin")
		if err := os.Truncate(p, 1<<20); err != nil {
			t.Fatal(err)
		}
		_, _, err := NewDelta(e.sp).Put(ctx, "a.bin", bytes.NewReader(ops), o)
		wantCode(t, err, protocol.CodeInternal)
		if err := os.WriteFile(p, base, 0o600); err != nil {
			t.Fatal(err)
		}
		e.sameState(before, "a.bin")
	})
	m2, created, err := NewDelta(e.sp).Put(ctx, "a.bin", bytes.NewReader(ops), o)
	if err != nil || created || m2.Hash != sum(next) || !bytes.Equal(e.read("a.bin"), next) {
		t.Fatalf("good delta: %v %v %+v", err, created, m2)
	}
	// Back to base with the hash in an 'H' op only.
	back := withH(deltaOf(t, next, base), sha256.Sum256(base))
	m3, _, err := NewDelta(e.sp).Put(ctx, "a.bin", bytes.NewReader(back), PutOptions{IfMatch: m2.Hash})
	if err != nil || m3.Hash != sum(base) || !bytes.Equal(e.read("a.bin"), base) {
		t.Fatalf("delta with 'H': %v %+v", err, m3)
	}
	m2, _, err = NewDelta(e.sp).Put(ctx, "a.bin", bytes.NewReader(withH(ops, sha256.Sum256(next))), PutOptions{IfMatch: m3.Hash, SHA256: sum(next)})
	if err != nil || m2.Hash != sum(next) {
		t.Fatalf("delta with 'H' and the same header: %v %+v", err, m2)
	}
	if evs := e.evs(); evs[len(evs)-1].Seq != m2.Seq || evs[len(evs)-1].Operation.Kind() != protocol.OpUpdate {
		t.Fatalf("event: %+v", evs[len(evs)-1])
	}
	if e.storedList(m2.Hash) == nil || e.storedList(m.Hash) != nil {
		t.Fatal("chunk lists not moved to the new content")
	}
}

// raceReader replaces the file while the delta body is being read: the delta was
// built on a base that is no longer current, so it must fail with 412 and the other
// writer's content stay.
type raceReader struct {
	r    io.Reader
	done bool
	fn   func()
}

func (r *raceReader) Read(p []byte) (int, error) {
	if !r.done {
		r.done = true
		r.fn()
	}
	return r.r.Read(p)
}

func TestDeltaBaseReplacedMeanwhile(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	base := randomData(5, 2<<20)
	m := e.put("a.bin", base)
	next := bytes.Clone(base)
	next[10] ^= 1
	other := randomData(6, 2<<20)
	rr := &raceReader{r: bytes.NewReader(deltaOf(t, base, next)), fn: func() { e.put("a.bin", other) }}
	_, _, err := NewDelta(e.sp).Put(ctx, "a.bin", rr, PutOptions{IfMatch: m.Hash, SHA256: sum(next)})
	wantCode(t, err, protocol.CodePreconditionFailed)
	if !bytes.Equal(e.read("a.bin"), other) {
		t.Fatal("the other writer's content was lost")
	}
}

// TestDeltaListDerived: the list kept for a delta's result, derived from the base's
// list and the ops (delta.Reader.ListChunks), is the list of the result's bytes, for
// a client's ops and for ops no client would send; without a base list the result is
// chunked as it streams in.
func TestDeltaListDerived(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	cur := randomData(11, 3<<20)
	m := e.put("a.bin", cur)
	hostile := func(base, _ []byte) []byte {
		// A base chunk copied one byte off its start, then the base's first chunk
		// after a literal byte: neither may keep the base list's hash.
		bl, _ := chunk.List(ctx, bytes.NewReader(base))
		var buf bytes.Buffer
		w := delta.NewWriter(&buf)
		w.Copy(bl[1].Offset+1, bl[1].Size)
		w.Data([]byte{7})
		w.Copy(0, bl[0].Size+bl[1].Size)
		w.Copy(bl[2].Offset, int64(len(base))-bl[2].Offset)
		if err := w.End(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for _, step := range []struct {
		name   string
		edit   func(b []byte) []byte
		ops    func(base, next []byte) []byte
		nobase bool
	}{
		{name: "flip", edit: func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 1; return b }},
		{name: "insert", edit: func(b []byte) []byte { return slices.Concat(b[:len(b)/2], randomData(12, 100), b[len(b)/2:]) }},
		{name: "delete", edit: func(b []byte) []byte { return slices.Concat(b[:1000], b[90000:]) }},
		{name: "append", edit: func(b []byte) []byte { return slices.Concat(b, randomData(13, 300000)) }},
		{name: "no base list", edit: func(b []byte) []byte { b = bytes.Clone(b); b[7] ^= 1; return b }, nobase: true},
		{name: "hostile ops", ops: hostile},
	} {
		t.Run(step.name, func(t *testing.T) {
			ops := step.ops
			if ops == nil {
				ops = func(base, next []byte) []byte { return deltaOf(t, base, next) }
			}
			var next []byte
			body := ops(cur, nil)
			if step.edit != nil {
				next = step.edit(cur)
				body = ops(cur, next)
			} else {
				var err error
				next, err = io.ReadAll(delta.NewReader(bytes.NewReader(cur), int64(len(cur)), bytes.NewReader(body)))
				if err != nil {
					t.Fatal(err)
				}
			}
			if step.nobase {
				if err := e.reg.index.DropChunkList(ctx, e.sp.id, m.Hash); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			m, _, err = NewDelta(e.sp).Put(ctx, "a.bin", bytes.NewReader(body), PutOptions{IfMatch: m.Hash, SHA256: sum(next)})
			if err != nil {
				t.Fatal(err)
			}
			if e.storedList(m.Hash) == nil {
				t.Fatal("no list kept")
			}
			l, err := NewDelta(e.sp).Chunks(ctx, "a.bin")
			if err != nil {
				t.Fatal(err)
			}
			wantList(t, l, next)
			cur = next
		})
	}
}

// TestChunksDroppedWithDelete: deleting a file, or a directory holding large files,
// forgets their chunk lists (the content lives on only as a version); a failed delete
// keeps them, and a restore records the list again.
func TestChunksDroppedWithDelete(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	a := e.put("a.bin", randomData(11, 2<<20))
	b := e.put("d/b.bin", randomData(12, 2<<20))
	c := e.put("d/sub/c.bin", randomData(13, 3<<20))
	for _, m := range []protocol.Metadata{a, b, c} {
		if e.storedList(m.Hash) == nil {
			t.Fatalf("%s: no list kept", m.Path)
		}
	}
	// A refused delete (wrong If-Match; non-recursive on a full directory) keeps them.
	if _, err := e.sp.Delete(ctx, "a.bin", DeleteOptions{IfMatch: b.Hash}); protocol.CodeOf(err) != protocol.CodePreconditionFailed {
		t.Fatalf("delete with a wrong If-Match: %v", err)
	}
	if _, err := e.sp.Delete(ctx, "d", DeleteOptions{}); protocol.CodeOf(err) != protocol.CodeConflict {
		t.Fatalf("delete of a full directory without recursive: %v", err)
	}
	if e.storedList(a.Hash) == nil || e.storedList(b.Hash) == nil {
		t.Fatal("a refused delete dropped a list")
	}
	if _, err := e.sp.Delete(ctx, "a.bin", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if e.storedList(a.Hash) != nil {
		t.Fatal("the deleted file's list is kept")
	}
	if _, err := e.sp.Delete(ctx, "d", DeleteOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if e.storedList(b.Hash) != nil || e.storedList(c.Hash) != nil {
		t.Fatal("lists of a deleted directory's files are kept")
	}
	gone, err := deletedIn(ctx, e.sp, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range gone {
		if d.Path != "a.bin" {
			continue
		}
		if _, err := e.sp.Restore(ctx, d.Path, d.Version, "", Source{}); err != nil {
			t.Fatal(err)
		}
		if e.storedList(a.Hash) == nil {
			t.Fatal("no list after the restore")
		}
		return
	}
	t.Fatalf("a.bin not among the deleted: %+v", gone)
}

// TestChunkListsUnused: a list stays while some file has its content (the same
// content at two paths, a move), goes with the last of them (delete, overwrite), and
// the registry's sweep takes those the drops leave behind (a file removed by hand
// while syncd was down, a list stored as its file went) and no list in use. Version
// pruning changes nothing: versions keep no list.
func TestChunkListsUnused(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	v := randomData(21, 2<<20)
	a := e.put("a.bin", v)
	e.put("b.bin", v)
	if _, err := e.sp.Delete(ctx, "a.bin", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if e.storedList(a.Hash) == nil {
		t.Fatal("deleting one of two files with the same content dropped its list")
	}
	if _, err := e.sp.Move(ctx, "b.bin", "c.bin", "", Source{}); err != nil {
		t.Fatal(err)
	}
	e.put("d.bin", v)
	e.put("c.bin", []byte("small now"))
	if e.storedList(a.Hash) == nil {
		t.Fatal("overwriting one of two files with the same content dropped its list")
	}
	e.put("d.bin", randomData(22, 1<<20))
	if e.storedList(a.Hash) != nil {
		t.Fatal("the list is kept after the last file with its content was overwritten")
	}
	// Leftovers: a file removed by hand while syncd was down (the start-up check
	// commits its deletion; no drop runs) and a list stored for a content no file
	// has (a delete that raced the upload's keep).
	gone := e.put("gone.bin", randomData(23, 3<<20))
	kept := e.put("kept.bin", randomData(24, 2<<20))
	e.close()
	must(t, os.Remove(filepath.Join(e.filesDir(), "gone.bin")))
	e.open()
	e.space()
	if m, err := e.sp.Stat(ctx, "gone.bin"); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatalf("the start-up check kept the removed file: %+v %v", m, err)
	}
	raced := sum(randomData(25, 2<<20))
	must(t, e.reg.index.PutChunkList(ctx, e.sp.id, raced, []byte("list")))
	if e.storedList(gone.Hash) == nil {
		t.Fatal("test premise: the reconciled file's list was dropped already")
	}
	e.reg.prune(ctx) // versions (none expire: unlimited retention), then the sweep
	if e.storedList(gone.Hash) != nil || e.storedList(raced) != nil {
		t.Fatal("the sweep left an unused list")
	}
	if e.storedList(kept.Hash) == nil {
		t.Fatal("the sweep dropped a list in use")
	}
	// The next sweep waits for chunkSweepEvery.
	must(t, e.reg.index.PutChunkList(ctx, e.sp.id, raced, []byte("list")))
	e.reg.prune(ctx)
	if e.storedList(raced) == nil {
		t.Fatal("a sweep ran again before chunkSweepEvery")
	}
	// A restore of a kept version (its list went with the delete) records it again.
	if _, err := e.sp.Delete(ctx, "kept.bin", DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	del, err := deletedIn(ctx, e.sp, "")
	must(t, err)
	for _, d := range del {
		if d.Path == "kept.bin" {
			if _, err := e.sp.Restore(ctx, d.Path, d.Version, "again.bin", Source{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if e.storedList(kept.Hash) == nil {
		t.Fatal("no list after restoring a kept version")
	}
}
