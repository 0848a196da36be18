package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncspace/syncspace/cmd/syncd/syncdtest"
	"github.com/syncspace/syncspace/sync/chunk"
	"github.com/syncspace/syncspace/sync/delta"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

func randomContent(seed uint64, n int) []byte {
	var key [32]byte
	key[0] = byte(seed)
	b := make([]byte, n)
	mrand.NewChaCha8(key).Read(b)
	return b
}

// encodeDelta is what a client does: chunk both contents, copy the chunks the base
// has, send the others as literals.
func encodeDelta(t testing.TB, base, next []byte) []byte {
	t.Helper()
	ctx := context.Background()
	bl, err := chunk.List(ctx, bytes.NewReader(base))
	if err != nil {
		t.Fatal(err)
	}
	have := map[[32]byte]int64{}
	for _, c := range bl {
		have[c.Hash] = c.Offset
	}
	nl, err := chunk.List(ctx, bytes.NewReader(next))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := delta.NewWriter(&buf)
	for _, c := range nl {
		if off, ok := have[c.Hash]; ok {
			w.Copy(off, c.Size)
		} else {
			w.Data(next[c.Offset : c.Offset+c.Size])
		}
	}
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func deltaHeaders(base, next []byte) map[string]string {
	return map[string]string{"If-Match": `"` + sum(base) + `"`, "X-Content-SHA256": sum(next), "Content-Type": delta.ContentType}
}

func edited(base []byte) []byte {
	mid := len(base) / 2
	next := append(bytes.Clone(base[:mid]), []byte(strings.Repeat("inserted", 13))[:100]...)
	next = append(next, base[mid:]...)
	next[len(next)/4] ^= 0xff // and a 1-byte change
	return next
}

func TestChunksRoute(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	rd := e.token("acme", "reader", "read")
	content := randomContent(1, 3<<20)
	m := e.put(tok, "dir/big.bin", content)
	e.put(tok, "small.txt", []byte("hello"))

	a := e.do(req{method: "GET", path: "/api/chunks/dir/big.bin", token: rd})
	if a.status != 200 || a.hdr.Get("Content-Type") != "application/json" || a.hdr.Get("Etag") != `"`+m.Hash+`"` {
		t.Fatalf("chunks: %d %v %s", a.status, a.hdr, a.body)
	}
	var l protocol.ChunkList
	a.json(t, &l)
	want, _ := chunk.List(context.Background(), bytes.NewReader(content))
	if l.Hash != m.Hash || l.Size != int64(len(content)) || l.Seq != m.Seq || len(l.Chunks) != len(want) {
		t.Fatalf("list %s/%d/%d with %d chunks, want %s/%d/%d with %d", l.Hash, l.Size, l.Seq, len(l.Chunks), m.Hash, len(content), m.Seq, len(want))
	}
	for i, c := range want {
		if l.Chunks[i].Hash != c.Hash || l.Chunks[i].Size != c.Size {
			t.Fatalf("chunk %d differs", i)
		}
	}
	if raw := string(a.body); !strings.Contains(raw, `"chunks":[["`) {
		t.Fatalf("wire form: %.120s", raw)
	}
	// A small file answers too: one chunk.
	a = e.do(req{method: "GET", path: "/api/chunks/small.txt", token: rd})
	a.json(t, &l)
	if a.status != 200 || len(l.Chunks) != 1 || l.Chunks[0].Size != 5 || l.Hash != sum([]byte("hello")) {
		t.Fatalf("small: %d %s", a.status, a.body)
	}

	t.Run("errors like GET", func(t *testing.T) {
		for _, tc := range []struct {
			name, path, token string
			status            int
			code              protocol.Code
		}{
			{"missing", "/api/chunks/nope.bin", rd, 404, protocol.CodeNotFound},
			{"directory", "/api/chunks/dir", rd, 404, protocol.CodeNotFound},
			{"root", "/api/chunks/", rd, 400, protocol.CodeInvalidPath},
			{"no token", "/api/chunks/dir/big.bin", "", 401, protocol.CodeUnauthenticated},
			{"dot dot", "/api/chunks/dir/../dir/big.bin", rd, 400, protocol.CodeInvalidPath},
			{"encoded dot dot", "/api/chunks/dir/%2e%2e/big.bin", rd, 400, protocol.CodeInvalidPath},
			{"encoded slash", "/api/chunks/dir%2fbig.bin", rd, 0, ""}, // same answer as GET /api/files
			{"backslash", "/api/chunks/dir%5cbig.bin", rd, 0, ""},
			{"NUL", "/api/chunks/big%00.bin", rd, 400, protocol.CodeInvalidPath},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := e.do(req{method: "GET", path: tc.path, token: tc.token})
				if tc.status == 0 {
					g := e.do(req{method: "GET", path: "/api/files/" + strings.TrimPrefix(tc.path, "/api/chunks/"), token: tc.token})
					if a.status != g.status || a.code() != g.code() {
						t.Fatalf("chunks %d %s, files %d %s", a.status, a.code(), g.status, g.code())
					}
					return
				}
				if a.status != tc.status || a.code() != tc.code {
					t.Fatalf("got %d %s: %s", a.status, a.code(), a.body)
				}
			})
		}
	})
}

