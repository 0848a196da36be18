package engine

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"

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
	enc.SetEscapeHTML(false) // names with <, > or & stay on the reader's fast path
	head := struct {
		Version  int    `json:"version"`
		Root     string `json:"root"`
		ClientID string `json:"client_id"`
		Epoch    string `json:"epoch"`
		Seq      int64  `json:"seq"`
		NBase    int    `json:"n_base"`
		NLocal   int    `json:"n_local"`
	}{p.Version, p.Root, p.ClientID, p.Epoch, p.Seq, len(p.Base), len(p.Local)}
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
	for k, v := range m {
		if !first {
			bw.WriteByte(',')
		}
		first = false
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

// writeStateFile writes the state file path atomically (temp file in the same
// directory, fsync, rename, fsync of the directory), streaming it from write. The
// rename waits for synced to be closed: nothing appears under path before then.
func writeStateFile(path string, write func(io.Writer) error, synced <-chan struct{}) (err error) {
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
	<-synced
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
