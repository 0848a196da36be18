package syncclient

import (
	"archive/tar"
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
		h := sha256.New()
		n, rerr := io.Copy(h, r)
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
			h.Typeflag, h.Size, body = tar.TypeDir, 0, nil
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
		got := readAll(&ArchiveReader{tr: ts, dir: "d"})
		want := readAll(&ArchiveReader{tr: tar.NewReader(bytes.NewReader(data)), dir: "d"})
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

// TestTarStreamOddRecords compares both readers on hand-written entries the tar
// writer never produces: empty, repeated and signed records, odd numeric fields.
func TestTarStreamOddRecords(t *testing.T) {
	rec := func(k, v string) string {
		n := len(k) + len(v) + 3
		n += len(fmt.Sprint(n))
		if len(fmt.Sprint(n)) != len(fmt.Sprint(n-1)) {
			n++
		}
		return fmt.Sprintf("%d %s=%s\n", n, k, v)
	}
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

// FuzzTarStream compares the shortcut with archive/tar on arbitrary bytes.
func FuzzTarStream(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	// Small bodies: the fuzzer minimizes each new input byte by byte, which takes
	// minutes for archives of kilobytes.
	for i := 0; i < 8; i++ {
		f.Add(randomArchiveOf(rng, 16))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := readAll(&ArchiveReader{tr: newTarStream(bytes.NewReader(data)), dir: "d"})
		want := readAll(&ArchiveReader{tr: tar.NewReader(bytes.NewReader(data)), dir: "d"})
		if got != want {
			t.Fatalf("the shortcut read\n%s\narchive/tar alone read\n%s", got, want)
		}
	})
}
