package chunk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

func mustList(t testing.TB, b []byte) []Chunk {
	t.Helper()
	l, err := List(context.Background(), bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// checkCover fails unless l tiles b exactly with correct hashes and legal sizes.
func checkCover(t testing.TB, b []byte, l []Chunk) {
	t.Helper()
	var off int64
	for i, c := range l {
		if c.Offset != off {
			t.Fatalf("chunk %d at %d, want %d", i, c.Offset, off)
		}
		if c.Size <= 0 || c.Size > MaxSize || (c.Size < MinSize && i != len(l)-1) {
			t.Fatalf("chunk %d of %d has size %d", i, len(l), c.Size)
		}
		if c.Hash != sha256.Sum256(b[off:off+c.Size]) {
			t.Fatalf("chunk %d: wrong hash", i)
		}
		off += c.Size
	}
	if off != int64(len(b)) {
		t.Fatalf("chunks cover %d of %d bytes", off, len(b))
	}
}

func TestSplitCoversAndSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{7}},
		{"below min", randomBytes(1, MinSize-1)},
		{"exactly min", randomBytes(2, MinSize)},
		{"random 4 MiB", randomBytes(3, 4<<20)},
		{"zeros 2 MiB (forced cuts at max)", make([]byte, 2<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := mustList(t, tc.data)
			checkCover(t, tc.data, l)
			if len(tc.data) == 0 && len(l) != 0 {
				t.Fatalf("empty stream gave %d chunks", len(l))
			}
		})
	}
}

func TestZerosCutAtMax(t *testing.T) {
	l := mustList(t, make([]byte, 3*MaxSize))
	if len(l) != 3 {
		t.Fatalf("got %d chunks, want 3 of MaxSize", len(l))
	}
}

func TestAverageSize(t *testing.T) {
	b := randomBytes(4, 8<<20)
	l := mustList(t, b)
	avg := len(b) / len(l)
	if avg < AvgSize/2 || avg > AvgSize*2 {
		t.Fatalf("average chunk %d bytes over %d chunks, want near %d", avg, len(l), AvgSize)
	}
}

// TestWriteSplitIndependent: the cut does not depend on how writes split the stream.
func TestWriteSplitIndependent(t *testing.T) {
	b := randomBytes(5, 3<<20)
	want := mustList(t, b)
	for _, r := range []io.Reader{
		iotest.OneByteReader(bytes.NewReader(b[:256<<10])), // a prefix, byte by byte
		iotest.HalfReader(bytes.NewReader(b)),
	} {
		got, err := List(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		wantPrefix := want
		if n := sum(got); n < int64(len(b)) {
			wantPrefix = mustList(t, b[:n])
		}
		if !equal(got, wantPrefix) {
			t.Fatalf("split by reads differs: %d vs %d chunks", len(got), len(wantPrefix))
		}
	}
	// Odd write sizes straight into a Chunker.
	var got []Chunk
	c := New(func(ch Chunk) error { got = append(got, ch); return nil })
	for p, step := b, 1; len(p) > 0; step = step*7%100003 + 1 {
		n := min(step, len(p))
		if _, err := c.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !equal(got, want) || c.Size() != int64(len(b)) {
		t.Fatal("odd writes changed the cut")
	}
}

func sum(l []Chunk) (n int64) {
	for _, c := range l {
		n += c.Size
	}
	return n
}

func equal(a, b []Chunk) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// shared counts the bytes of b's chunks whose hash also appears in a.
func shared(a, b []Chunk) (n int64) {
	have := map[[32]byte]bool{}
	for _, c := range a {
		have[c.Hash] = true
	}
	for _, c := range b {
		if have[c.Hash] {
			n += c.Size
		}
	}
	return n
}

// TestEditsStayLocal: a 1-byte change, a 100-byte insertion and a deletion in the
// middle leave all but a few chunks intact (the point of content-defined cuts).
func TestEditsStayLocal(t *testing.T) {
	base := randomBytes(6, 8<<20)
	old := mustList(t, base)
	mid := len(base) / 2
	flip := bytes.Clone(base)
	flip[mid] ^= 0xff
	insert := append(append(bytes.Clone(base[:mid]), randomBytes(7, 100)...), base[mid:]...)
	del := append(bytes.Clone(base[:mid]), base[mid+1000:]...)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"flip", flip}, {"insert 100", insert}, {"delete 1000", del}} {
		t.Run(tc.name, func(t *testing.T) {
			l := mustList(t, tc.data)
			checkCover(t, tc.data, l)
			missing := int64(len(tc.data)) - shared(old, l)
			if missing > 3*MaxSize {
				t.Fatalf("%d bytes not shared with the base, want ≤ %d", missing, 3*MaxSize)
			}
		})
	}
}

