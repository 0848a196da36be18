package fsys

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"sync"
)

// hashBufs holds the read buffers of SHA256Hex.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// SHA256Hex returns the lowercase hex SHA-256 of everything r yields, read through a
// pooled 32 KiB buffer. io.Copy from an *os.File into a hash allocates a new 32 KiB
// buffer on every call (the file's WriteTo falls back to a plain copy): for a tree of
// a million small files that is 32 GiB of garbage, which the scans of the client and
// of the server's disk check paid for in allocation and collection.
func SHA256Hex(r io.Reader) (string, error) {
	bp := hashBufs.Get().(*[]byte)
	defer hashBufs.Put(bp)
	h := sha256.New()
	// The struct hides r's WriteTo, so that the pooled buffer is the one used.
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{r}, *bp); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
