package syncclient

import (
	"archive/tar"
	"bufio"
	"bytes"
	"io"
	"slices"
	"strings"
	"time"
)

// tarStream reads a tar stream as archive/tar's Reader does, with a shortcut for the
// entries /api/archive sends: a PAX extended header ('x') holding only records the
// archive uses (path, mtime, size, comment and the legacy hash and seq), then a
// regular file's or a directory's ustar header. Such an entry is decoded here, without archive/tar's
// per-entry format detection and allocations; at the first block that is anything
// else (another type, another record, an end-of-archive block, a bad checksum, a
// field archive/tar would refuse or read differently, a short read), the blocks read
// for the entry so far and the rest of the stream go to an archive/tar Reader, which
// reads that entry and every later one. The entries and errors seen are the ones
// archive/tar alone gives (TestTarStreamAsArchiveTar compares both).
type tarStream struct {
	r    io.Reader
	tr   *tar.Reader // once set, every call goes to it
	held []byte      // the blocks read for the current entry
	left int64       // bytes of the current entry's content not read yet
	pad  int64       // padding after the content
	err  error       // sticky error of the shortcut
}

// maxShortcutPAX bounds the extended header the shortcut reads (archive/tar reads up
// to 1 MiB; a larger one goes to it).
const maxShortcutPAX = 64 << 10

