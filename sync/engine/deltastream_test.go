package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/delta"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// TestUnhashedLocalSide: a local file the scan left unhashed (deferHash; "?" below)
// is decided only as a plain upload over the base the server still holds; with the
// server moved on (it changed between the scan and the plan) or any other side, the
// key is left for the next pass, which hashes it: never a conflict copy or a delete
// decided without the local content's hash.
func TestUnhashedLocalSide(t *testing.T) {
	cases := []struct {
		name    string
		in      sides
		want    []string
		recheck bool
	}{
		{"server unchanged: upload", sides{local: map[string]string{"a": "?"}, base: map[string]string{"a": "x"}, remote: map[string]string{"a": "x"}}, []string{"upload a"}, false},
		// attacks
		{"server changed meanwhile", sides{local: map[string]string{"a": "?"}, base: map[string]string{"a": "x"}, remote: map[string]string{"a": "y"}}, nil, true},
		{"server deleted it meanwhile", sides{local: map[string]string{"a": "?"}, base: map[string]string{"a": "x"}}, nil, true},
		{"server made it a directory", sides{local: map[string]string{"a": "?"}, base: map[string]string{"a": "x"}, remote: map[string]string{"a": "/"}}, nil, true},
		{"no base", sides{local: map[string]string{"a": "?"}, remote: map[string]string{"a": "x"}}, nil, true},
		{"no base, no remote", sides{local: map[string]string{"a": "?"}}, nil, true},
		{"base a directory", sides{local: map[string]string{"a": "?"}, base: map[string]string{"a": "/"}, remote: map[string]string{"a": "/"}}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.in.book()
			k := pathrule.FoldKey("a")
			l := b.local[k]
			l.Hash = "" // unhashed
			b.local[k] = l
			pl := b.makePlan(allKeys(b))
			if got := render(pl); !slices.Equal(got, c.want) {
				t.Fatalf("plan %q, want %q", got, c.want)
			}
			if got := slices.Contains(pl.recheck, k); got != c.recheck {
				t.Fatalf("recheck %v, want %v", got, c.recheck)
			}
		})
	}
}

func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// bodyDeltaer is a Deltaer whose UploadDelta decodes the body against base, as a
// server would, and records how it ended.
type bodyDeltaer struct {
	Deltaer
	base    []byte
	content []byte
	hash    [32]byte
	hashed  bool
	err     error
	called  bool
}

func (d *bodyDeltaer) UploadDelta(_ context.Context, _ string, body io.ReadCloser, o UploadOptions) (protocol.Metadata, bool, error) {
	defer body.Close()
	d.called = true
	r := delta.NewReader(bytes.NewReader(d.base), int64(len(d.base)), body)
	r.RequireHash(nil)
	d.content, d.err = io.ReadAll(r)
	if d.err != nil {
		return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeBadRequest, "body: %v", d.err)
	}
	d.hash, d.hashed = r.Hash()
	return protocol.Metadata{Hash: hex.EncodeToString(d.hash[:])}, false, nil
}

// TestStreamUpload: the op stream decodes to the file with its hash last; a file
// that is mostly new, that holds the base's content, or that no longer has the hash
// it was planned with is broken off before its end (nothing a server would commit);
// content that is the base's all along makes no request at all. With the base's
// Prints, the chunks it shares take the base's hashes (not computed) and the
// outcome is the same.
func TestStreamUpload(t *testing.T) {
	for _, printed := range []bool{false, true} {
		t.Run(fmt.Sprint("prints ", printed), func(t *testing.T) { testStreamUpload(t, printed) })
	}
}

func testStreamUpload(t *testing.T, printed bool) {
	ctx := context.Background()
	base := randomBytes(1, 6<<20)
	bs := chunk.NewSum()
	bs.Write(base)
	_, bl := bs.Finish()
	var bp []chunk.Print
	if printed {
		bp = bs.Prints()
	}
	edited := bytes.Clone(base)
	edited[3<<20] ^= 1
	fresh := randomBytes(3, 6<<20)
	prefix := base[:bl[len(bl)/2].Offset] // the base cut at a chunk boundary
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	for _, tc := range []struct {
		name                 string
		file                 []byte
		declared             string
		whole, same, changed bool
		complete             bool
	}{
		{"one byte changed", edited, "", false, false, false, true},
		{"one byte changed, hash declared", edited, sum(edited), false, false, false, true},
		{"the base's prefix", prefix, "", false, false, false, true},
		{"mostly new", fresh, "", true, false, false, false},
		{"the base's content", base, "", false, true, false, false},
		{"changed since hashed", edited, sum(base), false, false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &bodyDeltaer{base: base}
			o := UploadOptions{IfMatch: sum(base), SHA256: tc.declared}
			res := streamUpload(ctx, d, "f", bytes.NewReader(tc.file), int64(len(tc.file)), bl, bp, o)
			if res.whole != tc.whole || res.same != tc.same || res.changed != tc.changed {
				t.Fatalf("whole %v same %v changed %v", res.whole, res.same, res.changed)
			}
			if tc.same {
				if d.called {
					t.Fatal("a request was made for the base's own content")
				}
				return
			}
			if !tc.complete {
				if d.err == nil || d.hashed {
					t.Fatalf("the body was not broken off: %v", d.err)
				}
				return
			}
			if res.err != nil || !bytes.Equal(d.content, tc.file) || !d.hashed || res.hash != sum(tc.file) || res.meta.Hash != res.hash {
				t.Fatalf("err %v, content equal %v, hash %v", res.err, bytes.Equal(d.content, tc.file), d.hashed)
			}
			if want, _ := chunk.List(ctx, bytes.NewReader(tc.file)); !slices.Equal(res.list, want) {
				t.Fatal("the recorded chunk list differs from the file's")
			}
			if len(res.prints) != len(res.list) || res.prints[0] != chunk.PrintOf(tc.file[:res.list[0].Size]) {
				t.Fatal("the recorded Prints do not match the list")
			}
			if printed != (res.reused >= len(res.list)-2) || !printed && res.reused != 0 {
				t.Fatalf("%d of %d chunk hashes reused", res.reused, len(res.list))
			}
		})
	}
}