func TestCallbackErrorStops(t *testing.T) {
	boom := errors.New("boom")
	calls := 0
	c := New(func(Chunk) error { calls++; return boom })
	_, err := c.Write(randomBytes(8, 2<<20))
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	if _, err := c.Write([]byte{1}); !errors.Is(err, boom) {
		t.Fatalf("write after failure: %v", err)
	}
	if err := c.Close(); !errors.Is(err, boom) {
		t.Fatalf("close after failure: %v", err)
	}
}

func TestWriteAfterClose(t *testing.T) {
	c := New(func(Chunk) error { return nil })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

func TestSplitContextAndReadError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Split(ctx, bytes.NewReader([]byte{1}), func(Chunk) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	bad := errors.New("disk")
	r := io.MultiReader(bytes.NewReader(randomBytes(9, 100)), iotest.ErrReader(bad))
	if err := Split(context.Background(), r, func(Chunk) error { return nil }); !errors.Is(err, bad) {
		t.Fatalf("read error: %v", err)
	}
}

// TestCutsPinned pins the gear table and the cut points: changing either changes the
// wire format (a server and a client of different builds would share no chunk).
func TestCutsPinned(t *testing.T) {
	l := mustList(t, randomBytes(10, 1<<20))
	h := sha256.New()
	for _, c := range l {
		binary.Write(h, binary.BigEndian, c.Size)
		h.Write(c.Hash[:])
	}
	const want = "0ec4e980afca38a9035b211ca614aa16ac4477e9540509d30b511c0598fda788"
	if got := fmt.Sprintf("%x", h.Sum(nil)); got != want || gear[0] != 0x21ff1726b609606 {
		t.Fatalf("cuts of the pinned input changed: %d chunks, digest %s, gear[0] %#x", len(l), got, gear[0])
	}
}

func FuzzChunker(f *testing.F) {
	f.Add([]byte("hello"), uint16(3))
	f.Add(make([]byte, MaxSize+10), uint16(4096))
	f.Fuzz(func(t *testing.T, data []byte, step uint16) {
		// Repeat small inputs so fuzzing reaches real boundaries.
		for len(data) > 0 && len(data) < 3*MinSize {
			data = append(data, data...)
		}
		want := mustList(t, data)
		checkCover(t, data, want)
		var got []Chunk
		c := New(func(ch Chunk) error { got = append(got, ch); return nil })
		s := int(step)%65536 + 1
		for p := data; len(p) > 0; {
			n := min(s, len(p))
			c.Write(p[:n])
			p = p[n:]
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if !equal(got, want) {
			t.Fatal("write size changed the cut")
		}
	})
}

func BenchmarkSplit(b *testing.B) {
	data := randomBytes(11, 64<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := List(context.Background(), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBoundaries measures the rolling hash alone (no SHA-256).
func BenchmarkBoundaries(b *testing.B) {
	data := randomBytes(12, 64<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c := &Chunker{}
		for p := data; len(p) > 0; {
			cut := c.scan(p)
			if cut < 0 {
				break
			}
			p = p[cut:]
			c.n, c.roll = 0, 0
		}
	}
}
