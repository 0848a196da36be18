package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/syncspace/syncspace/sync/fsys"
)

// The state file is one JSON object (the persisted fields), written and read as a
// stream: one entry at a time, never the whole file in memory. Its counts ("n_base",
// "n_local", ahead of the maps) size the maps before they are filled; a file without
// them (written by an older client as one json.Marshal of persisted) reads the same.

// stateBufSize is the buffer of the state file's reader and writer.
const stateBufSize = 256 << 10

// encodeState writes p as the state file's JSON object.
func encodeState(w io.Writer, p *persisted) error {
	bw := bufio.NewWriterSize(w, stateBufSize)
	enc := json.NewEncoder(bw)
	head := struct {
		Version  int    `json:"version"`
		Root     string `json:"root"`
		ClientID string `json:"client_id"`
		Epoch    string `json:"epoch"`
		Seq      int64  `json:"seq"`
		NBase    int    `json:"n_base"`
		NLocal   int    `json:"n_local"`
		// Unflushed ahead of the maps: a reader knows before the base whether it may
		// not be on the disk.
		Unflushed *unflushedMark `json:"unflushed,omitempty"`
	}{p.Version, p.Root, p.ClientID, p.Epoch, p.Seq, len(p.Base), len(p.Local), p.Unflushed}
	hb, err := json.Marshal(head)
	if err != nil {
		return err
	}
	bw.Write(hb[:len(hb)-1]) // without its closing brace
	bw.WriteString(`,"base":`)
	if err := encodeMap(bw, enc, p.Base); err != nil {
		return err
	}
	bw.WriteString(`,"local":`)
	if err := encodeMap(bw, enc, p.Local); err != nil {
		return err
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// encodeMap writes m as a JSON object, one entry a line.
func encodeMap[T any](bw *bufio.Writer, enc *json.Encoder, m map[string]T) error {
	bw.WriteByte('{')
	first := true
	var buf []byte
	for k, v := range m {
		if !first {
			bw.WriteByte(',')
		}
		first = false
		var ok bool
		if buf, ok = appendEntry(buf[:0], k, v); ok {
			bw.Write(buf)
			continue
		}
		if err := enc.Encode(k); err != nil { // "k"\n
			return err
		}
		bw.WriteByte(':')
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return bw.WriteByte('}')
}

// appendEntry appends what encodeMap writes for the entry k, v through the JSON
// encoder ("k"\n:{...}\n), for a localEntry or baseEntry whose strings the encoder
// writes as they are (plainJSON); ok is false for anything else, which encodeMap
// then encodes with the encoder (TestAppendEntryAsEncoder compares both).
func appendEntry(b []byte, k string, v any) (_ []byte, ok bool) {
	if !plainJSON(k) {
		return b, false
	}
	b = append(append(append(b, '"'), k...), "\"\n:"...)
	num := func(b []byte, key string, n int64) []byte {
		if n == 0 {
			return b
		}
		return strconv.AppendInt(append(b, key...), n, 10)
	}
	switch e := v.(type) {
	case localEntry:
		if !plainJSON(e.Path) || !plainJSON(e.Hash) {
			return b, false
		}
		b = append(append(append(b, `{"p":"`...), e.Path...), '"')
		if e.Dir {
			b = append(b, `,"d":true`...)
		}
		b = num(b, `,"s":`, e.Size)
		b = num(b, `,"m":`, e.MtimeNs)
		if e.Ino != 0 {
			b = strconv.AppendUint(append(b, `,"i":`...), e.Ino, 10)
		}
		if e.Hash != "" {
			b = append(append(append(b, `,"h":"`...), e.Hash...), '"')
		}
		b = num(b, `,"a":`, e.At)
	case baseEntry:
		if !plainJSON(e.Path) || !plainJSON(e.Hash) || !plainJSON(e.Name) {
			return b, false
		}
		b = append(append(append(b, `{"p":"`...), e.Path...), '"')
		if e.Dir {
			b = append(b, `,"d":true`...)
		}
		if e.Hash != "" {
			b = append(append(append(b, `,"h":"`...), e.Hash...), '"')
		}
		if e.Name != "" {
			b = append(append(append(b, `,"n":"`...), e.Name...), '"')
		}
	default:
		return b, false
	}
	return append(b, "}\n"...), true
}

// plainJSON reports whether the JSON encoder writes s between quotes as it is:
// printable ASCII without a quote, a backslash or the HTML characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// writeStateFile writes the state file path atomically (temp file in the same
// directory, fsync, rename, fsync of the directory), streaming it from write. The
// rename waits for synced's one value: nothing appears under path before then, and
// nothing at all if that value is an error.
func writeStateFile(path string, write func(io.Writer) error, synced <-chan error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix+"*") // mode 0600
	if err != nil {
		<-synced
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = write(f); err != nil {
		<-synced
		return err
	}
	err = fsys.Sync(f)
	if serr := <-synced; err == nil && serr != nil {
		err = fmt.Errorf("flush the folder before the state: %w", serr)
	}
	if err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}