func newTarStream(r io.Reader) *tarStream {
	return &tarStream{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the header of the next entry, as tar.Reader.Next.
func (s *tarStream) Next() (*tar.Header, error) {
	if s.tr != nil {
		return s.tr.Next()
	}
	if s.err != nil {
		return nil, s.err
	}
	if err := s.skip(); err != nil {
		s.err = err
		return nil, err
	}
	s.held = s.held[:0]
	if h := s.shortcut(); h != nil {
		return h, nil
	}
	s.tr = tar.NewReader(io.MultiReader(bytes.NewReader(s.held), s.r))
	return s.tr.Next()
}

// Read reads the current entry's content, as tar.Reader.Read.
func (s *tarStream) Read(p []byte) (n int, err error) {
	if s.tr != nil {
		return s.tr.Read(p)
	}
	if s.err != nil {
		return 0, s.err
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	if len(p) > 0 {
		n, err = s.r.Read(p)
		s.left -= int64(n)
	}
	switch {
	case err == io.EOF && s.left > 0:
		err = io.ErrUnexpectedEOF
	case err == nil && s.left == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, err
	}
	if err != nil {
		s.err = err // as archive/tar: a failed read ends the stream
	}
	return n, err
}

// skip discards the rest of the current entry and its padding. As in archive/tar, a
// stream that ends inside the content is cut (io.ErrUnexpectedEOF), one that ends
// inside the padding has simply ended (io.EOF).
func (s *tarStream) skip() error {
	left, pad := s.left, s.pad
	s.left, s.pad = 0, 0
	if left > 0 {
		if _, err := io.CopyN(io.Discard, s.r, left); err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	if pad > 0 {
		if _, err := io.CopyN(io.Discard, s.r, pad); err != nil {
			return err
		}
	}
	return nil
}

// block reads n bytes (whole blocks) into held and returns them; nil when the read
// falls short (what was read stays held for archive/tar).
func (s *tarStream) block(n int) []byte {
	start := len(s.held)
	s.held = slices.Grow(s.held, n)[:start+n]
	got, _ := io.ReadFull(s.r, s.held[start:])
	if got < n {
		s.held = s.held[:start+got]
		return nil
	}
	return s.held[start:]
}

// shortcut decodes one entry of the expected shape, or returns nil (the blocks read
// are in held).
func (s *tarStream) shortcut() *tar.Header {
	x := s.block(512)
	if x == nil || !ustarBlock(x) || x[156] != tar.TypeXHeader {
		return nil
	}
	size, ok := octalField(x[124:136])
	if !ok || size > maxShortcutPAX {
		return nil
	}
	recs := s.block(int(size+511) &^ 511)
	if recs == nil {
		return nil
	}
	pax, ok := paxRecords(recs[:size])
	if !ok {
		return nil
	}
	f := s.block(512)
	if f == nil || !ustarBlock(f) || f[156] != tar.TypeReg && f[156] != tar.TypeDir {
		return nil
	}
	h := &tar.Header{Typeflag: f[156], Format: tar.FormatPAX, PAXRecords: pax}
	h.Name = cstring(f[0:100])
	if prefix := cstring(f[345:500]); prefix != "" {
		h.Name = prefix + "/" + h.Name
	}
	h.Size, _ = octalField(f[124:136])
	mtime, _ := octalField(f[136:148])
	h.ModTime = time.Unix(mtime, 0)
	if v, ok := pax["path"]; ok {
		h.Name = v
	}
	if v, ok := pax["size"]; ok {
		if h.Size, ok = decimal(v); !ok {
			return nil
		}
	}
	if v, ok := pax["mtime"]; ok {
		if h.ModTime, ok = paxTime(v); !ok {
			return nil
		}
	}
	if h.Typeflag == tar.TypeReg {
		s.left, s.pad = h.Size, -h.Size&511
	} // else a directory: a header-only entry whatever its size says, as in archive/tar
	return h
}

// ustarBlock reports whether b is a ustar header archive/tar reads exactly as the
// shortcut does: a valid checksum, the ustar magic (not star's trailer), and every
// numeric field plain octal.
func ustarBlock(b []byte) bool {
	if string(b[257:263]) != "ustar\x00" || string(b[508:512]) == "tar\x00" {
		return false
	}
	sum, ok := octalField(b[148:156])
	if !ok {
		return false
	}
	var unsigned, signed int64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	if sum != unsigned && sum != signed {
		return false
	}
	// mode, uid, gid, size, mtime, devmajor, devminor
	for _, f := range [][2]int{{100, 108}, {108, 116}, {116, 124}, {124, 136}, {136, 148}, {329, 337}, {337, 345}} {
		if _, ok := octalField(b[f[0]:f[1]]); !ok {
			return false
		}
	}
	return true
}

// octalField parses a numeric header field written in octal (spaces and NULs around
// it, as archive/tar trims them); ok is false for base-256 or anything archive/tar
// would refuse.
func octalField(b []byte) (int64, bool) {
	if len(b) > 0 && b[0]&0x80 != 0 {
		return 0, false
	}
	b = bytes.Trim(b, " \x00")
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return 0, true
	}
	if len(b) > 21 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '7' {
			return 0, false
		}
		n = n<<3 | int64(c-'0')
	}
	return n, true
}

// cstring is the text of a header field up to its first NUL.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// paxRecords parses "<len> <key>=<value>\n" records; ok is false for a malformed
// record, a NUL, a repeated key or a key the shortcut does not take.
func paxRecords(b []byte) (map[string]string, bool) {
	m := make(map[string]string, 2)
	s := string(b)
	for s != "" {
		nStr, _, found := strings.Cut(s, " ")
		n, ok := decimal(nStr)
		if !found || !ok || n < 5 || n > int64(len(s)) || n <= int64(len(nStr)+1) {
			return nil, false
		}
		rec := s[len(nStr)+1 : n]
		if rec[len(rec)-1] != '\n' {
			return nil, false
		}
		k, v, found := strings.Cut(rec[:len(rec)-1], "=")
		if !found || k == "" || strings.IndexByte(rec, 0) >= 0 {
			return nil, false
		}
		switch k {
		case "path", "mtime", "size", "comment", paxHash, paxSeq:
		default:
			return nil, false
		}
		if _, dup := m[k]; dup || v == "" {
			return nil, false // (archive/tar: the last one counts; an empty one is ignored)
		}
		m[k] = v
		s = s[n:]
	}
	return m, true
}

// decimal parses a non-negative decimal number of at most 18 digits (no sign).
func decimal(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// paxTime parses a PAX time "<seconds>[.<fraction>]" with a fraction of at most nine
// digits.
func paxTime(v string) (time.Time, bool) {
	ss, sn, frac := strings.Cut(v, ".")
	secs, ok := decimal(ss)
	if !ok {
		return time.Time{}, false
	}
	if !frac {
		return time.Unix(secs, 0), true
	}
	if len(sn) > 9 {
		return time.Time{}, false
	}
	ns, ok := decimal(sn)
	if !ok {
		return time.Time{}, false
	}
	for i := len(sn); i < 9; i++ {
		ns *= 10
	}
	return time.Unix(secs, ns), true
}
