package syncclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// TestPlainEntryAsEncodingJSON checks that every entry plainEntry accepts decodes as
// encoding/json decodes it: entries as the server encodes them (paths with quotes,
// escapes, HTML characters and non-ASCII letters among them), and the same with one
// byte changed or cut short.
func TestPlainEntryAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	names := []string{"a.txt", "d/f00001.bin", `q"uote`, `back\slash`, "<html>&", "ünï €", "tab\tx", "x"}
	accepted := 0
	h := fmt.Sprintf("%064x", 7)
	fixed := []string{
		`{"path":"a","size":01,"modified":"2024-01-02T03:04:05Z","hash":"` + h + `","is_directory":false,"seq":1}`,
		`{"path":"a","size":1,"modified":"2024-01-02T03:04:05Z","hash":"` + h + `","is_directory":false,"seq":-0}`,
		`{"path":"a\u0062","size":1,"modified":"2024-01-02T03:04:05Z","hash":"` + h + `","is_directory":false,"seq":1}`,
		`{"path":"a","size":1,"modified":"2024-01-02T03:04:05Z","hash":"` + h + `","is_directory":true,"seq":1} `,
		`{"path":"a","size":1e3,"modified":"2024-01-02T03:04:05Z","hash":"` + h + `","is_directory":false,"seq":1}`,
		`{"path":"a","size":1,"modified":"2024-01-02T03:04:05.5+01:00","hash":"` + h + `","is_directory":false,"seq":9}`,
		`{"path":"a","size":1,"modified":"2024-13-02T03:04:05Z","hash":"` + h + `","is_directory":false,"seq":9}`,
		`{"path":null,"size":1,"modified":"2024-01-02T03:04:05Z","hash":"` + h + `","is_directory":false,"seq":1}`,
	}
	for round := 0; round < 20000+len(fixed); round++ {
		m := protocol.Metadata{
			Path: names[rng.IntN(len(names))], Size: rng.Int64N(1 << 40), Hash: fmt.Sprintf("%064x", rng.Uint64()),
			Modified: time.Unix(rng.Int64N(4e9)-1e9, rng.Int64N(1e9)).UTC(), IsDirectory: rng.IntN(4) == 0, Seq: rng.Int64N(1 << 50),
		}
		if rng.IntN(5) == 0 {
			m.Modified = m.Modified.In(time.FixedZone("x", 3600*(rng.IntN(24)-12)))
		}
		var buf bytes.Buffer
		_ = json.NewEncoder(&buf).Encode(m)
		b := bytes.TrimSpace(buf.Bytes())
		mutate := rng.IntN(3)
		if round >= 20000 {
			b, mutate = []byte(fixed[round-20000]), 0
		}
		switch mutate {
		case 1:
			b = bytes.Clone(b)
			b[rng.IntN(len(b))] = "0123456789-.eE\"\\ {}[],:tfn"[rng.IntN(26)]
		case 2:
			b = b[:rng.IntN(len(b))]
		}
		var got protocol.Metadata
		if !plainEntry(b, &got) {
			continue
		}
		accepted++
		var want protocol.Metadata
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("plainEntry accepted %s, which encoding/json refuses: %v", b, err)
		}
		// (a zone other than UTC is a new *time.Location in each decode)
		gName, gOff := got.Modified.Zone()
		wName, wOff := want.Modified.Zone()
		same := got.Modified.Equal(want.Modified) && gName == wName && gOff == wOff
		got.Modified, want.Modified = time.Time{}, time.Time{}
		if got != want || !same {
			t.Fatalf("%s: plainEntry %+v, encoding/json %+v", b, got, want)
		}
	}
	if accepted < 2500 {
		t.Fatalf("plainEntry accepted only %d entries: the test checks too little", accepted)
	}
}
