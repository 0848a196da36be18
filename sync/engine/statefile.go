package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
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

// decodeState reads a state file's JSON object from r.
func decodeState(r io.Reader) (*persisted, error) {
	d := json.NewDecoder(bufio.NewReaderSize(r, stateBufSize))
	if err := expectDelim(d, '{'); err != nil {
		return nil, err
	}
	p := &persisted{}
	nBase, nLocal := 0, 0
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t {
		case "version":
			err = d.Decode(&p.Version)
		case "root":
			err = d.Decode(&p.Root)
		case "client_id":
			err = d.Decode(&p.ClientID)
		case "epoch":
			err = d.Decode(&p.Epoch)
		case "seq":
			err = d.Decode(&p.Seq)
		case "n_base":
			err = d.Decode(&nBase)
		case "n_local":
			err = d.Decode(&nLocal)
		case "base":
			p.Base, err = decodeMap(d, nBase, func(k string, v *baseEntry) string {
				if v.Path == k {
					v.Path = k // one string for the key and the path
				}
				return k
			})
		case "local":
			p.Local, err = decodeMap(d, nLocal, func(k string, v *localEntry) string {
				b, ok := p.Base[k]
				if ok && b.Path == k {
					k = b.Path // the base's string: one for both maps
				}
				if ok && b.Hash == v.Hash {
					v.Hash = b.Hash
				}
				if v.Path == k {
					v.Path = k
				}
				return k
			})
		default:
			var skip json.RawMessage
			err = d.Decode(&skip)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := expectDelim(d, '}'); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeMap reads a JSON object (or null) of T values into a map sized for n entries
// (a hint, 0 when unknown); share picks the strings to keep for an entry's key.
func decodeMap[T any](d *json.Decoder, n int, share func(k string, v *T) string) (map[string]T, error) {
	t, err := d.Token()
	if err != nil || t == nil {
		return nil, err
	}
	if t != json.Delim('{') {
		return nil, fmt.Errorf("state: want an object, got %v", t)
	}
	m := make(map[string]T, max(0, min(n, 1<<24)))
	for d.More() {
		kt, err := d.Token()
		if err != nil {
			return nil, err
		}
		k, _ := kt.(string)
		var v T
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		m[share(k, &v)] = v
	}
	return m, expectDelim(d, '}')
}

// expectDelim reads the next token and checks that it is delim.
func expectDelim(d *json.Decoder, delim json.Delim) error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	if t != delim {
		return fmt.Errorf("state: want %v, got %v", delim, t)
	}
	return nil
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
