package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/delta"
	"github.com/syncspace/syncspace/sync/protocol"
)

// randBytes returns n pseudo-random bytes from seed.
func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, (n+7)/8*8)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	b = b[:n]
	return b
}

func chunksOf(t testing.TB, b []byte) []chunk.Chunk {
	t.Helper()
	cs, err := chunk.List(context.Background(), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// applyOps decodes enc against base with the server's decoder (package delta).
func applyOps(base, enc []byte) ([]byte, error) {
	return io.ReadAll(delta.NewReader(bytes.NewReader(base), int64(len(base)), bytes.NewReader(enc)))
}

// encode is the wire form of ops over the new content next.
func encode(t testing.TB, next []byte, ops []deltaOp) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeOps(&b, bytes.NewReader(next), ops); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// edits are the changes the delta tests apply to a base content.
var edits = []struct {
	name string
	edit func(b []byte) []byte
	// maxLiteral bounds the literal bytes of the plan (0 = anything under half).
	maxLiteral int64
}{
	{"same", func(b []byte) []byte { return b }, 1},
	{"one byte", func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 1; return b }, 2 * chunk.MaxSize},
	{"insert 100", func(b []byte) []byte {
		return append(append(append([]byte{}, b[:len(b)/2]...), bytes.Repeat([]byte("x"), 100)...), b[len(b)/2:]...)
	}, 3 * chunk.MaxSize},
	{"delete 1000", func(b []byte) []byte { return append(append([]byte{}, b[:len(b)/3]...), b[len(b)/3+1000:]...) }, 3 * chunk.MaxSize},
	{"append", func(b []byte) []byte { return append(bytes.Clone(b), randBytes(300<<10, 9)...) }, 300<<10 + chunk.MaxSize},
	{"truncate", func(b []byte) []byte { return b[:len(b)-12345] }, chunk.MaxSize},
	{"swap halves", func(b []byte) []byte { return append(bytes.Clone(b[len(b)/2:]), b[:len(b)/2]...) }, 3 * chunk.MaxSize},
	{"all new", func(b []byte) []byte { return randBytes(len(b), 77) }, 0},
	{"big literal", func(b []byte) []byte {
		// 4 MiB + 1000 of new data in the middle: more than one 'D' op of maxLiteral.
		return append(append(append([]byte{}, b[:len(b)/2]...), randBytes(delta.MaxData+1000, 5)...), b[len(b)/2:]...)
	}, delta.MaxData + 1000 + 2*chunk.MaxSize},
}

func TestPlanUploadRoundTrip(t *testing.T) {
	base := randBytes(3<<20, 1)
	baseChunks := chunksOf(t, base)
	for _, tc := range edits {
		t.Run(tc.name, func(t *testing.T) {
			next := tc.edit(base)
			ops, literal := planUpload(baseChunks, chunksOf(t, next))
			for i := 1; i < len(ops); i++ {
				if ops[i].copy == ops[i-1].copy && ops[i].off == ops[i-1].off+ops[i-1].n {
					t.Fatalf("ops %d and %d not coalesced: %+v %+v", i-1, i, ops[i-1], ops[i])
				}
			}
			if tc.maxLiteral > 0 && literal > tc.maxLiteral {
				t.Errorf("literal %d bytes, want ≤ %d", literal, tc.maxLiteral)
			}
			if tc.name == "all new" && worthDelta(literal, int64(len(next))) {
				t.Errorf("all-new content judged worth a delta (literal %d of %d)", literal, len(next))
			}
			enc := encode(t, next, ops)
			got, err := applyOps(base, enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, next) {
				t.Fatalf("decoded content differs (len %d, want %d)", len(got), len(next))
			}
			if overhead := int64(len(enc)) - literal; overhead > int64(len(ops))*17+literal/(64<<10)*5+64 {
				t.Errorf("stream of %d bytes for %d literal bytes in %d ops", len(enc), literal, len(ops))
			}
			// The stream through the pipe is the same.
			piped, err := io.ReadAll(opStream(bytes.NewReader(next), ops))
			if err != nil || !bytes.Equal(piped, enc) {
				t.Fatalf("piped stream differs (err %v)", err)
			}
		})
	}
}

func TestWriteOpsShortSource(t *testing.T) {
	next := randBytes(2<<20, 3)
	ops := []deltaOp{{copy: true, off: 0, n: 100}, {off: 0, n: int64(len(next))}}
	err := writeOps(io.Discard, bytes.NewReader(next[:len(next)-1]), ops)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a source shorter than the plan: err %v, want io.ErrUnexpectedEOF", err)
	}
	_, err = io.ReadAll(opStream(bytes.NewReader(next[:10]), ops))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("piped: err %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestEncodedEmptyAndOneByte(t *testing.T) {
	if enc := encode(t, nil, nil); !bytes.Equal(enc, []byte{'E'}) {
		t.Fatalf("no ops: %q", enc)
	}
	enc := encode(t, []byte("z"), []deltaOp{{copy: true, off: 7, n: 9}, {off: 0, n: 1}})
	want := []byte{'C', 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9, 'D', 0, 0, 0, 1, 'z', 'E'}
	if !bytes.Equal(enc, want) {
		t.Fatalf("got % x\nwant % x", enc, want)
	}
}

// rangeServer serves ranges of content like DownloadRanges, optionally corrupting
// one byte of the answer or cutting it.
type rangeServer struct {
	content []byte
	calls   int
	corrupt bool
	cut     bool
}

func (s *rangeServer) ranges(rs []ByteRange, fn func(ByteRange, io.Reader) error) error {
	s.calls++
	if len(rs) > maxRangesPerRequest {
		return fmt.Errorf("%d ranges in one request", len(rs))
	}
	for _, r := range rs {
		b := bytes.Clone(s.content[r.Off : r.Off+r.Len])
		if s.corrupt {
			b[0] ^= 0xff
		}
		if s.cut {
			b = b[:len(b)-1]
		}
		if err := fn(r, bytes.NewReader(b)); err != nil {
			return err
		}
	}
	return nil
}

// assemble runs a planned download of next from the local content old through a
// rangeServer, as deltaFetch does.
func assemble(t *testing.T, old, next []byte, srv *rangeServer) ([]byte, int64, error) {
	t.Helper()
	segs, ranges, missing := planDownload(chunksOf(t, next), chunksOf(t, old))
	var got bytes.Buffer
	as := assembler{w: &got, local: bytes.NewReader(old), segs: segs}
	for start := 0; start < len(ranges); start += maxRangesPerRequest {
		if err := srv.ranges(ranges[start:min(start+maxRangesPerRequest, len(ranges))], as.fetched); err != nil {
			return nil, missing, err
		}
	}
	err := as.finish()
	return got.Bytes(), missing, err
}

func TestDownloadAssemble(t *testing.T) {
	old := randBytes(3<<20, 1)
	for _, tc := range edits {
		t.Run(tc.name, func(t *testing.T) {
			next := tc.edit(old)
			got, missing, err := assemble(t, old, next, &rangeServer{content: next})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, next) {
				t.Fatalf("assembled content differs (len %d, want %d)", len(got), len(next))
			}
			if tc.maxLiteral > 0 && missing > tc.maxLiteral {
				t.Errorf("fetched %d bytes, want ≤ %d", missing, tc.maxLiteral)
			}
		})
	}
}

