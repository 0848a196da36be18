package syncclient

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// readAll reads an archive to its end: one line per entry (metadata and content
// hash), then the end (EOF, or the error's code).
func readAll(ar *ArchiveReader) string {
	var b strings.Builder
	buf := make([]byte, 4<<10) // not io.Copy's 32 KiB: the fuzz target calls this often
	for {
		m, r, err := ar.Next()
		if err == io.EOF {
			b.WriteString("EOF")
			return b.String()
		}
		if err != nil {
			fmt.Fprintf(&b, "error %s", protocol.CodeOf(err))
			return b.String()
		}
		if r == nil {
			fmt.Fprintf(&b, "dir %q %s %d\n", m.Path, m.Modified.Format(time.RFC3339Nano), m.Seq)
			continue
		}
		h := sha256.New()
		n, rerr := io.CopyBuffer(h, r, buf)
		fmt.Fprintf(&b, "%q %d %s %s %d | %d %x %v\n", m.Path, m.Size, m.Modified.Format(time.RFC3339Nano), m.Hash, m.Seq, n, h.Sum(nil)[:4], rerr)
		if rerr != nil && rerr != io.EOF {
			// as the engine: a failed read ends the archive
			b.WriteString("read error")
			return b.String()
		}
	}
}

// randomArchive writes a tar stream of a few entries: mostly what /api/archive sends
// (PAX, the comment record, nanosecond times), and also other formats, types, long
// names, legacy and unknown records.
func randomArchive(rng *rand.Rand) []byte { return randomArchiveOf(rng, 1500) }

// randomArchiveOf is randomArchive with bodies of at most maxBody bytes.
func randomArchiveOf(rng *rand.Rand, maxBody int) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := rng.IntN(5); i >= 0; i-- {
		name := fmt.Sprintf("d/f%d.bin", rng.IntN(1000))
		if rng.IntN(6) == 0 {
			name = "d/" + strings.Repeat("long", 30+rng.IntN(20)) + ".bin"
		}
		body := make([]byte, rng.IntN(maxBody))
		for j := range body {
			body[j] = byte(rng.IntN(256))
		}
		sum := sha256.Sum256(body)
		pax := map[string]string{protocol.ArchivePAXComment: protocol.ArchiveComment(fmt.Sprintf("%x", sum), int64(rng.IntN(100)))}
		switch rng.IntN(8) {
		case 0:
			pax = map[string]string{paxHash: fmt.Sprintf("%x", sum), paxSeq: "3"}
		case 1:
			pax["SCHILY.xattr.user.x"] = "y"
		case 2:
			pax["GNU.sparse.major"] = "1"
		case 3:
			pax = nil
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(body)), Mode: 0o644,
			ModTime: time.Unix(1_700_000_000+rng.Int64N(1000), rng.Int64N(1e9)), Format: tar.FormatPAX, PAXRecords: pax}
		switch rng.IntN(10) {
		case 0:
			h.ModTime = h.ModTime.Truncate(time.Second)
		case 1:
			h.Format, h.PAXRecords = tar.FormatUnknown, nil
		case 2:
			// A directory entry as dirs=1 sends it (an empty hash), sometimes with a
			// size, which a header-only entry ignores.
			h.Typeflag, h.Name, h.Size, body = tar.TypeDir, strings.TrimSuffix(name, ".bin")+"/", 0, nil
			if h.PAXRecords != nil {
				h.PAXRecords[protocol.ArchivePAXComment] = protocol.ArchiveComment("", int64(rng.IntN(100)))
			}
			if rng.IntN(4) == 0 {
				h.Size = int64(rng.IntN(2000))
			}
		case 3:
			h.Uid = 1 << 22 // needs a PAX uid record
		}
		if err := tw.WriteHeader(h); err != nil {
			continue
		}
		_, _ = tw.Write(body)
	}
	_ = tw.Close()
	return buf.Bytes()
}

// TestTarStreamAsArchiveTar checks that the archive reader's shortcut gives exactly
// what reading with archive/tar alone gives: the same entries, contents and end, on
// random archives, intact, cut at any point, or with one byte changed.
func TestTarStreamAsArchiveTar(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shortcut := 0
	for round := 0; round < 4000; round++ {
		data := randomArchive(rng)
		switch rng.IntN(3) {
		case 1:
			data = data[:rng.IntN(len(data)+1)]
		case 2:
			data = bytes.Clone(data)
			data[rng.IntN(len(data))] ^= byte(1 + rng.IntN(255))
		}
		ts := newTarStream(bytes.NewReader(data))
		dirs := round%2 == 1 // as ArchiveTree's reader
		got := readAll(&ArchiveReader{tr: ts, dir: "d", dirs: dirs})
		want := readAll(&ArchiveReader{tr: tar.NewReader(bytes.NewReader(data)), dir: "d", dirs: dirs})
		if got != want {
			t.Fatalf("round %d: the shortcut read\n%s\narchive/tar alone read\n%s", round, got, want)
		}
		if ts.tr == nil {
			shortcut++
		}
	}
	if shortcut < 400 {
		t.Fatalf("only %d archives were read by the shortcut to their end: the test checks too little", shortcut)
	}
}

