package chunk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/iotest"
)

// TestSumMatchesSplit: one read gives the whole hash and exactly Split's chunks,
// whatever the sizes of the writes or reads (buffer edges never move a cut).
func TestSumMatchesSplit(t *testing.T) {
	for _, n := range []int{0, 1, MinSize - 1, MaxSize + 7, 3*sumBlock + 12345, 5 << 20} {
		data := randomBytes(uint64(n)+3, n)
		want := mustList(t, data)
		wantSum := sha256.Sum256(data)
		for _, step := range []int{1 << 20, 4096, 65537, sumBlock + 1} {
			s := NewSum()
			for p := data; len(p) > 0; {
				k := min(step, len(p))
				s.Write(p[:k])
				p = p[k:]
			}
			got, chunks := s.Finish()
			if got != wantSum || !equal(chunks, want) || s.Size() != int64(n) {
				t.Fatalf("size %d, writes of %d: sum or chunks differ from Split (%d vs %d chunks)", n, step, len(chunks), len(want))
			}
		}
		s := NewSum()
		if k, err := s.ReadFrom(iotest.HalfReader(bytes.NewReader(data))); err != nil || k != int64(n) {
			t.Fatalf("ReadFrom = %d, %v", k, err)
		}
		got, chunks := s.Finish()
		if got != wantSum || !equal(chunks, want) {
			t.Fatalf("size %d, ReadFrom: sum or chunks differ from Split", n)
		}
		if again, _ := s.Finish(); again != got {
			t.Fatal("second Finish differs")
		}
		checkPrints(t, data, chunks, s.Prints())
		var seen []Chunk
		s = NewSumFunc(nil, func(c Chunk) { seen = append(seen, c) })
		s.ReadFrom(bytes.NewReader(data))
		if got, chunks := s.Finish(); got != wantSum || !equal(chunks, want) || !equal(seen, want) {
			t.Fatalf("size %d, NewSumFunc: %d chunks reported, want %d", n, len(seen), len(want))
		}
		s = NewHashSum()
		s.Write(data)
		if got, chunks := s.Finish(); got != wantSum || chunks != nil || s.Prints() != nil {
			t.Fatalf("size %d, hash only: sum differs or %d chunks", n, len(chunks))
		}
	}
}

// checkPrints fails unless prints holds the Print of each chunk of l in data.
func checkPrints(t *testing.T, data []byte, l []Chunk, prints []Print) {
	t.Helper()
	if len(prints) != len(l) {
		t.Fatalf("%d prints for %d chunks", len(prints), len(l))
	}
	for i, c := range l {
		if prints[i] != PrintOf(data[c.Offset:c.Offset+c.Size]) {
			t.Fatalf("chunk %d: wrong print", i)
		}
	}
}

// TestSumKnown: a Sum given the chunks of an earlier version takes the hashes of the
// chunks it shares with it (same size and Print) and hashes the others; the list is
// exactly Split's, whatever the edit.
func TestSumKnown(t *testing.T) {
	base := randomBytes(40, 6<<20)
	s := NewSum()
	s.Write(base)
	_, baseList := s.Finish()
	known := NewKnown(baseList, s.Prints())
	mid := len(base) / 2
	edits := map[string][]byte{
		"same":      base,
		"1 byte":    append(append(append([]byte{}, base[:mid]...), base[mid]^1), base[mid+1:]...),
		"insertion": append(append(append([]byte{}, base[:mid]...), bytes.Repeat([]byte{'+'}, 100)...), base[mid:]...),
		"new":       randomBytes(41, 6<<20),
	}
	for name, data := range edits {
		want := mustList(t, data)
		var seen []Chunk
		s := NewSumFunc(known, func(c Chunk) { seen = append(seen, c) })
		s.ReadFrom(bytes.NewReader(data))
		sum, got := s.Finish()
		if sum != sha256.Sum256(data) || !equal(got, want) || !equal(seen, want) {
			t.Fatalf("%s: the list differs from Split's", name)
		}
		checkPrints(t, data, got, s.Prints())
		if wantReused := sharedCount(baseList, want); s.Reused() != wantReused {
			t.Fatalf("%s: %d hashes reused, want %d", name, s.Reused(), wantReused)
		}
		if name == "1 byte" && s.Reused() < len(want)-2 {
			t.Fatalf("1 byte: only %d of %d hashes reused", s.Reused(), len(want))
		}
	}
	if NewKnown(baseList, nil) != nil || NewKnown(nil, nil) != nil {
		t.Fatal("NewKnown without prints must know nothing")
	}
	for _, size := range []int64{0, -1, MaxSize + 1} {
		bad := slices.Clone(baseList)
		bad[1].Size = size
		if NewKnown(bad, s.Prints()) != nil {
			t.Fatalf("NewKnown took a chunk of %d bytes", size)
		}
	}
}

// sharedCount is how many chunks of l have a (size, hash) of base.
func sharedCount(base, l []Chunk) (n int) {
	type key struct {
		size int64
		hash [32]byte
	}
	in := map[key]bool{}
	for _, c := range base {
		in[key{c.Size, c.Hash}] = true
	}
	for _, c := range l {
		if in[key{c.Size, c.Hash}] {
			n++
		}
	}
	return n
}