// stored is the observable state of a path: content, metadata and head.
type stored struct {
	content []byte
	meta    protocol.Metadata
	head    int64
}

func (e *env) state(tok, path string) stored {
	e.t.Helper()
	var s stored
	s.content = e.get(tok, path)
	a := e.do(req{method: "GET", path: "/api/list?path=" + filepath.Dir(path), token: tok})
	var l listAnswer
	a.json(e.t, &l)
	for _, m := range l.Entries {
		if m.Path == path {
			s.meta = m
		}
	}
	s.head = l.Seq
	return s
}

func TestDeltaRoute(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	base := randomContent(2, 4<<20)
	m0 := e.put(tok, "d/big.bin", base)
	next := edited(base)
	body := encodeDelta(t, base, next)
	if lim := int64(len(next)) / 10; int64(len(body)) > lim {
		t.Fatalf("delta of %d bytes for a %d-byte file", len(body), len(next))
	}
	a := e.do(req{method: "POST", path: "/api/delta/d/big.bin", body: body, token: tok, hdr: deltaHeaders(base, next)})
	if a.status != 200 {
		t.Fatalf("delta: %d %s", a.status, a.body)
	}
	var m protocol.Metadata
	a.json(t, &m)
	if m.Hash != sum(next) || m.Size != int64(len(next)) || m.Seq != m0.Seq+1 || a.hdr.Get("Etag") != `"`+m.Hash+`"` || a.hdr.Get("X-Sync-Seq") != itoa(m.Seq) {
		t.Fatalf("answer %+v %v", m, a.hdr)
	}
	if got := e.get(tok, "d/big.bin"); !bytes.Equal(got, next) {
		t.Fatal("stored content differs")
	}
	evs := e.allChanges(tok).Events
	if last := evs[len(evs)-1]; last.Seq != m.Seq || last.Operation.Kind() != protocol.OpUpdate || last.Operation.Meta().Hash != m.Hash {
		t.Fatalf("event %+v", last)
	}
	// The server kept the new content's chunk list from the upload.
	var l protocol.ChunkList
	e.do(req{method: "GET", path: "/api/chunks/d/big.bin", token: tok}).json(t, &l)
	if l.Hash != m.Hash || l.Size != m.Size {
		t.Fatalf("chunks after delta: %+v", l)
	}
	// The same delta again: the base moved on.
	a = e.do(req{method: "POST", path: "/api/delta/d/big.bin", body: body, token: tok, hdr: deltaHeaders(base, next)})
	if a.status != 412 || a.code() != protocol.CodePreconditionFailed {
		t.Fatalf("stale base: %d %s", a.status, a.body)
	}
	// A body of unknown length streams (no prefetch), with the same result.
	next2 := edited(next)
	a = e.do(req{method: "POST", path: "/api/delta/d/big.bin", body: encodeDelta(t, next, next2), noLen: true, token: tok, hdr: deltaHeaders(next, next2)})
	if a.status != 200 || !bytes.Equal(e.get(tok, "d/big.bin"), next2) {
		t.Fatalf("chunked delta: %d %s", a.status, a.body)
	}
	// The hash as the stream's last op, no X-Content-SHA256, streamed.
	next3 := edited(next2)
	hdr3 := deltaHeaders(next2, next3)
	delete(hdr3, "X-Content-SHA256")
	a = e.do(req{method: "POST", path: "/api/delta/d/big.bin", body: withHash(encodeDelta(t, next2, next3), next3), noLen: true, token: tok, hdr: hdr3})
	if a.status != 200 || !bytes.Equal(e.get(tok, "d/big.bin"), next3) {
		t.Fatalf("delta with 'H': %d %s", a.status, a.body)
	}
	next = next3
	m.Seq += 2
	// A delta that rebuilds the same content changes nothing.
	same := encodeDelta(t, next, next)
	a = e.do(req{method: "POST", path: "/api/delta/d/big.bin", body: same, token: tok, hdr: deltaHeaders(next, next)})
	if a.status != 200 || e.allChanges(tok).Seq != m.Seq {
		t.Fatalf("no-op delta: %d %s", a.status, a.body)
	}
}

