package api

import (
	"archive/tar"
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// tarWriterHeader is what tar.Writer writes for the archive's entry (the reference).
func tarWriterHeader(t *testing.T, name string, size int64, mtime time.Time, comment string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: mtime,
		Format: tar.FormatPAX, PAXRecords: map[string]string{protocol.ArchivePAXComment: comment}})
	if err != nil {
		return nil
	}
	return buf.Bytes()
}

// TestTarHeaderAsArchiveTar: whenever appendTarHeader takes an entry, its bytes are
// tar.Writer's, on random names, sizes, times and comments around every limit of the
// short path (name length, the PaxHeaders name's truncation, octal field limits,
// fractions with trailing zeros, record lengths where the length gains a digit).
func TestTarHeaderAsArchiveTar(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seg := func() string {
		const chars = "abcXYZ019._-~ !()+,;=@[]{}'"
		odd := []string{"é", "\x7f", "\x01", "\x00"}
		n := 1 + rng.IntN(40)
		var b strings.Builder
		for range n {
			if rng.IntN(200) == 0 {
				b.WriteString(odd[rng.IntN(len(odd))])
				continue
			}
			b.WriteByte(chars[rng.IntN(len(chars))])
		}
		return b.String()
	}
	name := func() string {
		parts := make([]string, 1+rng.IntN(4))
		for i := range parts {
			parts[i] = seg()
		}
		return strings.Join(parts, "/")
	}
	sizes := []int64{0, 1, 511, 512, 4096, 1<<33 - 1, 1 << 33, -1}
	times := []time.Time{time.Unix(0, 0), time.Unix(1, 0), time.Unix(1<<33-1, 0), time.Unix(1<<33, 0), time.Unix(-1, 5),
		time.Unix(1_700_000_000, 100), time.Unix(1_700_000_000, 999_999_999), time.Unix(1_700_000_000, 120_000_000)}
	hash := strings.Repeat("ab", 32)
	fast, all := 0, 0
	for i := range 20000 {
		n := name()
		if i%7 == 0 {
			n = strings.Repeat("d/", rng.IntN(60)) + "f.bin" // lengths near 100
		}
		size := sizes[rng.IntN(len(sizes))]
		if rng.IntN(2) == 0 {
			size = rng.Int64N(1<<33 + 1<<30)
		}
		mt := times[rng.IntN(len(times))]
		if rng.IntN(2) == 0 {
			mt = time.Unix(rng.Int64N(1<<33+1<<30)-1<<28, rng.Int64N(1e9)).In(time.FixedZone("x", 3600))
		}
		comment := protocol.ArchiveComment(hash, rng.Int64N(1<<62))
		if rng.IntN(10) == 0 {
			comment = strings.Repeat("c", rng.IntN(600)) // records near one block, lengths gaining a digit
		}
		if rng.IntN(50) == 0 {
			comment += "\x00"
		}
		got, ok := appendTarHeader([]byte("x"), n, size, mt, comment)
		all++
		if !ok {
			if string(got) != "x" {
				t.Fatalf("refused entry changed dst: %q", got)
			}
			continue
		}
		fast++
		want := tarWriterHeader(t, n, size, mt, comment)
		if !bytes.Equal(got[1:], want) {
			var diff []int
			for i := 0; i < len(want) && i+1 < len(got); i++ {
				if got[i+1] != want[i] {
					diff = append(diff, i)
				}
			}
			i := diff
			t.Fatalf("%q size %d mtime %v comment %q: differences at bytes %v of %d (%d bytes written)", n, size, mt, comment, i, len(want), len(got)-1)
		}
	}
	if fast < all/4 {
		t.Fatalf("only %d of %d entries took the short path", fast, all)
	}
	// The server's own entries always take it.
	if _, ok := appendTarHeader(nil, "init/d05/f00005.bin", 4096, time.Unix(1_764_000_000, 123456789), protocol.ArchiveComment(hash, 42)); !ok {
		t.Fatal("a plain entry did not take the short path")
	}
}

// TestArchiverMixedHeaders: entries written by appendTarHeader and by tar.Writer (a
// long name, a name that is not ASCII) follow each other in one stream, with the
// padding of each, and archive/tar reads every one back whole.
func TestArchiverMixedHeaders(t *testing.T) {
	var out bytes.Buffer
	a := &archiver{buf: archiveBufs.Get().(*[]byte)}
	defer archiveBufs.Put(a.buf)
	a.bw = bufio.NewWriter(&out)
	a.tw = tar.NewWriter(a.bw)
	hash := strings.Repeat("cd", 32)
	names := []string{"a.txt", strings.Repeat("long/", 30) + "b.txt", "c/d.txt", "é.txt", "e", "f/" + strings.Repeat("g", 98)}
	mt := time.Unix(1_764_000_000, 5_000)
	for i, n := range names {
		body := strings.Repeat(string(rune('a'+i)), i*300)
		if err := a.entry(protocol.Metadata{Path: n, Size: int64(len(body)), Modified: mt, Hash: hash, Seq: int64(i)}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.bw.Flush(); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&out)
	for i, n := range names {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil || h.Name != n || !h.ModTime.Equal(mt) || string(b) != strings.Repeat(string(rune('a'+i)), i*300) {
			t.Fatalf("entry %d: %q %v %d bytes, %v", i, h.Name, h.ModTime, len(b), err)
		}
		if h.PAXRecords[protocol.ArchivePAXComment] != protocol.ArchiveComment(hash, int64(i)) {
			t.Fatalf("entry %d: records %v", i, h.PAXRecords)
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Fatalf("after the last entry: %v", err)
	}
}
