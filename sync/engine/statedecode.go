package engine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// The state file's reader. It reads any JSON object of the persisted fields, with a
// fast path for what encodeState writes: each map entry is one flat object of one-letter
// fields, strings without escapes, integers and booleans, parsed without reflection.
// Anything else in an entry (an escape, unknown or upper-case field names, null,
// whitespace, a malformed number) goes through json.Unmarshal of that entry's bytes,
// so the result is json.Unmarshal's in every case.

// errState is a state file that is not one well-formed JSON object.
var errState = errors.New("state: malformed file")

// stateReader reads the state file's JSON from a buffered stream.
type stateReader struct {
	r    *bufio.Reader
	raw  []byte // the bytes of the last value read (reused)
	size int64  // the file's size in bytes (-1: unknown)
}

// decodeState reads a state file's JSON object from r.
func decodeState(r io.Reader) (*persisted, error) { return decodeStateOf(r, -1) }

// decodeStateOf is decodeState of a file of size bytes (-1: unknown): the counts ahead
// of the maps presize them for no more entries than that many bytes can hold.
func decodeStateOf(r io.Reader, size int64) (*persisted, error) {
	s := &stateReader{r: bufio.NewReaderSize(r, stateBufSize), size: size}
	p := &persisted{}
	nBase, nLocal := 0, 0
	err := s.object(func(raw []byte) error {
		key, err := jsonString(raw)
		if err != nil {
			return err
		}
		switch key {
		case "version":
			return s.scalar(&p.Version)
		case "root":
			return s.scalar(&p.Root)
		case "client_id":
			return s.scalar(&p.ClientID)
		case "epoch":
			return s.scalar(&p.Epoch)
		case "seq":
			return s.scalar(&p.Seq)
		case "n_base":
			return s.scalar(&nBase)
		case "n_local":
			return s.scalar(&nLocal)
		case "unflushed":
			return s.scalar(&p.Unflushed)
		case "base":
			hint := func(k []byte) shared { return shared{key: string(k)} }
			m, err := readMap(s, s.hint(nBase), parseBase, hint, func(sh shared, v *baseEntry) {
				v.Path = sh.same(v.Path) // one string for the key and the path
			})
			p.Base = m
			return err
		case "local":
			hint := func(k []byte) shared {
				b := p.Base[string(k)] // no copy of k for the lookup
				if b.Path == string(k) {
					return shared{key: b.Path, hash: b.Hash} // the base's string: one for both maps
				}
				return shared{key: string(k), hash: b.Hash}
			}
			m, err := readMap(s, s.hint(nLocal), parseLocal, hint, func(sh shared, v *localEntry) {
				v.Path, v.Hash = sh.same(v.Path), sh.same(v.Hash)
			})
			p.Local = m
			return err
		}
		b, err := s.value() // a field this client does not know
		if err == nil && !json.Valid(b) {
			err = errState
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// hint is the count n of a map's entries, as read ahead of it, bounded by the file's
// size: an entry takes five bytes at least (`"":{}`).
func (s *stateReader) hint(n int) int {
	if s.size >= 0 {
		n = int(min(int64(n), s.size/5+1))
	}
	return n
}

// shared are the strings an entry of key k likely repeats (its key, the base's hash):
// the fast path keeps these instead of a copy.
type shared struct{ key, hash string }

// same is s, or the equal string of sh.
func (sh shared) same(s string) string {
	switch s {
	case sh.key:
		return sh.key
	case sh.hash:
		return sh.hash
	}
	return s
}

// str is raw's string: one of sh's when equal.
func (sh shared) str(raw []byte) string {
	switch string(raw) {
	case sh.key:
		return sh.key
	case sh.hash:
		return sh.hash
	}
	return string(raw)
}

// readMap reads a JSON object (or null) of T values into a map sized for n entries (a
// hint, 0 when unknown); fast parses one entry's bytes (false: not its simple layout,
// json.Unmarshal then decides) keeping the strings hint gives for the key (the map
// key is hint's), and share does the same for an entry json.Unmarshal read.
func readMap[T any](s *stateReader, n int, fast func([]byte, shared, *T) bool, hint func([]byte) shared, share func(shared, *T)) (map[string]T, error) {
	c, err := s.peek()
	if err != nil {
		return nil, err
	}
	if c == 'n' {
		return nil, s.scalar(new(any)) // null
	}
	m := make(map[string]T, max(0, min(n, 1<<24)))
	err = s.object(func(raw []byte) error {
		k, ok := plainString(raw)
		if !ok {
			ks, err := jsonString(raw)
			if err != nil {
				return err
			}
			k = []byte(ks)
		}
		sh := hint(k) // before the value is read: k may be in s.raw
		b, err := s.value()
		if err != nil {
			return err
		}
		var v T
		if !fast(b, sh, &v) {
			v = *new(T)
			if err := json.Unmarshal(b, &v); err != nil {
				return err
			}
			share(sh, &v)
		}
		m[sh.key] = v
		return nil
	})
	return m, err
}

// object reads a JSON object, calling field for each key (its JSON bytes, valid until
// the next read) with the reader at the key's value (which field must read).
func (s *stateReader) object(field func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c == '}' {
		return s.expect('}')
	}
	for {
		b, err := s.value()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := field(b); err != nil {
			return err
		}
		c, err := s.peek()
		if err != nil {
			return err
		}
		if err := s.expect(c); err != nil {
			return err
		}
		switch c {
		case ',':
		case '}':
			return nil
		default:
			return errState
		}
	}
}

// scalar reads one value into v with json.Unmarshal (the few top-level fields).
func (s *stateReader) scalar(v any) error {
	b, err := s.value()
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// peek skips white space and returns the next byte, unread.
func (s *stateReader) peek() (byte, error) {
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			return 0, unexpectedEOF(err)
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, s.r.UnreadByte()
	}
}

// expect skips white space and reads the byte c.
func (s *stateReader) expect(c byte) error {
	got, err := s.peek()
	if err != nil {
		return err
	}
	if got != c {
		return fmt.Errorf("state: want %q, got %q", c, got)
	}
	_, err = s.r.ReadByte()
	return err
}

// value skips white space and returns the bytes of the next JSON value (valid until
// the next read): a string, object or array to its closing byte, anything else to the
// next delimiter. It checks only the nesting; json.Unmarshal checks the rest.
func (s *stateReader) value() ([]byte, error) {
	first, err := s.peek()
	if err != nil {
		return nil, err
	}
	s.raw = s.raw[:0]
	sc := rawScan{scalar: first != '"' && first != '{' && first != '['}
	for {
		buf, err := s.r.Peek(max(1, s.r.Buffered()))
		if len(buf) == 0 {
			if sc.scalar && len(s.raw) > 0 && err == io.EOF {
				return s.raw, nil
			}
			return nil, unexpectedEOF(err)
		}
		n, done := sc.scan(buf, len(s.raw) == 0)
		s.raw = append(s.raw, buf[:n]...)
		s.r.Discard(n)
		if done {
			return s.raw, nil
		}
	}
}

// rawScan finds where one JSON value ends in a stream of bytes.
type rawScan struct {
	depth      int
	inStr, esc bool
	scalar     bool
}

// scan reads b (the value's first bytes when first) and returns how many bytes
// belong to the value and whether it ended there.
func (sc *rawScan) scan(b []byte, first bool) (int, bool) {
	for i, c := range b {
		if sc.scalar {
			switch c {
			case ' ', '\t', '\n', '\r', ',', ':', '}', ']', '{', '[', '"':
				return i, true
			}
			continue
		}
		switch {
		case sc.esc:
			sc.esc = false
		case sc.inStr:
			switch c {
			case '\\':
				sc.esc = true
			case '"':
				sc.inStr = false
				if sc.depth == 0 {
					return i + 1, true
				}
			}
		case c == '"':
			sc.inStr = true
		case c == '{' || c == '[':
			sc.depth++
		case c == '}' || c == ']':
			sc.depth--
			if sc.depth == 0 {
				return i + 1, true
			}
		}
	}
	return len(b), false
}

// unexpectedEOF turns io.EOF (the file ended inside the object) into an error.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// jsonString is the string the JSON b holds: b itself without its quotes when it has
// no escape, json.Unmarshal's answer otherwise.
func jsonString(b []byte) (string, error) {
	if v, ok := plainString(b); ok {
		return string(v), nil
	}
	var k string
	err := json.Unmarshal(b, &k)
	return k, err
}

// plainString returns the content of the JSON string b when it needs no decoding: no
// escape, no control character, valid UTF-8.
func plainString(b []byte) ([]byte, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, false
	}
	v := b[1 : len(b)-1]
	ascii := true
	for _, c := range v {
		switch {
		case c == '\\' || c == '"' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return v, ascii || utf8.Valid(v)
}

// flatFields calls set for each field of b when b is a flat JSON object written the
// way encodeState writes one (`{"p":"…","s":64}`: one-letter names, no white space,
// string values without escapes, scalar values otherwise). It reports false as soon
// as b is anything else or set refuses a field.
func flatFields(b []byte, set func(name byte, v []byte, str bool) bool) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	if len(b) == 2 {
		return true
	}
	i := 1
	for {
		if i+4 > len(b) || b[i] != '"' || b[i+2] != '"' || b[i+3] != ':' {
			return false
		}
		name := b[i+1]
		i += 4
		j := i
		str := j < len(b) && b[j] == '"'
		if str {
			j++
			for j < len(b) && b[j] != '"' {
				j++
			}
			j++ // past the closing quote (checked by plainString)
		} else {
			for j < len(b) && b[j] != ',' && b[j] != '}' {
				j++
			}
		}
		if j >= len(b) || !set(name, b[i:j], str) {
			return false
		}
		switch b[j] {
		case ',':
			i = j + 1
		case '}':
			return j == len(b)-1
		default:
			return false
		}
	}
}

// parseBase is the fast path of one base entry.
func parseBase(b []byte, sh shared, v *baseEntry) bool {
	return flatFields(b, func(name byte, raw []byte, str bool) bool {
		switch name {
		case 'p':
			return setString(&v.Path, sh, raw, str)
		case 'h':
			return setString(&v.Hash, sh, raw, str)
		case 'n':
			return setString(&v.Name, sh, raw, str)
		case 'd':
			return setBool(&v.Dir, raw, str)
		}
		return false
	})
}

// parseLocal is the fast path of one stat cache entry.
func parseLocal(b []byte, sh shared, v *localEntry) bool {
	return flatFields(b, func(name byte, raw []byte, str bool) bool {
		switch name {
		case 'p':
			return setString(&v.Path, sh, raw, str)
		case 'h':
			return setString(&v.Hash, sh, raw, str)
		case 'd':
			return setBool(&v.Dir, raw, str)
		case 's':
			return setInt(&v.Size, raw, str)
		case 'm':
			return setInt(&v.MtimeNs, raw, str)
		case 'a':
			return setInt(&v.At, raw, str)
		case 'i':
			if str || !plainInt(raw) || raw[0] == '-' {
				return false
			}
			n, err := strconv.ParseUint(string(raw), 10, 64)
			v.Ino = n
			return err == nil
		}
		return false
	})
}

func setString(dst *string, sh shared, raw []byte, str bool) bool {
	v, ok := plainString(raw)
	if !str || !ok {
		return false
	}
	*dst = sh.str(v)
	return true
}

func setBool(dst *bool, raw []byte, str bool) bool {
	switch {
	case str:
		return false
	case string(raw) == "true":
		*dst = true
	case string(raw) == "false":
		*dst = false
	default:
		return false
	}
	return true
}

func setInt(dst *int64, raw []byte, str bool) bool {
	if str || !plainInt(raw) {
		return false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	*dst = n
	return err == nil
}

// plainInt reports whether raw is a JSON integer: an optional minus, then 0 or digits
// without a leading zero.
func plainInt(raw []byte) bool {
	d := raw
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || (d[0] == '0' && len(d) > 1) {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
