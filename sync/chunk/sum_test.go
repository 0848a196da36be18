package chunk

import (
	"bytes"
	"context"
	"crypto/sha256"
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
		var seen []Chunk
		s = NewSumFunc(func(c Chunk) { seen = append(seen, c) })
		s.ReadFrom(bytes.NewReader(data))
		if got, chunks := s.Finish(); got != wantSum || !equal(chunks, want) || !equal(seen, want) {
			t.Fatalf("size %d, NewSumFunc: %d chunks reported, want %d", n, len(seen), len(want))
		}
		s = NewHashSum()
		s.Write(data)
		if got, chunks := s.Finish(); got != wantSum || chunks != nil {
			t.Fatalf("size %d, hash only: sum differs or %d chunks", n, len(chunks))
		}
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