// rawEntry writes one entry by hand: a PAX header holding the records pax (written as
// given), then a ustar file header for name and body (octal fields as given in
// fields, by offset), with valid checksums.
func rawEntry(pax, name string, body []byte, fields map[int]string) []byte {
	block := func(typ byte, name string, size int, fields map[int]string) []byte {
		b := make([]byte, 512)
		copy(b, name)
		copy(b[100:], "0000644\x00")
		copy(b[124:], fmt.Sprintf("%011o\x00", size))
		copy(b[136:], fmt.Sprintf("%011o\x00", 1_700_000_000))
		b[156] = typ
		copy(b[257:], "ustar\x0000")
		for off, v := range fields {
			copy(b[off:], v)
		}
		copy(b[148:], "        ")
		sum := 0
		for _, c := range b {
			sum += int(c)
		}
		copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
		return b
	}
	pad := func(b []byte) []byte { return append(b, make([]byte, -len(b)&511)...) }
	var out []byte
	out = append(out, block(tar.TypeXHeader, "PaxHeaders.0/x", len(pax), nil)...)
	out = append(out, pad([]byte(pax))...)
	out = append(out, block(tar.TypeReg, name, len(body), fields)...)
	out = append(out, pad(body)...)
	return append(out, make([]byte, 1024)...)
}

// paxRecord is the PAX record "<len> k=v\n".
func paxRecord(k, v string) string {
	n := len(k) + len(v) + 3
	n += len(fmt.Sprint(n))
	if len(fmt.Sprint(n)) != len(fmt.Sprint(n-1)) {
		n++
	}
	return fmt.Sprintf("%d %s=%s\n", n, k, v)
}

// TestTarStreamOddRecords compares both readers on hand-written entries the tar
// writer never produces: empty, repeated and signed records, odd numeric fields.
func TestTarStreamOddRecords(t *testing.T) {
	rec := paxRecord
	body := []byte("hello")
	comment := rec("comment", protocol.ArchiveComment(fmt.Sprintf("%x", sha256.Sum256(body)), 4))
	cases := map[string][]byte{
		"plain":         rawEntry(comment, "d/a.txt", body, nil),
		"empty path":    rawEntry(rec("path", "")+comment, "d/a.txt", body, nil),
		"path":          rawEntry(rec("path", "d/b.txt")+comment, "d/a.txt", body, nil),
		"two paths":     rawEntry(rec("path", "d/b.txt")+rec("path", "d/c.txt")+comment, "d/a.txt", body, nil),
		"empty mtime":   rawEntry(rec("mtime", "")+comment, "d/a.txt", body, nil),
		"mtime":         rawEntry(rec("mtime", "1700000001.5")+comment, "d/a.txt", body, nil),
		"signed mtime":  rawEntry(rec("mtime", "-5.25")+comment, "d/a.txt", body, nil),
		"long fraction": rawEntry(rec("mtime", "1.1234567891")+comment, "d/a.txt", body, nil),
		"empty size":    rawEntry(rec("size", "")+comment, "d/a.txt", body, nil),
		"plus size":     rawEntry(rec("size", "+5")+comment, "d/a.txt", body, nil),
		"size":          rawEntry(rec("size", "3")+comment, "d/a.txt", body, nil),
		"prefix":        rawEntry(comment, "a.txt", body, map[int]string{345: "d"}),
		"spaced octal":  rawEntry(comment, "d/a.txt", body, map[int]string{100: " 644 \x00"}),
		"base-256 uid":  rawEntry(comment, "d/a.txt", body, map[int]string{108: "\x80\x00\x00\x00\x00\x00\x00\x01"}),
		"bad octal":     rawEntry(comment, "d/a.txt", body, map[int]string{116: "0000009\x00"}),
	}
	for name, data := range cases {
		got := readAll(&ArchiveReader{tr: newTarStream(bytes.NewReader(data)), dir: "d"})
		want := readAll(&ArchiveReader{tr: tar.NewReader(bytes.NewReader(data)), dir: "d"})
		if ts := newTarStream(bytes.NewReader(data)); name == "plain" {
			if _, err := ts.Next(); err != nil || ts.tr != nil {
				t.Errorf("plain: not read by the shortcut (%v)", err)
			}
		}
		if got != want {
			t.Errorf("%s: the shortcut read\n%s\narchive/tar alone read\n%s", name, got, want)
		}
		if name == "plain" && !strings.HasPrefix(got, `"d/a.txt" 5 `) {
			t.Errorf("plain: read %s", got)
		}
	}
}

