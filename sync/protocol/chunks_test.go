package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestChunkListJSON(t *testing.T) {
	l := ChunkList{Hash: strings.Repeat("ab", 32), Size: 5, Seq: 7, Chunks: []ChunkRef{{Hash: [32]byte{1}, Size: 2}, {Hash: [32]byte{0xff}, Size: 3}}}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"hash":"` + l.Hash + `","size":5,"seq":7,"chunks":[["01` + strings.Repeat("0", 62) + `",2],["ff` + strings.Repeat("0", 62) + `",3]]}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back ChunkList
	if err := json.Unmarshal(b, &back); err != nil || back.Chunks[1] != l.Chunks[1] || back.Size != 5 {
		t.Fatalf("%v %+v", err, back)
	}
	for _, bad := range []string{`[1,2]`, `["zz",1]`, `["` + strings.Repeat("g", 64) + `",1]`, `["` + strings.Repeat("0", 64) + `",0]`, `["` + strings.Repeat("0", 64) + `"]`, `{}`} {
		var c ChunkRef
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// FuzzChunkRefJSON: a chunk reference the client decodes from the server's GET
// /api/chunks answer is exactly ["<64 hex>", size ≥ 1]: never a panic, and what is
// accepted encodes back to the same reference (no element ignored).
func FuzzChunkRefJSON(f *testing.F) {
	h := strings.Repeat("ab", 32)
	for _, s := range []string{`["` + h + `",5]`, `["` + h + `",5,6]`, `["` + h + `"]`, `[]`, `null`, `["` + h + `",0]`, `["` + strings.ToUpper(h) + `",1]`, `{"0":1}`, `["` + h + `",1e3]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c ChunkRef
		if err := json.Unmarshal(b, &c); err != nil {
			return
		}
		if c.Size < 1 {
			t.Fatalf("%s: size %d accepted", b, c.Size)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back ChunkRef
		if err := json.Unmarshal(out, &back); err != nil || back != c {
			t.Fatalf("%s: round trip %s: %v", b, out, err)
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(b, &elems); err != nil || len(elems) != 2 {
			t.Fatalf("%s accepted with %d elements", b, len(elems))
		}
	})
}
