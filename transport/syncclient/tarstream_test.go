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
func randomArchive(rng *rand.Rand) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := rng.IntN(5); i >= 0; i-- {
		name := fmt.Sprintf("d/f%d.bin", rng.IntN(1000))
		if rng.IntN(6) == 0 {
			name = "d/" + strings.Repeat("long", 30+rng.IntN(20)) + ".bin"
		}
		body := make([]byte, rng.IntN(1500))
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

// FuzzTarStream compares the shortcut with archive/tar on arbitrary bytes.
func FuzzTarStream(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 8; i++ {
		f.Add(randomArchive(rng))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := readAll(&ArchiveReader{tr: newTarStream(bytes.NewReader(data)), dir: "d"})
		want := readAll(&ArchiveReader{tr: tar.NewReader(bytes.NewReader(data)), dir: "d"})
		if got != want {
			t.Fatalf("the shortcut read\n%s\narchive/tar alone read\n%s", got, want)
		}
	})
}