// FuzzTarStream compares the shortcut with archive/tar on arbitrary bytes. The input
// is the stream with its runs of zeros written short (zeroRuns): a tar entry is
// mostly zeros, and the fuzzer's minimization of a new input costs time quadratic in
// its length (a few kilobytes kept it minimizing, not fuzzing, for a minute per new
// input). A reader is reused: a fresh 64 KiB buffer per input cost more than the rest.
func FuzzTarStream(f *testing.F) {
	for _, seed := range tarSeeds() {
		f.Add(zeroRunsOf(seed))
	}
	br := bufio.NewReaderSize(nil, 64<<10) // newTarStream takes it as it is
	f.Fuzz(func(t *testing.T, in []byte) {
		data, ok := zeroRuns(in, 1<<20)
		if !ok {
			return
		}
		br.Reset(bytes.NewReader(data))
		got := readAll(&ArchiveReader{tr: newTarStream(br), dir: "d"})
		want := readAll(&ArchiveReader{tr: tar.NewReader(bytes.NewReader(data)), dir: "d"})
		if got != want {
			t.Fatalf("the shortcut read\n%s\narchive/tar alone read\n%s", got, want)
		}
	})
}

// tarSeeds are FuzzTarStream's seeds: small archives of one or two entries, as the
// server writes them (the shortcut's form) and as the tar writer does.
func tarSeeds() [][]byte {
	body := []byte("hi")
	comment := paxRecord(protocol.ArchivePAXComment, protocol.ArchiveComment(fmt.Sprintf("%x", sha256.Sum256(body)), 4))
	written := func(hs ...*tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range hs {
			h.Size = int64(len(body))
			if err := tw.WriteHeader(h); err != nil {
				panic(err)
			}
			_, _ = tw.Write(body)
		}
		_ = tw.Close()
		return buf.Bytes()
	}
	pax := func(name string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, ModTime: time.Unix(1_700_000_000, 5e8),
			Format: tar.FormatPAX, PAXRecords: map[string]string{paxHash: fmt.Sprintf("%x", sha256.Sum256(body)), paxSeq: "3"}}
	}
	return [][]byte{
		rawEntry(comment, "d/a.txt", body, nil),
		rawEntry(paxRecord("path", "d/b")+comment, "d/a.txt", body, nil),
		written(pax("d/a")),
		written(&tar.Header{Typeflag: tar.TypeReg, Name: "d/c", Mode: 0o644, Format: tar.FormatUSTAR}),
	}
}

// zeroRuns expands FuzzTarStream's input: a 0 byte followed by n stands for n+1 zeros
// (a 0 at the end for one); every other byte for itself. ok is false past limit bytes.
func zeroRuns(in []byte, limit int) (out []byte, ok bool) {
	n := 0
	for i := 0; i < len(in); i++ {
		if in[i] == 0 && i+1 < len(in) {
			i++
			n += int(in[i])
		}
		n++
	}
	if n > limit {
		return nil, false
	}
	out = make([]byte, 0, n)
	for i := 0; i < len(in); i++ {
		out = append(out, in[i])
		if in[i] == 0 && i+1 < len(in) {
			i++
			out = out[:len(out)+int(in[i])] // zeros: out was made so
		}
	}
	return out, true
}

// zeroRunsOf writes data as zeroRuns reads it.
func zeroRunsOf(data []byte) []byte {
	var out []byte
	for i := 0; i < len(data); {
		if data[i] != 0 {
			out = append(out, data[i])
			i++
			continue
		}
		n := 1
		for n < 256 && i+n < len(data) && data[i+n] == 0 {
			n++
		}
		out = append(out, 0, byte(n-1))
		i += n
	}
	return out
}

// TestZeroRuns: the fuzz input's encoding reads back what it wrote.
func TestZeroRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 50 {
		data := randomArchiveOf(rng, 64)
		in := zeroRunsOf(data)
		got, ok := zeroRuns(in, 1<<20)
		if !ok || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes written as %d read back as %d (%v)", len(data), len(in), len(got), ok)
		}
		if len(in) > len(data)/3 {
			t.Errorf("%d bytes written as %d: the encoding hardly shortens an archive", len(data), len(in))
		}
	}
	if got, _ := zeroRuns([]byte{1, 0}, 10); !bytes.Equal(got, []byte{1, 0}) {
		t.Errorf("a trailing 0 read as %v", got)
	}
	if _, ok := zeroRuns([]byte{0, 255}, 10); ok {
		t.Error("256 zeros read within a bound of 10")
	}
}
