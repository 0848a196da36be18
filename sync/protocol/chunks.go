package protocol

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// ChunkList is the body of GET /api/chunks: the content-defined chunks (sync/chunk)
// of a file's current content, in order. Chunk i starts at the sum of the sizes before
// it; the sizes add up to Size. Hash is the whole content's SHA-256 (hex), Seq the
// change that last wrote the file.
type ChunkList struct {
	Hash   string     `json:"hash"`
	Size   int64      `json:"size"`
	Seq    int64      `json:"seq"`
	Chunks []ChunkRef `json:"chunks"`
}

// ChunkRef is one chunk of a ChunkList, on the wire ["<sha256 hex>", size].
type ChunkRef struct {
	Hash [32]byte
	Size int64
}

// MarshalJSON implements json.Marshaler.
func (c ChunkRef) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 90)
	b = append(b, `["`...)
	b = hex.AppendEncode(b, c.Hash[:])
	b = append(b, `",`...)
	b = strconv.AppendInt(b, c.Size, 10)
	return append(b, ']'), nil
}

// UnmarshalJSON implements json.Unmarshaler: exactly two elements (a Go array would
// drop a third silently), the hash 64 hex digits and the size at least 1.
func (c *ChunkRef) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("chunk: want [hash, size]: %w", err)
	}
	if len(pair) != 2 {
		return fmt.Errorf("chunk: want [hash, size], got %d elements", len(pair))
	}
	var h string
	if err := json.Unmarshal(pair[0], &h); err != nil || len(h) != 64 {
		return fmt.Errorf("chunk: bad hash %s", pair[0])
	}
	if _, err := hex.Decode(c.Hash[:], []byte(h)); err != nil {
		return fmt.Errorf("chunk: bad hash %q", h)
	}
	if err := json.Unmarshal(pair[1], &c.Size); err != nil || c.Size < 1 {
		return fmt.Errorf("chunk: bad size %s", pair[1])
	}
	return nil
}
