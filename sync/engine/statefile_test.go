package engine

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestAppendEntryAsEncoder checks that appendEntry writes, for every entry it takes,
// the bytes the JSON encoder writes for it, on random entries (strings with quotes,
// backslashes, HTML characters, control characters and non-ASCII letters among them,
// zero and negative numbers).
func TestAppendEntryAsEncoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	strs := []string{"", "a", "init/d05/f00005.bin", `q"uote`, `back\slash`, "a<b>&c", "a&b", "x>y", "tab\tx", "ünï", "\u2028", "~$x", "0123456789abcdef"}
	str := func() string { return strs[rng.IntN(len(strs))] }
	num := func() int64 {
		switch rng.IntN(3) {
		case 0:
			return 0
		case 1:
			return -rng.Int64()
		}
		return rng.Int64()
	}
	taken := 0
	for i := 0; i < 20000; i++ {
		var v any = baseEntry{Path: str(), Dir: rng.IntN(2) == 0, Hash: str(), Name: str()}
		if i%2 == 0 {
			v = localEntry{Path: str(), Dir: rng.IntN(2) == 0, Size: num(), MtimeNs: num(), Ino: rng.Uint64() * uint64(rng.IntN(2)), Hash: str(), At: num()}
		}
		k := str()
		got, ok := appendEntry(nil, k, v)
		if !ok {
			continue
		}
		taken++
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		_ = enc.Encode(k)
		want.WriteByte(':')
		_ = enc.Encode(v)
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("appendEntry wrote %q, the encoder %q", got, want.Bytes())
		}
	}
	if taken < 500 {
		t.Fatalf("appendEntry took only %d entries: the test checks too little", taken)
	}
}