// TestSumTrustsKnownPrint: a chunk whose size and Print match a known chunk gets that
// chunk's hash without its bytes being hashed (a Print collision makes the list
// wrong), while the whole-stream hash still covers every byte: it is what a user of
// the list must check.
func TestSumTrustsKnownPrint(t *testing.T) {
	data := randomBytes(42, 2<<20)
	s := NewSum()
	s.Write(data)
	_, l := s.Finish()
	prints := s.Prints()
	wrong := append([]Chunk(nil), l...)
	wrong[3].Hash[0] ^= 1 // as if another content's chunk had chunk 3's Print
	s = NewSumFunc(NewKnown(wrong, prints), nil)
	s.Write(data)
	sum, got := s.Finish()
	if sum != sha256.Sum256(data) || got[3].Hash != wrong[3].Hash || !equal(got, wrong) {
		t.Fatal("a known Print's hash was not taken as is, or the whole hash changed")
	}
}

func TestSumReadError(t *testing.T) {
	s := NewSum()
	defer s.Finish()
	r := iotest.TimeoutReader(bytes.NewReader(randomBytes(1, 3*sumBlock)))
	if _, err := s.ReadFrom(r); err != iotest.ErrTimeout {
		t.Fatalf("ReadFrom error %v, want the reader's", err)
	}
}

// BenchmarkSum is the one-read hash and chunk list, against BenchmarkHashThenSplit
// (what the client did before: two reads, two hashes).
func BenchmarkSum(b *testing.B) {
	data := randomBytes(13, 64<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s := NewSum()
		s.ReadFrom(bytes.NewReader(data))
		s.Finish()
	}
}

func BenchmarkHashThenSplit(b *testing.B) {
	data := randomBytes(13, 64<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sha256.Sum256(data)
		if _, err := List(context.Background(), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSumFollowsEdits: following an earlier version's chunks gives exactly Split's
// list for any edit (bytes changed, inserted or removed anywhere, the file cut or
// grown, repeated content), whatever the write sizes, and takes the hash of every
// chunk the versions share.
func TestSumFollowsEdits(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	bases := [][]byte{
		randomBytes(50, 5<<20+123),
		append(make([]byte, 2<<20), randomBytes(51, 2<<20)...), // zeros: MaxSize chunks alike
	}
	for bi, base := range bases {
		s := NewSum()
		s.Write(base)
		_, bl := s.Finish()
		known := NewKnown(bl, s.Prints())
		for round := range 40 {
			data := slices.Clone(base)
			for range 1 + r.IntN(3) {
				at := r.IntN(len(data) + 1)
				switch r.IntN(6) {
				case 0: // change a byte
					if at < len(data) {
						data[at] ^= byte(1 + r.IntN(255))
					}
				case 1: // insert
					data = slices.Insert(data, at, randomBytes(uint64(round), 1+r.IntN(3000))...)
				case 2: // remove
					data = slices.Delete(data, at, min(len(data), at+1+r.IntN(70000)))
				case 3: // cut
					data = data[:at]
				case 4: // grow
					data = append(data, randomBytes(uint64(round)+7, r.IntN(300000))...)
				case 5: // edit the first or last chunk
					if len(data) > 0 {
						data[[]int{0, len(data) - 1}[r.IntN(2)]] ^= 1
					}
				}
			}
			want := mustList(t, data)
			step := []int{1 << 20, 4096, 65537, sumBlock + 1, 3*sumBlock + 5}[r.IntN(5)]
			s := NewSumFunc(known, nil)
			for p := data; len(p) > 0; {
				k := min(step, len(p))
				s.Write(p[:k])
				p = p[k:]
			}
			sum, got := s.Finish()
			if sum != sha256.Sum256(data) || !equal(got, want) {
				t.Fatalf("base %d round %d (writes of %d): the list differs from Split's (%d vs %d chunks)", bi, round, step, len(got), len(want))
			}
			checkPrints(t, data, got, s.Prints())
			if s.Reused() != sharedCount(bl, want) {
				t.Fatalf("base %d round %d: %d hashes reused, %d chunks shared", bi, round, s.Reused(), sharedCount(bl, want))
			}
		}
	}
}

// FuzzSumFollows: a Sum following a base's chunks cuts an edited base (bytes
// inserted, and bytes removed, at one place) exactly as Split does.
func FuzzSumFollows(f *testing.F) {
	f.Add([]byte("hello"), uint32(3), []byte("++"), uint16(70), uint16(4096))
	f.Add(make([]byte, MaxSize+10), uint32(MaxSize/2), []byte{1}, uint16(0), uint16(65535))
	f.Fuzz(func(t *testing.T, base []byte, at uint32, ins []byte, del, step uint16) {
		// Repeat small inputs so fuzzing reaches real boundaries.
		for len(base) > 0 && len(base) < 3*MinSize {
			base = append(base, base...)
		}
		s := NewSum()
		s.Write(base)
		_, bl := s.Finish()
		known := NewKnown(bl, s.Prints())
		i := int(at) % (len(base) + 1)
		data := append(append(slices.Clone(base[:i]), ins...), base[min(len(base), i+int(del)):]...)
		s = NewSumFunc(known, nil)
		for p, n := data, int(step)+1; len(p) > 0; p = p[min(n, len(p)):] {
			s.Write(p[:min(n, len(p))])
		}
		sum, got := s.Finish()
		if sum != sha256.Sum256(data) || !equal(got, mustList(t, data)) {
			t.Fatal("following the base changed the cut")
		}
	})
}
