package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/syncspace/syncspace/sync/protocol"
)

// The previous reader of the state file (a json.Decoder, one entry at a time): the
// reference the hand-written reader must agree with.

// decodeStateJSON reads a state file's JSON object from r.
func decodeStateJSON(r io.Reader) (*persisted, error) {
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
			p.Base, err = decodeMapJSON(d, nBase, func(k string, v *baseEntry) string {
				if v.Path == k {
					v.Path = k // one string for the key and the path
				}
				return k
			})
		case "local":
			p.Local, err = decodeMapJSON(d, nLocal, func(k string, v *localEntry) string {
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

// decodeMapJSON reads a JSON object (or null) of T values into a map sized for n entries
// (a hint, 0 when unknown); share picks the strings to keep for an entry's key.
func decodeMapJSON[T any](d *json.Decoder, n int, share func(k string, v *T) string) (map[string]T, error) {
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

// stateSamples are state files the readers must agree on: what encodeState writes,
// what json.Marshal of persisted gives (older clients), and hand-made variants.
func stateSamples(t testing.TB) [][]byte { return stateSamplesOf(t, 30) }

// stateSamplesOf is stateSamples with n plain entries in the encoded states.
func stateSamplesOf(t testing.TB, n int) [][]byte {
	p := sampleState(n)
	p.Base["z"] = baseEntry{Path: "z", Dir: true}
	p.Local["z"] = localEntry{Path: "z", Dir: true, MtimeNs: -5}
	p.Base["tab"] = baseEntry{Path: "t\tb", Hash: "\u2028", Name: "é\x01"}
	p.Local["bad"] = localEntry{Path: "bad\xff", Ino: 1<<64 - 1}
	var enc bytes.Buffer
	if err := encodeState(&enc, p); err != nil {
		t.Fatal(err)
	}
	old, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	indented, _ := json.MarshalIndent(p, " ", "\t")
	out := [][]byte{enc.Bytes(), old, indented}
	for _, s := range []string{
		`{"version":1,"base":{"a":{"p":"a","P":"b"},"b":{"p":"b","x":1,"h":null},"c":{ "p" : "c" }}}`,
		`{"version":1,"local":{"a":{"p":"a","s":1e3}}}`,
		`{"version":1,"local":{"a":{"p":"a","s":01}}}`,
		`{"version":1,"local":{"a":{"p":"a","s":-0,"i":-1}}}`,
		`{"version":1,"local":{"a":{"p":"a","i":18446744073709551616}}}`,
		`{"version":1,"local":{"a":{"p":"a","d":tru}}}`,
		`{"version":1,"local":{"a":{"p":"a","d":null,"s":null}}}`,
		`{"version":1,"base":{"a\u0041":{"p":"a\"b\\c\/"},"é":{"p":"\u00e9"}}}`,
		`{"version":1,"base":{"a":{"p":"a"},"a":{"p":"b"}},"local":{"a":{"p":"a","p":"c"}}}`,
		`{"version":1,"base":{"a":"str"}}`,
		`{"version":1,"base":{"a":[1]}}`,
		`{"version":1,"base":5}`,
		`{"version":1,"base":nul}`,
		`{"version":1,"extra":[1,,2]}`,
		`{"version":1,"extra":{"a":[{"b":"}"}]},"base":{}}`,
		`{"version":1 "root":"x"}`,
		`{"version":1,}`,
		`{"version":1.5}`,
		`{1:2}`,
		`{"version":1}trailing`,
		` {} `, `[]`, `null`, `"x"`, ``, `{`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// sameDecode checks that both readers give the same state, or both an error.
func sameDecode(t *testing.T, b []byte) {
	t.Helper()
	sameDecodeFrom(t, b, bytes.NewReader(b), bytes.NewReader(b))
}

// sameDecodeFrom is sameDecode reading b from r1 and r2 (each a reader of b).
func sameDecodeFrom(t *testing.T, b []byte, r1, r2 io.Reader) {
	t.Helper()
	got, err := decodeState(r1)
	want, werr := decodeStateJSON(r2)
	if (err == nil) != (werr == nil) {
		t.Fatalf("%.200q: error %v, the json.Decoder reader's %v", b, err, werr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%.200q: read\n%+v\nthe json.Decoder reader read\n%+v", b, got, want)
	}
}

// TestStateDecodeAgrees: the hand-written reader reads every sample, and every
// truncation of the encoder's output, exactly as the json.Decoder reader did.
func TestStateDecodeAgrees(t *testing.T) {
	samples := stateSamples(t)
	for _, b := range samples {
		sameDecode(t, b)
	}
	enc := samples[0]
	for n := 0; n < len(enc); n += 1 + n/50 {
		sameDecode(t, enc[:n])
	}
}

// TestStateDecodeMutations: the readers agree on samples with a few bytes changed,
// dropped or inserted (fixed seed; the fuzz target explores further).
func TestStateDecodeMutations(t *testing.T) {
	seeds := stateSamples(t)
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "{}[]\",:0123456789n\\ "
	for range 1500 {
		b := append([]byte(nil), seeds[r.IntN(len(seeds))]...)
		for range 1 + r.IntN(4) {
			if len(b) == 0 {
				break
			}
			p := r.IntN(len(b))
			switch r.IntN(3) {
			case 0:
				b[p] = byte(r.IntN(256))
			case 1:
				b = append(b[:p], b[p+1:]...)
			default:
				b = append(b[:p], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[p:]...)...)
			}
		}
		sameDecode(t, b)
	}
}

// FuzzStateDecode: the hand-written reader agrees with the json.Decoder reader on any
// input. The seeds hold the odd entries alone, not thirty plain ones besides: the
// fuzzer's minimization of a new input costs time quadratic in its length (samples
// of ten kilobytes kept it minimizing, not fuzzing, for a minute per new input). The
// readers' buffers are reused: two fresh 256 KiB buffers per input cost more than the
// rest.
func FuzzStateDecode(f *testing.F) {
	for _, b := range stateSamplesOf(f, 0) {
		f.Add(b)
	}
	bigHint := regexp.MustCompile(`"n_(base|local)"\s*:\s*[0-9]{6}`)
	br1, br2 := bufio.NewReaderSize(nil, stateBufSize), bufio.NewReaderSize(nil, stateBufSize) // taken as they are
	f.Fuzz(func(t *testing.T, b []byte) {
		if bigHint.Match(b) {
			t.Skip("a count of 10⁵ or more presizes maps of that many entries: slow, not wrong")
		}
		br1.Reset(bytes.NewReader(b))
		br2.Reset(bytes.NewReader(b))
		sameDecodeFrom(t, b, br1, br2)
	})
}

// TestStateDecodeShares: a loaded state holds one string for a key, its paths and
// the hash both maps hold.
func TestStateDecodeShares(t *testing.T) {
	var buf bytes.Buffer
	if err := encodeState(&buf, sampleState(50)); err != nil {
		t.Fatal(err)
	}
	p, err := decodeState(&buf)
	if err != nil || len(p.Local) != 50 {
		t.Fatal(err)
	}
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	for k, l := range p.Local {
		b := p.Base[k]
		if !same(l.Hash, b.Hash) {
			t.Fatalf("%s: two copies of the hash", k)
		}
		if b.Path == k && !(same(b.Path, l.Path) && same(l.Path, k)) {
			t.Fatalf("%s: copies of the path", k)
		}
	}
}

// TestShareHashes: after a scan, a local hash equal to the listing's is the listing's
// string; others are left alone.
func TestShareHashes(t *testing.T) {
	h := fmt.Sprintf("%064x", 7)
	remote := map[string]protocol.Metadata{"a": {Path: "a", Hash: h}, "b": {Path: "b", Hash: h}}
	local := map[string]localEntry{
		"a": {Path: "a", Hash: strings.Clone(h), Size: 3},
		"b": {Path: "b", Hash: fmt.Sprintf("%064x", 8)},
		"c": {Path: "c", Hash: strings.Clone(h)},
	}
	shareHashes(local, remote)
	if a := local["a"]; unsafe.StringData(a.Hash) != unsafe.StringData(h) || a.Size != 3 || a.Path != "a" {
		t.Errorf("a: %+v not shared", a)
	}
	if b := local["b"]; b.Hash != fmt.Sprintf("%064x", 8) {
		t.Errorf("b changed: %+v", b)
	}
	if c := local["c"]; unsafe.StringData(c.Hash) == unsafe.StringData(h) {
		t.Error("c shared a hash with no listed entry")
	}
}

// TestStateDecodeCountBound: the counts ahead of the maps only presize them: a count
// the file cannot hold (a damaged or hand-edited file) must not make the reader
// allocate for it (at 1<<24 entries, gigabytes at every start).
func TestStateDecodeCountBound(t *testing.T) {
	dir := t.TempDir()
	b := []byte(`{"version":1,"n_base":3000000,"n_local":3000000,"base":{"a":{"p":"a"}},"local":{"a":{"p":"a","s":1}}}`)
	if err := os.WriteFile(filepath.Join(dir, stateFileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st, found, err := loadState(dir)
	runtime.ReadMemStats(&after)
	if err != nil || !found || len(st.Base) != 1 || len(st.Local) != 1 {
		t.Fatalf("loadState: %+v %v %v", st, found, err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 { // the whole process: a margin for other goroutines
		t.Fatalf("a %d-byte state file made the reader allocate %d MiB", len(b), n>>20)
	}
}