func TestDownloadAssembleManyRanges(t *testing.T) {
	// Every other chunk changed: more ranges than one request carries.
	old := randBytes(10<<20, 2)
	next := bytes.Clone(old)
	cs := chunksOf(t, old)
	for i := 0; i < len(cs); i += 2 {
		next[cs[i].Offset+cs[i].Size/2] ^= 1
	}
	srv := &rangeServer{content: next}
	got, _, err := assemble(t, old, next, srv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, next) {
		t.Fatal("assembled content differs")
	}
	if srv.calls < 2 {
		t.Fatalf("%d requests for %d changed chunks, want the ranges split over several", srv.calls, len(cs)/2)
	}
}

func TestDownloadAssembleBadAnswers(t *testing.T) {
	old := randBytes(4<<20, 4)
	next := edits[1].edit(old)
	// A corrupted range assembles but the content differs: the whole-file hash
	// (checked by downloadFrom) catches it.
	got, _, err := assemble(t, old, next, &rangeServer{content: next, corrupt: true})
	if err != nil || bytes.Equal(got, next) {
		t.Fatalf("corrupted range: err %v, equal %v; want assembled different content", err, bytes.Equal(got, next))
	}
	if _, _, err := assemble(t, old, next, &rangeServer{content: next, cut: true}); err == nil {
		t.Fatal("a range cut short was accepted")
	}
	// A range never asked for is refused.
	segs, _, _ := planDownload(chunksOf(t, next), chunksOf(t, old))
	as := assembler{w: io.Discard, local: bytes.NewReader(old), segs: segs}
	if err := as.fetched(ByteRange{Off: 1, Len: 10}, bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatal("a range not asked for was accepted")
	}
	// Ranges that never arrive are reported.
	as = assembler{w: io.Discard, local: bytes.NewReader(old), segs: segs}
	if err := as.finish(); err == nil {
		t.Fatal("finish without the missing ranges succeeded")
	}
	// A local file that shrank after chunking is an error, not a short file.
	as = assembler{w: io.Discard, local: bytes.NewReader(old[:len(old)/4]), segs: segs}
	if err := as.copyLocal(); err == nil {
		t.Fatal("a shrunk local file was copied without error")
	}
}

func TestWantDeltaUpload(t *testing.T) {
	base := func(size int64) protocol.Metadata { return protocol.Metadata{Path: "f", Hash: hashOf('a'), Size: size} }
	r := struct {
		Remote
		Deltaer
	}{}
	for _, tc := range []struct {
		name   string
		remote Remote
		base   protocol.Metadata
		baseOK bool
		size   int64
		want   bool
	}{
		{"large file over a large base", r, base(8 << 20), true, 8 << 20, true},
		{"under 1 MiB travels whole", r, base(8 << 20), true, chunk.MinDeltaSize - 1, false},
		{"no base on the server", r, base(8 << 20), false, 8 << 20, false},
		{"base without hash", r, protocol.Metadata{Size: 8 << 20}, true, 8 << 20, false},
		{"directory in the way", r, protocol.Metadata{Hash: hashOf('a'), IsDirectory: true}, true, 8 << 20, false},
		{"base too small to help", r, base(1 << 20), true, 8 << 20, false},
		{"remote without deltas", struct{ Remote }{}, base(8 << 20), true, 8 << 20, false},
	} {
		if _, got := wantDeltaUpload(tc.remote, tc.base, tc.baseOK, tc.size); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
