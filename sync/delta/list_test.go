package delta

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/protocol"
)

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func refs(t testing.TB, content []byte) []protocol.ChunkRef {
	t.Helper()
	l, err := chunk.List(context.Background(), bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]protocol.ChunkRef, len(l))
	for i, c := range l {
		out[i] = protocol.ChunkRef{Hash: c.Hash, Size: c.Size}
	}
	return out
}

// clientOps encodes next against base as a client does: next's chunks that base has
// are copies, the others literals.
func clientOps(t testing.TB, base, next []byte) []byte {
	t.Helper()
	have := map[[32]byte]int64{}
	var off int64
	for _, c := range refs(t, base) {
		have[c.Hash] = off
		off += c.Size
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	off = 0
	for _, c := range refs(t, next) {
		if at, ok := have[c.Hash]; ok {
			w.Copy(at, c.Size)
		} else {
			w.Data(next[off : off+c.Size])
		}
		off += c.Size
	}
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkList decodes ops against base with ListChunks, reading through reads of the
// given size, and wants the derived list to be the list of the content. It returns
// whether the stream decoded.
func checkList(t testing.TB, base []byte, baseList []protocol.ChunkRef, ops []byte, readSize int) bool {
	t.Helper()
	r := NewReader(bytes.NewReader(base), int64(len(base)), bytes.NewReader(ops))
	r.ListChunks(baseList)
	var out bytes.Buffer
	buf := make([]byte, readSize)
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			if r.Chunks() != nil {
				t.Fatal("a list after an error")
			}
			return false
		}
	}
	got, want := r.Chunks(), refs(t, out.Bytes())
	if len(got) != len(want) {
		t.Fatalf("%d chunks derived, %d in the content", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("chunk %d: derived %x/%d, content %x/%d", i, got[i].Hash[:4], got[i].Size, want[i].Hash[:4], want[i].Size)
		}
	}
	return true
}

// TestListChunksEdits: on random edits of a random base, encoded as a client does,
// the derived list is the one a full chunking of the result gives, and the chunks
// past the edit are taken from the base's list, not hashed again.
func TestListChunksEdits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := randomBytes(r, 3<<19)
	bl := refs(t, base)
	edits := map[string]func() []byte{
		"same":  func() []byte { return bytes.Clone(base) },
		"flip":  func() []byte { b := bytes.Clone(base); b[len(b)/2] ^= 1; return b },
		"first": func() []byte { b := bytes.Clone(base); b[0] ^= 1; return b },
		"last":  func() []byte { b := bytes.Clone(base); b[len(b)-1] ^= 1; return b },
		"insert": func() []byte {
			m := len(base) / 2
			return cat(base[:m], randomBytes(r, 100), base[m:])
		},
		"delete":   func() []byte { m := len(base) / 3; return cat(base[:m], base[m+5000:]) },
		"append":   func() []byte { return cat(base, randomBytes(r, 70000)) },
		"truncate": func() []byte { return base[:len(base)-100000] },
		"prepend":  func() []byte { return cat(randomBytes(r, 1), base) },
		"swap":     func() []byte { m := len(base) / 2; return cat(base[m:], base[:m]) },
		"twice":    func() []byte { return cat(base, base) },
		"small":    func() []byte { return base[1000:5000] },
		"empty":    func() []byte { return nil },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			next := edit()
			ops := clientOps(t, base, next)
			for _, rs := range []int{256 << 10, 100003} {
				if !checkList(t, base, bl, ops, rs) {
					t.Fatal("the stream did not decode")
				}
			}
		})
	}
	// Reuse happens: one flipped byte hashes one or two chunks, not the file.
	next := bytes.Clone(base)
	next[len(next)/2] ^= 1
	rd := NewReader(bytes.NewReader(base), int64(len(base)), bytes.NewReader(clientOps(t, base, next)))
	rd.ListChunks(bl)
	if _, err := io.Copy(io.Discard, rd); err != nil {
		t.Fatal(err)
	}
	reused := 0
	for _, c := range rd.list.list {
		for _, b := range bl[:len(bl)-1] {
			if c == b {
				reused++
				break
			}
		}
	}
	if reused < len(bl)-3 {
		t.Fatalf("%d of %d chunks reused", reused, len(bl))
	}
}

