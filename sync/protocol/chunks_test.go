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
