package credential

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// Text returns the content of a token or credential file as UTF-8, as Windows tools
// may have written it: a UTF-8 byte order mark (Notepad's "UTF-8 with BOM") is
// dropped, and UTF-16 with a byte order mark (what Windows PowerShell 5.1's `>` and
// Out-File write, as in `syncctl token issue … > laptop.token`) is decoded. Anything
// else is returned as it is. Line ends (CRLF) are left to the caller's trimming.
func Text(data []byte) []byte {
	switch {
	case bytes.HasPrefix(data, []byte{0xef, 0xbb, 0xbf}):
		return data[3:]
	case bytes.HasPrefix(data, []byte{0xff, 0xfe}):
		return fromUTF16(data[2:], func(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 })
	case bytes.HasPrefix(data, []byte{0xfe, 0xff}):
		return fromUTF16(data[2:], func(b []byte) uint16 { return uint16(b[1]) | uint16(b[0])<<8 })
	}
	return data
}

// fromUTF16 decodes UTF-16 code units read by unit (an odd last byte is dropped).
func fromUTF16(data []byte, unit func([]byte) uint16) []byte {
	units := make([]uint16, 0, len(data)/2)
	for i := 0; i+1 < len(data); i += 2 {
		units = append(units, unit(data[i:i+2]))
	}
	out := make([]byte, 0, len(units))
	for _, r := range utf16.Decode(units) {
		out = utf8.AppendRune(out, r)
	}
	return out
}
