package delta

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/syncspace/syncspace/sync/protocol"
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

func opH(sum [32]byte) []byte { return append([]byte{OpHash}, sum[:]...) }

// TestReaderHash: the 'H' op carries the new content's hash after the ops, and with
// RequireHash a stream needs it or the request's declared hash, never two that differ.
func TestReaderHash(t *testing.T) {
	base := []byte("0123456789abcdef")
	sum := sha256.Sum256([]byte("0123XY"))
	other := sha256.Sum256([]byte("other"))
	body := cat(opC(0, 4), opD([]byte("XY")))
	for _, tc := range []struct {
		name     string
		ops      []byte
		require  bool
		declared *[32]byte
		want     *[32]byte // Hash after EOF; nil: none
		msg      string    // bad_delta message part; "" for success
	}{
		{"H, no header", cat(body, opH(sum), end), true, nil, &sum, ""},
		{"header, no H (old clients)", cat(body, end), true, &sum, &sum, ""},
		{"H and the same header", cat(body, opH(sum), end), true, &sum, &sum, ""},
		{"H without RequireHash", cat(body, opH(sum), end), false, nil, &sum, ""},
		{"neither, not required", cat(body, end), false, nil, nil, ""},
		{"H only, empty result", cat(opH(sha256.Sum256(nil)), end), true, nil, nil, ""},
		// attacks
		{"neither", cat(body, end), true, nil, nil, "needs X-Content-SHA256 or an 'H' op"},
		{"H and header disagree", cat(body, opH(other), end), true, &sum, nil, "differs from X-Content-SHA256"},
		{"H twice", cat(body, opH(sum), opH(sum), end), true, nil, nil, "right before 'E'"},
		{"H not last", cat(opC(0, 4), opH(sum), opD([]byte("XY")), end), true, nil, nil, "right before 'E'"},
		{"H then end of stream", cat(body, opH(sum)), true, nil, nil, "without an 'E'"},
		{"short H", cat(body, opH(sum)[:20]), true, nil, nil, "inside an op header"},
		{"bare H", []byte{OpHash}, true, nil, nil, "inside an op header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(base), int64(len(base)), bytes.NewReader(tc.ops))
			if tc.require {
				r.RequireHash(tc.declared)
			}
			got, err := io.ReadAll(r)
			if tc.msg != "" {
				code := protocol.CodeBadDelta
				if tc.name == "neither" {
					code = protocol.CodeBadRequest
				}
				if protocol.CodeOf(err) != code || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("got %v, want bad_delta with %q", err, tc.msg)
				}
				if _, ok := r.Hash(); ok {
					t.Fatal("a hash from a malformed stream")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.name != "H only, empty result" && string(got) != "0123XY" {
				t.Fatalf("content %q", got)
			}
			h, ok := r.Hash()
			if tc.name == "H only, empty result" {
				tc.want = &[32]byte{}
				*tc.want = sha256.Sum256(nil)
			}
			if ok != (tc.want != nil) || (ok && h != *tc.want) {
				t.Fatalf("Hash() = %x, %v; want %v", h, ok, tc.want)
			}
		})
	}
}

// TestReaderHashNotBeforeEOF: the claimed hash is given only after the whole stream.
func TestReaderHashNotBeforeEOF(t *testing.T) {
	sum := sha256.Sum256([]byte("ab"))
	r := NewReader(bytes.NewReader(nil), 0, bytes.NewReader(cat(opD([]byte("ab")), opH(sum), end)))
	r.RequireHash(nil)
	if _, ok := r.Hash(); ok {
		t.Fatal("hash before any read")
	}
	p := make([]byte, 2)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Hash(); ok {
		t.Fatal("hash before EOF")
	}
	if _, err := io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	if h, ok := r.Hash(); !ok || h != sum {
		t.Fatalf("after EOF: %x %v", h, ok)
	}
}

func TestWriterHashAndFlush(t *testing.T) {
	base := []byte("0123456789")
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Copy(0, 4)
	if w.Pending() != 4 || buf.Len() != 0 {
		t.Fatalf("pending %d, written %d", w.Pending(), buf.Len())
	}
	if err := w.Flush(); err != nil || w.Pending() != 0 || buf.Len() != 17 {
		t.Fatalf("flush: %v, pending %d, written %d", err, w.Pending(), buf.Len())
	}
	w.Copy(4, 2) // adjacent, but after a flush: its own op
	sum := sha256.Sum256(base[:6])
	w.Hash(sum)
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), cat(opC(0, 4), opC(4, 2), opH(sum), end)) {
		t.Fatalf("stream %x", buf.Bytes())
	}
	r := NewReader(bytes.NewReader(base), int64(len(base)), bytes.NewReader(buf.Bytes()))
	r.RequireHash(nil)
	got, err := io.ReadAll(r)
	if h, ok := r.Hash(); err != nil || string(got) != "012345" || !ok || h != sum {
		t.Fatalf("got %q, %v, %x", got, err, h)
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
	f.Add([]byte("abc"), cat(opC(0, 3), opH(sha256.Sum256([]byte("abc"))), end))
	f.Add([]byte("abc"), cat(opH([32]byte{}), opH([32]byte{}), end))
	f.Add([]byte("abc"), cat(opH([32]byte{}), opC(0, 1), end))
	f.Fuzz(func(t *testing.T, base, ops []byte) {
		rd := NewReader(bytes.NewReader(base), int64(len(base)), bytes.NewReader(ops))
		rd.RequireHash(nil)
		_, rerr := io.ReadAll(rd)
		claimed, hashed := rd.Hash()
		got, err := decode(base, ops)
		if (rerr == nil) != (err == nil && hashed) || (rerr != nil && !IsMalformed(rerr) && protocol.CodeOf(rerr) != protocol.CodeBadRequest) {
			t.Fatalf("with RequireHash: %v, hash %v; without: %v", rerr, hashed, err)
		}
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
			} else if r.op == OpData {
				p := make([]byte, r.left)
				io.ReadFull(r.ops, p)
				w.Data(p)
			}
			r.left = 0
		}
		if hashed {
			w.Hash(claimed)
		}
		w.End()
		again, err := decode(base, buf.Bytes())
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("re-encoded stream differs: %v", err)
		}
		r2 := NewReader(bytes.NewReader(base), int64(len(base)), bytes.NewReader(buf.Bytes()))
		r2.RequireHash(nil)
		_, err2 := io.ReadAll(r2)
		if again2, ok := r2.Hash(); (err2 == nil) != hashed || ok != hashed || again2 != claimed {
			t.Fatalf("re-encoded hash: %v %v", err2, ok)
		}
	})
}