func hashOf(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// withHash puts an 'H' op with the hash of content before the final 'E' of ops.
func withHash(ops, content []byte) []byte {
	out := append(bytes.Clone(ops[:len(ops)-1]), delta.OpHash)
	return append(append(out, hashOf(content)...), delta.OpEnd)
}

// TestDeltaRouteAbortedStream: a client that gives up in the middle of a streamed
// delta (the literals grew past what a delta is worth) leaves the stored file, its
// metadata, the change log and the tenant's temp directory as they were.
func TestDeltaRouteAbortedStream(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	base := randomContent(7, 3<<20)
	e.put(tok, "d/big.bin", base)
	next := edited(base)
	ops := withHash(encodeDelta(t, base, next), next)
	for _, cut := range []int{1, 17, len(ops) / 2, len(ops) - 1} {
		before := e.state(tok, "d/big.bin")
		pr, pw := io.Pipe()
		go func() {
			pw.Write(ops[:cut])
			time.Sleep(20 * time.Millisecond) // the server is reading
			pw.CloseWithError(errors.New("client gave up"))
		}()
		hr, err := http.NewRequest("POST", e.base+"/api/delta/d/big.bin", pr)
		if err != nil {
			t.Fatal(err)
		}
		hr.Header.Set("Authorization", "Bearer "+tok)
		hr.Header.Set("If-Match", `"`+sum(base)+`"`)
		hr.Header.Set("Content-Type", delta.ContentType)
		if resp, err := e.client.Do(hr); err == nil {
			resp.Body.Close()
			t.Fatalf("cut at %d: answered %d", cut, resp.StatusCode)
		}
		// The server notices the broken body and discards the upload.
		deadline := time.Now().Add(5 * time.Second)
		for {
			after := e.state(tok, "d/big.bin")
			tmp, terr := os.ReadDir(filepath.Join(e.dir, "tenants", "acme", "tmp"))
			if terr != nil {
				t.Fatal(terr)
			}
			same := bytes.Equal(after.content, before.content) && after.meta == before.meta && after.head == before.head
			if same && len(tmp) == 0 {
				break
			}
			if !same || time.Now().After(deadline) {
				t.Fatalf("cut at %d: store changed (%v) or temp files left %v", cut, !same, tmp)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The same stream whole then commits.
	hdr := deltaHeaders(base, next)
	delete(hdr, "X-Content-SHA256")
	a := e.do(req{method: "POST", path: "/api/delta/d/big.bin", body: ops, noLen: true, token: tok, hdr: hdr})
	if a.status != 200 || !bytes.Equal(e.get(tok, "d/big.bin"), next) {
		t.Fatalf("whole stream: %d %s", a.status, a.body)
	}
}

func op(kind byte, fields ...uint64) []byte {
	b := []byte{kind}
	for _, f := range fields {
		b = binary.BigEndian.AppendUint64(b, f)
	}
	return b
}

// TestDeltaRouteAttacks: every refused delta answers its code and leaves the stored
// file, its metadata and the change log exactly as they were.
func TestDeltaRouteAttacks(t *testing.T) {
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{Quota: 8 << 20, MaxFileSize: 3 << 20}, "write")
	rd := e.token("acme", "reader", "read")
	base := randomContent(3, 2<<20)
	e.put(tok, "d/big.bin", base)
	e.put(tok, "d/other.bin", []byte("other"))
	e.put(tok, "fill1.bin", make([]byte, 2816<<10)) // 2.75 MiB twice: 7.5 MiB used of 8
	e.put(tok, "fill2.bin", make([]byte, 2816<<10))
	next := edited(base)
	good := encodeDelta(t, base, next)
	hdr := deltaHeaders(base, next)
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for k, v := range hdr {
			h[k] = v
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	copyAll := op(delta.OpCopy, 0, uint64(len(base)))
	grow := func(times int) []byte { // the base repeated: bigger than the limits
		var b []byte
		for range times {
			b = append(b, copyAll...)
		}
		return append(b, delta.OpEnd)
	}
	hugeD := binary.BigEndian.AppendUint32([]byte{delta.OpData}, 1<<31)
	goodH := withHash(good, next)
	noSum := with("X-Content-SHA256", "")
	for _, tc := range []struct {
		name   string
		path   string
		body   []byte
		hdr    map[string]string
		token  string
		status int
		code   protocol.Code
	}{
		{"no If-Match", "d/big.bin", good, with("If-Match", ""), tok, 428, protocol.CodePreconditionRequired},
		{"wrong base", "d/big.bin", good, with("If-Match", `"`+sum([]byte("x"))+`"`), tok, 412, protocol.CodePreconditionFailed},
		{"If-Match *", "d/big.bin", good, with("If-Match", "*"), tok, 400, protocol.CodeBadRequest},
		{"If-None-Match", "d/big.bin", good, with("If-None-Match", "*"), tok, 400, protocol.CodeBadRequest},
		{"bad If-Match", "d/big.bin", good, with("If-Match", "nope"), tok, 400, protocol.CodeBadRequest},
		{"no X-Content-SHA256", "d/big.bin", good, with("X-Content-SHA256", ""), tok, 400, protocol.CodeBadRequest},
		{"wrong X-Content-SHA256", "d/big.bin", good, with("X-Content-SHA256", sum([]byte("y"))), tok, 422, protocol.CodeDigestMismatch},
		{"H wrong", "d/big.bin", withHash(good, base), noSum, tok, 422, protocol.CodeDigestMismatch},
		{"H and header disagree", "d/big.bin", goodH, with("X-Content-SHA256", sum(base)), tok, 400, protocol.CodeBadDelta},
		{"H twice", "d/big.bin", withHash(goodH, next), noSum, tok, 400, protocol.CodeBadDelta},
		{"H not last", "d/big.bin", append(append([]byte{delta.OpHash}, hashOf(next)...), good...), noSum, tok, 400, protocol.CodeBadDelta},
		{"short H", "d/big.bin", append(bytes.Clone(good[:len(good)-1]), delta.OpHash, 1, 2, 3), noSum, tok, 400, protocol.CodeBadDelta},
		{"no Content-Type", "d/big.bin", good, with("Content-Type", ""), tok, 415, protocol.CodeUnsupportedMedia},
		{"wrong Content-Type", "d/big.bin", good, with("Content-Type", "application/octet-stream"), tok, 415, protocol.CodeUnsupportedMedia},
		{"gzip", "d/big.bin", good, with("Content-Encoding", "gzip"), tok, 415, protocol.CodeUnsupportedMedia},
		{"read role", "d/big.bin", good, hdr, rd, 403, protocol.CodeForbidden},
		{"no token", "d/big.bin", good, hdr, "", 401, protocol.CodeUnauthenticated},
		{"unknown op", "d/big.bin", []byte{'Z'}, hdr, tok, 400, protocol.CodeBadDelta},
		{"missing E", "d/big.bin", good[:len(good)-1], hdr, tok, 400, protocol.CodeBadDelta},
		{"trailing bytes", "d/big.bin", append(bytes.Clone(good), 'E'), hdr, tok, 400, protocol.CodeBadDelta},
		{"empty body", "d/big.bin", []byte{}, hdr, tok, 400, protocol.CodeBadDelta},
		{"range beyond base", "d/big.bin", append(op(delta.OpCopy, 1, uint64(len(base))), delta.OpEnd), hdr, tok, 400, protocol.CodeBadDelta},
		{"huge copy length", "d/big.bin", append(op(delta.OpCopy, 0, 1<<62), delta.OpEnd), hdr, tok, 400, protocol.CodeBadDelta},
		{"huge literal length", "d/big.bin", append(hugeD, 1, 2, 3), hdr, tok, 400, protocol.CodeBadDelta},
		{"truncated literal", "d/big.bin", append(binary.BigEndian.AppendUint32([]byte{delta.OpData}, 100), 1, 2, 3), hdr, tok, 400, protocol.CodeBadDelta},
		{"result over the quota", "d/big.bin", append(append(copyAll, op(delta.OpCopy, 0, 1<<20)...), delta.OpEnd) /* 3 MiB: fits max_file_size */, hdr, tok, 413, protocol.CodeQuotaExceeded},
		{"missing path", "d/nope.bin", good, hdr, tok, 412, protocol.CodePreconditionFailed},
		{"directory", "d", good, hdr, tok, 412, protocol.CodePreconditionFailed},
		{"dot dot", "d/../d/big.bin", good, hdr, tok, 400, protocol.CodeInvalidPath},
		{"encoded dot dot", "d/%2e%2e/d/big.bin", good, hdr, tok, 400, protocol.CodeInvalidPath},
		{"NUL", "d/big%00.bin", good, hdr, tok, 400, protocol.CodeInvalidPath},
		{"case twin", "d/BIG.bin", good, hdr, tok, 412, protocol.CodePreconditionFailed},
		{"other file's base", "d/other.bin", good, hdr, tok, 412, protocol.CodePreconditionFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.state(tok, "d/big.bin")
			a := e.do(req{method: "POST", path: "/api/delta/" + tc.path, body: tc.body, hdr: tc.hdr, token: tc.token})
			if a.status != tc.status || a.code() != tc.code {
				t.Fatalf("got %d %s: %s", a.status, a.code(), a.body)
			}
			after := e.state(tok, "d/big.bin")
			if !bytes.Equal(after.content, before.content) || after.meta != before.meta || after.head != before.head {
				t.Fatalf("a refused delta changed the store: %+v / head %d -> %+v / head %d", before.meta, before.head, after.meta, after.head)
			}
		})
	}
	// max_file_size on the result (another tenant: without a declared size the quota
	// above would be reached first).
	tok2 := e.tenant("limited", tenants.Options{MaxFileSize: 3 << 20}, "write")
	e.put(tok2, "d/big.bin", base)
	before := e.state(tok2, "d/big.bin")
	a := e.do(req{method: "POST", path: "/api/delta/d/big.bin", body: grow(2), hdr: hdr, token: tok2})
	if a.status != 413 || a.code() != protocol.CodeTooLarge {
		t.Fatalf("over max_file_size: %d %s", a.status, a.body)
	}
	if after := e.state(tok2, "d/big.bin"); after.meta != before.meta || after.head != before.head || !bytes.Equal(after.content, base) {
		t.Fatal("a refused delta changed the store")
	}
	// The quota still holds every byte: the refused uploads released what they
	// reserved (a fitting delta still succeeds).
	a = e.do(req{method: "POST", path: "/api/delta/d/big.bin", body: good, hdr: hdr, token: tok})
	if a.status != 200 {
		t.Fatalf("good delta after the attacks: %d %s", a.status, a.body)
	}
}

// TestDeltaTLS runs chunks + delta through syncd in TLS mode.
func TestDeltaTLS(t *testing.T) {
	files, pool := selfSigned(t)
	s := syncdtest.Start(t, syncdtest.Options{TLS: &files})
	e := &env{t: t, s: s, d: s.D, base: s.URL, dir: s.DataDir,
		client: &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	tok := e.tenant("acme", tenants.Options{}, "write")
	base := randomContent(4, 2<<20)
	e.put(tok, "big.bin", base)
	var l protocol.ChunkList
	e.do(req{method: "GET", path: "/api/chunks/big.bin", token: tok}).json(t, &l)
	if l.Hash != sum(base) || len(l.Chunks) < 2 {
		t.Fatalf("chunks over TLS: %+v", l)
	}
	next := edited(base)
	a := e.do(req{method: "POST", path: "/api/delta/big.bin", body: encodeDelta(t, base, next), token: tok, hdr: deltaHeaders(base, next)})
	if a.status != 200 || !bytes.Equal(e.get(tok, "big.bin"), next) {
		t.Fatalf("delta over TLS: %d %s", a.status, a.body)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and returns its files and
// a pool trusting it.
func selfSigned(t *testing.T) (syncdtest.TLSFiles, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := syncdtest.TLSFiles{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(f.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return f, pool
}

// TestDeltaBound: after a 1-byte change and after a 100-byte insertion in the middle
// of a 64 MiB file, the upload direction (chunk list down, op stream up) moves at
// most 1% of the file, lists, hashes and framing included.
func TestDeltaBound(t *testing.T) {
	if testing.Short() || raceOn {
		t.Skip("64 MiB through per-byte chunking: minutes under -race (TestDeltaRoute runs the same paths)")
	}
	e := startDaemon(t, nil)
	tok := e.tenant("acme", tenants.Options{}, "write")
	base := randomContent(5, 64<<20)
	mid := len(base) / 2
	flip := bytes.Clone(base)
	flip[mid] ^= 1
	insert := append(append(bytes.Clone(base[:mid]), randomContent(6, 100)...), base[mid:]...)
	for _, tc := range []struct {
		name string
		next []byte
	}{{"1-byte change", flip}, {"100-byte insertion", insert}} {
		t.Run(tc.name, func(t *testing.T) {
			e.put(tok, "big.bin", base)
			list := e.do(req{method: "GET", path: "/api/chunks/big.bin", token: tok})
			body := encodeDelta(t, base, tc.next)
			a := e.do(req{method: "POST", path: "/api/delta/big.bin", body: body, token: tok, hdr: deltaHeaders(base, tc.next)})
			if a.status != 200 {
				t.Fatalf("delta: %d %s", a.status, a.body)
			}
			moved := len(list.body) + len(body)
			t.Logf("chunk list %d B + op stream %d B = %.3f%% of %d MiB", len(list.body), len(body), 100*float64(moved)/float64(len(base)), len(base)>>20)
			if moved > len(base)/100 {
				t.Fatalf("%d bytes moved, over 1%% of %d", moved, len(base))
			}
		})
	}
}
