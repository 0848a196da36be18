package syncclient

import (
	"bytes"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// plainEntry decodes one listed entry written as the server writes it: the fields of
// protocol.Metadata in their order, no space, ASCII strings without escapes, plain
// integers. It reports false for any other form (which encoding/json then decodes);
// what it accepts, it decodes exactly as encoding/json would
// (TestPlainEntryAsEncodingJSON).
func plainEntry(b []byte, m *protocol.Metadata) bool {
	c := entryCursor{b: b, ok: true}
	c.lit(`{"path":`)
	path := c.str()
	c.lit(`,"size":`)
	size := c.num()
	c.lit(`,"modified":`)
	mod := c.quoted()
	c.lit(`,"hash":`)
	hash := c.str()
	c.lit(`,"is_directory":`)
	dir := c.boolean()
	c.lit(`,"seq":`)
	seq := c.num()
	c.lit(`}`)
	if !c.ok || len(c.b) != 0 {
		return false
	}
	var t time.Time
	if err := t.UnmarshalJSON(mod); err != nil {
		return false
	}
	*m = protocol.Metadata{Path: string(path), Size: size, Modified: t, Hash: string(hash), IsDirectory: dir, Seq: seq}
	return true
}

// entryCursor walks plainEntry's input; ok turns false at the first mismatch.
type entryCursor struct {
	b  []byte
	ok bool
}

func (c *entryCursor) lit(s string) {
	if c.ok && len(c.b) >= len(s) && string(c.b[:len(s)]) == s {
		c.b = c.b[len(s):]
		return
	}
	c.ok = false
}

// quoted returns a string with its quotes: printable ASCII, no escape.
func (c *entryCursor) quoted() []byte {
	if !c.ok || len(c.b) < 2 || c.b[0] != '"' {
		c.ok = false
		return nil
	}
	end := bytes.IndexByte(c.b[1:], '"') + 1
	if end == 0 {
		c.ok = false
		return nil
	}
	for _, ch := range c.b[1:end] {
		if ch < 0x20 || ch >= 0x7f || ch == '\\' {
			c.ok = false
			return nil
		}
	}
	q := c.b[:end+1]
	c.b = c.b[end+1:]
	return q
}

// str returns the content of a quoted string.
func (c *entryCursor) str() []byte {
	q := c.quoted()
	if q == nil {
		return nil
	}
	return q[1 : len(q)-1]
}

// num returns a JSON integer of at most 18 digits (no fraction or exponent).
func (c *entryCursor) num() int64 {
	if !c.ok {
		return 0
	}
	neg := len(c.b) > 0 && c.b[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	start := i
	var n int64
	for i < len(c.b) && c.b[i] >= '0' && c.b[i] <= '9' {
		n = n*10 + int64(c.b[i]-'0')
		i++
	}
	digits := i - start
	if digits == 0 || digits > 18 || (digits > 1 && c.b[start] == '0') {
		c.ok = false
		return 0
	}
	c.b = c.b[i:]
	if neg {
		return -n
	}
	return n
}

func (c *entryCursor) boolean() bool {
	switch {
	case !c.ok:
	case bytes.HasPrefix(c.b, []byte("true")):
		c.b = c.b[4:]
		return true
	case bytes.HasPrefix(c.b, []byte("false")):
		c.b = c.b[5:]
		return false
	default:
		c.ok = false
	}
	return false
}
