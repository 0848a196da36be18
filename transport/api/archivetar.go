// The tar headers of GET /api/archive, written without archive/tar for the common
// entry: the bytes tar.Writer writes for it, with none of its format detection.

package api

import (
	"path"
	"strconv"
	"strings"
	"time"
)

const (
	tarBlock   = 512
	tarName    = 100       // the ustar name field
	tarMaxSize = 1<<33 - 1 // largest value of an 11-digit octal field
)

// appendTarHeader appends the two header blocks (the PAX extended header with its
// records, then the ustar header) that tar.Writer's WriteHeader writes for the
// archive's entry: a regular file name of size bytes modified at mtime, mode 0644, in
// FormatPAX with the single extra PAX record comment. ok is false (dst unchanged) for
// an entry of another shape, which goes through tar.Writer: a name that is not plain
// ASCII or does not fit the ustar name field, a size or time outside its octal
// fields, a comment with a byte a PAX record may not hold, records over one block.
// TestTarHeaderAsArchiveTar compares the bytes with tar.Writer's.
func appendTarHeader(dst []byte, name string, size int64, mtime time.Time, comment string) ([]byte, bool) {
	secs := mtime.Unix()
	if name == "" || len(name) > tarName || !plainASCII(name) || !plainASCII(comment) ||
		strings.HasSuffix(name, "/") || size < 0 || size > tarMaxSize || secs < 0 || secs > tarMaxSize {
		return dst, false
	}
	var rec [tarBlock]byte
	recs := appendPAXRecord(rec[:0], "comment", comment)
	if ns := mtime.Nanosecond(); ns != 0 {
		frac := strings.TrimRight(strconv.FormatInt(int64(ns)+1e9, 10)[1:], "0")
		recs = appendPAXRecord(recs, "mtime", strconv.FormatInt(secs, 10)+"."+frac)
	}
	if len(recs) > tarBlock {
		return dst, false
	}
	dir, file := path.Split(name)
	xname := path.Join(dir, "PaxHeaders.0", file)
	if len(xname) > tarName {
		xname = xname[:tarName]
	}
	xname = strings.TrimRight(xname, "/")
	dst = appendUstarBlock(dst, xname, 0, int64(len(recs)), 0, 'x')
	dst = append(dst, recs...)
	dst = append(dst, make([]byte, tarBlock-len(recs))...)
	dst = appendUstarBlock(dst, name, 0o644, size, secs, '0')
	return dst, true
}

// appendPAXRecord appends the record "LEN key=value\n" (LEN counting itself).
func appendPAXRecord(dst []byte, k, v string) []byte {
	base := len(k) + len(v) + 3 // ' ', '=' and '\n'
	n := base + len(strconv.Itoa(base))
	if m := base + len(strconv.Itoa(n)); m != n {
		n = m // the length grew by a digit
	}
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, ' ')
	dst = append(dst, k...)
	dst = append(dst, '=')
	dst = append(dst, v...)
	return append(dst, '\n')
}

// appendUstarBlock appends one ustar header block (magic "ustar\x00", version "00")
// for name with the given mode, size, modification time and type, owner fields zero
// and empty (the device numbers too, but for an extended header), and its checksum.
func appendUstarBlock(dst []byte, name string, mode, size, mtime int64, typ byte) []byte {
	var b [tarBlock]byte
	copy(b[0:100], name)
	octal(b[100:108], mode)
	octal(b[108:116], 0) // uid
	octal(b[116:124], 0) // gid
	octal(b[124:136], size)
	octal(b[136:148], mtime)
	b[156] = typ
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	if typ != 'x' { // tar.Writer leaves them empty in an extended header
		octal(b[329:337], 0) // devmajor
		octal(b[337:345], 0) // devminor
	}
	sum := int64(8 * ' ') // the checksum field counts as spaces
	for i, c := range b {
		if i < 148 || i >= 156 {
			sum += int64(c)
		}
	}
	octal(b[148:155], sum)
	b[155] = ' '
	return append(dst, b[:]...)
}

// octal writes x in field as zero-padded octal digits and a NUL (x fits: callers
// check).
func octal(field []byte, x int64) {
	n := len(field) - 1
	for i := n - 1; i >= 0; i-- {
		field[i] = byte('0' + x&7)
		x >>= 3
	}
	field[n] = 0
}

// plainASCII reports whether s is printable ASCII with no NUL (the bytes tar.Writer
// copies into a header or record unchanged).
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