// TestListChunksHostileOps: copies that do not fit the base's chunks (shifted, cut
// short, repeated, the base's last chunk inside the content, data mimicking a
// chunk) are chunked and hashed, so the list still describes the content.
func TestListChunksHostileOps(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	base := randomBytes(r, 2<<20)
	bl := refs(t, base)
	var starts []uint64
	var off uint64
	for _, c := range bl {
		starts = append(starts, off)
		off += uint64(c.Size)
	}
	s1, z1 := starts[1], uint64(bl[1].Size)
	lastOff, lastSize := starts[len(bl)-1], uint64(bl[len(bl)-1].Size)
	for name, ops := range map[string][]byte{
		"chunk short by one":     cat(opC(s1, z1-1), end),
		"chunk shifted":          cat(opC(s1+1, z1), opC(0, 100000), end),
		"chunk after data":       cat(opD([]byte("x")), opC(s1, z1), opC(s1, z1), end),
		"chunk repeated":         cat(opC(s1, z1), opC(s1, z1), opC(s1, z1), end),
		"last chunk then more":   cat(opC(lastOff, lastSize), opC(0, 300000), end),
		"last chunk then data":   cat(opC(lastOff, lastSize), opD(base[:5]), end),
		"chunk as data":          cat(opD(base[s1:s1+z1]), opC(s1+z1, 200000), end),
		"chunk in two copies":    cat(opC(s1, 10), opC(s1+10, z1-10), opC(0, 1<<20), end),
		"whole base, then chunk": cat(opC(0, uint64(len(base))), opC(s1, z1), end),
		"bad stream":             cat(opC(s1, z1), []byte{'X'}),
	} {
		t.Run(name, func(t *testing.T) {
			ok := checkList(t, base, bl, ops, 64<<10)
			if ok == (name == "bad stream") {
				t.Fatalf("decoded: %v", ok)
			}
		})
	}
}

// FuzzListChunks: whatever ops a client sends, a stream that decodes gets the list of
// the content it built. The fuzzer's bytes choose the ops (copies near the base's
// chunk starts, literals, edits of copies), so most streams are valid.
func FuzzListChunks(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	base := randomBytes(r, 1<<20)
	bl := refs(f, base)
	var starts []uint64
	var off uint64
	for _, c := range bl {
		starts = append(starts, off)
		off += uint64(c.Size)
	}
	f.Add([]byte{0, 1, 0, 0, 1, 2, 3, 0, 2, 9})
	f.Add([]byte{1, 5, 200, 0, 3, 0, 4, 1, 0, 0, 0, 2, 0, 0, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		var ops []byte
		for len(in) >= 3 && len(ops) < 1<<16 {
			k, a, b := in[0], int(in[1]), int(in[2])
			in = in[3:]
			i := a % len(bl)
			switch k % 4 {
			case 0: // a whole chunk, or several
				n := uint64(0)
				for j := i; j < len(bl) && j <= i+b%4; j++ {
					n += uint64(bl[j].Size)
				}
				ops = append(ops, opC(starts[i], n)...)
			case 1: // a copy near a chunk start
				at := min(starts[i]+uint64(b)*97, uint64(len(base))-1)
				n := min(uint64(b+1)*4099, uint64(len(base))-at)
				ops = append(ops, opC(at, n)...)
			case 2: // literal bytes
				ops = append(ops, opD(randomBytes(r, b+1))...)
			case 3: // a chunk's bytes as a literal
				ops = append(ops, opD(base[starts[i]:starts[i]+uint64(bl[i].Size)])...)
			}
		}
		ops = append(ops, in...) // the rest: raw bytes, mostly a bad end
		if len(in) == 0 {
			ops = append(ops, OpEnd)
		}
		checkList(t, base, bl, ops, 128<<10)
	})
}
