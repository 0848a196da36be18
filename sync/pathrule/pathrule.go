// Package pathrule holds the path rules of SPEC §3 in one place: every tenant path that
// reaches the server's store, and every path the client receives, goes through Clean
// (or CleanDir) first. FoldKey gives the key under which two paths are the same name.
//
// The package is a leaf (standard library, golang.org/x/text and sync/protocol only) so
// that the server and the client share exactly the same rules.
package pathrule

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/syncspace/syncspace/sync/protocol"
)

// Limits of SPEC §3, in bytes of the NFC form.
const (
	MaxSegmentBytes = 255
	MaxPathBytes    = 4096
	// maxInputBytes bounds the work done on an input before normalization: NFC never
	// shrinks a string to less than a third of its length.
	maxInputBytes = 3 * MaxPathBytes
)

// StateDirName is the client's state directory; no path segment may equal it under
// case folding, at any depth.
const StateDirName = ".syncspace"

// reserved are the Windows device names (SPEC §3), compared case-insensitively to the
// part of a segment before its first dot.
var reserved = func() map[string]bool {
	m := map[string]bool{"con": true, "prn": true, "aux": true, "nul": true, "conin$": true, "conout$": true}
	for _, d := range []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "\u00b9", "\u00b2", "\u00b3"} {
		m["com"+d] = true
		m["lpt"+d] = true
	}
	return m
}()

func invalid(msg string) *protocol.Error {
	return &protocol.Error{Code: protocol.CodeInvalidPath, Message: msg}
}

// Clean checks p against SPEC §3 and returns its NFC form. The root ("") is an error.
// Every error is a *protocol.Error with code invalid_path. Clean is idempotent: a
// returned path passes Clean unchanged.
func Clean(p string) (string, error) {
	if p == "" {
		return "", invalid("empty path")
	}
	return clean(p)
}

// CleanDir is Clean for a directory argument: "" means the root and is returned as "".
func CleanDir(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	return clean(p)
}

func clean(p string) (string, error) {
	if len(p) > maxInputBytes {
		return "", invalid("path too long")
	}
	if !utf8.ValidString(p) {
		return "", invalid("path is not valid UTF-8")
	}
	if !norm.NFC.IsNormalString(p) {
		p = norm.NFC.String(p)
	}
	if len(p) > MaxPathBytes {
		return "", invalid("path too long")
	}
	if p[0] == '/' {
		return "", invalid("path must be relative")
	}
	rest := p
	for {
		seg, tail, more := strings.Cut(rest, "/")
		if err := checkSegment(seg); err != nil {
			return "", err
		}
		if !more {
			break
		}
		rest = tail
	}
	return p, nil
}

// checkSegment applies the per-segment rules to one NFC segment.
func checkSegment(seg string) *protocol.Error {
	switch {
	case seg == "":
		return invalid("empty path segment")
	case seg == "." || seg == "..":
		return invalid("dot segment")
	case len(seg) > MaxSegmentBytes:
		return invalid("path segment too long")
	}
	for _, r := range seg {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return invalid("control character in path")
		case r == '\\':
			return invalid("backslash in path")
		case strings.ContainsRune(`<>:"|?*`, r):
			return invalid("character not allowed in path")
		case isBidiOrBOM(r):
			return invalid("bidi control or byte order mark in path")
		}
	}
	if last := seg[len(seg)-1]; last == '.' || last == ' ' {
		return invalid("path segment ends with a dot or space")
	}
	base, _, _ := strings.Cut(seg, ".")
	base = strings.TrimRight(base, " ")
	if len(base) <= len("conout$") && reserved[strings.ToLower(base)] {
		return invalid("reserved device name in path")
	}
	if strings.EqualFold(seg, StateDirName) {
		return invalid("reserved name .syncspace in path")
	}
	return nil
}

func isBidiOrBOM(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0xfeff:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// FoldKey returns the key under which p is compared with other names: the NFC form with
// every rune replaced by the smallest rune of its simple case-folding orbit, the
// relation strings.EqualFold uses. Two paths are the same name (SPEC §3) exactly when
// their keys are equal. p should already be clean; FoldKey does not validate.
func FoldKey(p string) string {
	if k, ok := foldASCII(p); ok {
		return k
	}
	return foldRunes(p)
}

// foldRunes is FoldKey rune by rune (any p).
func foldRunes(p string) string {
	if !norm.NFC.IsNormalString(p) {
		p = norm.NFC.String(p)
	}
	var b strings.Builder
	b.Grow(len(p))
	for _, r := range p {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldASCII is FoldKey of an all-ASCII p (ok false otherwise): p itself when it holds
// no upper-case letter, so that a key and its path share one string.
func foldASCII(p string) (string, bool) {
	upper := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c >= utf8.RuneSelf:
			return "", false
		case 'A' <= c && c <= 'Z':
			upper = true
		}
	}
	if !upper {
		return p, true
	}
	b := []byte(p)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b), true
}

// foldRune returns the canonical member of r's simple folding orbit: the smallest
// rune, lower-cased when that is an ASCII letter (so keys of ASCII names read as
// lower case).
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	min := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < min {
			min = f
		}
	}
	if 'A' <= min && min <= 'Z' {
		min += 'a' - 'A'
	}
	return min
}

// Parent returns the directory holding the clean path p ("" for a top-level name).
func Parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}

// Base returns the last segment of the clean path p.
func Base(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// Within reports whether p equals dir or lies under it; every path is within the
// root "".
func Within(p, dir string) bool {
	return dir == "" || p == dir || (len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir)
}
