package delta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
)

func opC(off, n uint64) []byte {
	b := []byte{OpCopy}
	b = binary.BigEndian.AppendUint64(b, off)
	return binary.BigEndian.AppendUint64(b, n)
}

func opD(p []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{OpData}, uint32(len(p)))
	return append(b, p...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var end = []byte{OpEnd}

func decode(base, ops []byte) ([]byte, error) {
	return io.ReadAll(NewReader(bytes.NewReader(base), int64(len(base)), bytes.NewReader(ops)))
}

func TestReader(t *testing.T) {
	base := []byte("0123456789abcdef")
	for _, tc := range []struct {
		name string
		ops  []byte
		want string
	}{
		{"empty result", end, ""},
		{"whole base", cat(opC(0, 16), end), string(base)},
		{"copy + data + copy", cat(opC(0, 4), opD([]byte("XY")), opC(10, 6), end), "0123XYabcdef"},
		{"repeat a range", cat(opC(2, 2), opC(2, 2), end), "2323"},
		{"only data", cat(opD([]byte("new")), end), "new"},
		{"copy to the very end", cat(opC(15, 1), end), "f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decode(base, tc.ops)
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestReaderAttacks: every malformed stream is bad_delta, never a panic, a huge
// allocation or a read outside the base.
func TestReaderAttacks(t *testing.T) {
	base := []byte("0123456789abcdef")
	big := make([]byte, 5)
	big[0] = OpData
	binary.BigEndian.PutUint32(big[1:], MaxData+1)
	huge := make([]byte, 5)
	huge[0] = OpData
	binary.BigEndian.PutUint32(huge[1:], math.MaxUint32)
	for _, tc := range []struct {
		name string
		ops  []byte
		msg  string
	}{
		{"empty stream", nil, "without an 'E'"},
		{"missing E", cat(opC(0, 1)), "without an 'E'"},
		{"trailing byte", cat(end, []byte{0}), "follow the 'E'"},
		{"E then more ops", cat(end, opC(0, 1)), "follow the 'E'"},
		{"unknown op", []byte{'X'}, "unknown op"},
		{"lower-case op", []byte{'c'}, "unknown op"},
		{"copy past the end", cat(opC(10, 7), end), "beyond the base"},
		{"copy offset past the end", cat(opC(17, 1), end), "beyond the base"},
		{"copy at the end", cat(opC(16, 1), end), "beyond the base"},
		{"copy length overflow", cat(opC(1, math.MaxUint64), end), "beyond the base"},
		{"copy offset overflow", cat(opC(math.MaxUint64, 1), end), "beyond the base"},
		{"offset+length wraps", cat(opC(8, math.MaxUint64-7), end), "beyond the base"},
		{"zero copy", cat(opC(0, 0), end), "copies nothing"},
		{"zero data", cat([]byte{OpData, 0, 0, 0, 0}, end), "1..4194304"},
		{"data over 4 MiB", big, "1..4194304"},
		{"data length 4 GiB", huge, "1..4194304"},
		{"truncated copy header", opC(0, 1)[:9], "inside an op header"},
		{"truncated data header", []byte{OpData, 0, 0}, "inside an op header"},
		{"truncated data", opD([]byte("hello"))[:7], "inside a 'D' op"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode(base, tc.ops)
			if !IsMalformed(err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want bad_delta with %q", err, tc.msg)
			}
		})
	}
}

func TestReaderOpsReadError(t *testing.T) {
	bad := errors.New("connection reset")
	r := NewReader(bytes.NewReader([]byte("abc")), 3, io.MultiReader(bytes.NewReader(opC(0, 3)), iotest.ErrReader(bad)))
	_, err := io.ReadAll(r)
	if !errors.Is(err, bad) || IsMalformed(err) {
		t.Fatalf("got %v", err)
	}
}

// TestReaderShortBase: a base shorter than it claimed (changed underneath) is an
// error, not short content.
func TestReaderShortBase(t *testing.T) {
	r := NewReader(bytes.NewReader([]byte("abc")), 10, bytes.NewReader(cat(opC(0, 10), end)))
	_, err := io.ReadAll(r)
	if !errors.Is(err, io.ErrUnexpectedEOF) || IsMalformed(err) {
		t.Fatalf("got %v", err)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	base := bytes.Repeat([]byte("abcdefgh"), 1<<20) // 8 MiB
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Copy(0, 100)
	w.Copy(100, 50) // merged
	w.Copy(0, 0)    // nothing
	lit := bytes.Repeat([]byte{'z'}, MaxData+10)
	w.Data(lit) // two ops
	w.Copy(1000, 8)
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	want := cat(base[:150], lit, base[1000:1008])
	got, err := decode(base, buf.Bytes())
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("round trip: %v, %d bytes vs %d", err, len(got), len(want))
	}
	if wantSize := int64(17 + 5 + MaxData + 5 + 10 + 17 + 1); w.Size() != wantSize || int64(buf.Len()) != wantSize {
		t.Fatalf("size %d (buffer %d), want %d", w.Size(), buf.Len(), wantSize)
	}
	if w.Literal() != int64(len(lit)) {
		t.Fatalf("literal %d", w.Literal())
	}
}

type seeks struct {
	io.ReadSeeker
	n int
}

func (s *seeks) Seek(off int64, whence int) (int64, error) {
	s.n++
	return s.ReadSeeker.Seek(off, whence)
}

func TestSeekReaderAtSeeksOnlyOnJumps(t *testing.T) {
	base := []byte("0123456789")
	s := &seeks{ReadSeeker: bytes.NewReader(base)}
	ra := &SeekReaderAt{R: s}
	ops := cat(opC(0, 3), opC(3, 3), opD([]byte("x")), opC(6, 4), opC(0, 1), end)
	got, err := io.ReadAll(NewReader(ra, int64(len(base)), bytes.NewReader(ops)))
	if err != nil || string(got) != "012345x67890" {
		t.Fatalf("got %q, %v", got, err)
	}
	if s.n != 2 { // the first read and the jump back to 0
		t.Fatalf("%d seeks, want 2", s.n)
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("0123456789"), cat(opC(0, 4), opD([]byte("XY")), opC(8, 2), end))
	f.Add([]byte("abc"), []byte{OpEnd})
	f.Add([]byte(""), cat(opD([]byte("new")), end))
	f.Add([]byte("abc"), cat(opC(1, math.MaxUint64), end))
	f.Fuzz(func(t *testing.T, base, ops []byte) {
		got, err := decode(base, ops)
		if err != nil {
			if !IsMalformed(err) {
				t.Fatalf("error without bad_delta: %v", err)
			}
			return
		}
		// A valid stream re-encodes to one that decodes to the same content.
		var buf bytes.Buffer
		w := NewWriter(&buf)
		r := NewReader(bytes.NewReader(base), int64(len(base)), bytes.NewReader(ops))
		for r.next() == nil && r.op != OpEnd {
			if r.op == OpCopy {
				w.Copy(r.off, r.left)
			} else {
				p := make([]byte, r.left)
				io.ReadFull(r.ops, p)
				w.Data(p)
			}
			r.left = 0
		}
		w.End()
		again, err := decode(base, buf.Bytes())
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("re-encoded stream differs: %v", err)
		}
	})
}
