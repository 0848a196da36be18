package syncclient

import (
	"archive/tar"
	"bufio"
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/sync/engine"
	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// safePath is the invariant every accepted path must hold: local, no state dir, NFC.
func safePath(t *testing.T, p string) {
	t.Helper()
	if !filepath.IsLocal(p) || strings.Contains(p, `\`) || strings.HasPrefix(p, "/") {
		t.Fatalf("accepted path %q escapes DIR", p)
	}
	for _, s := range strings.Split(p, "/") {
		if strings.EqualFold(s, ".syncspace") || s == "" || s == "." || s == ".." {
			t.Fatalf("accepted path %q has a forbidden segment", p)
		}
	}
	if c, err := pathrule.Clean(p); err != nil || c != p {
		t.Fatalf("accepted path %q is not clean", p)
	}
}

// FuzzServerFrame feeds arbitrary frames through the client's handling of server
// messages: decoding (batched or not) and the engine's event checks.
func FuzzServerFrame(f *testing.F) {
	h := strings.Repeat("a", 64)
	f.Add([]byte(`{"type":"FileOperation","seq":1,"operation":{"Create":{"metadata":{"path":"a.txt","size":1,"hash":"` + h + `"}}}}`))
	f.Add([]byte(`{"type":"Ack","operation_id":"subscribe","seq":3,"epoch":"e"}` + "\n" + `{"type":"FileOperation","seq":4,"operation":{"Delete":{"metadata":{"path":"d","is_directory":true}}}}`))
	f.Add([]byte(`{"type":"FileOperation","seq":2,"operation":{"Move":{"from":"a","metadata":{"path":"../b","hash":"` + h + `"}}}}`))
	f.Add([]byte(`{"type":"FileOperation","seq":2,"operation":{"Update":{"metadata":{"path":".syncspace/state.json","hash":"` + h + `"}}}}`))
	f.Add([]byte(`{"type":"ResyncRequired","seq":9,"epoch":"x"}`))
	f.Add([]byte("\n\n{\"type\":\"Pong\"}\n"))
	f.Add([]byte(`{"type":`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, _ := DecodeFrame(data)
		if len(msgs) > bytes.Count(data, []byte("\n"))+1 {
			t.Fatalf("%d messages from %d lines", len(msgs), bytes.Count(data, []byte("\n"))+1)
		}
		for _, m := range msgs {
			if m.Type == "" {
				t.Fatal("message without type accepted")
			}
			ev, ok := EventOf(m)
			if !ok {
				continue
			}
			if err := engine.CheckEvent(ev); err != nil {
				if protocol.CodeOf(err) == protocol.CodeInternal {
					t.Fatalf("check error without a code: %v", err)
				}
				continue
			}
			safePath(t, ev.Operation.Meta().Path)
			if ev.Operation.Move != nil {
				safePath(t, ev.Operation.Move.From)
			}
		}
	})
}

// FuzzDecodeList feeds arbitrary /api/list bodies to the streaming decoder: it must
// never panic, and head comes before any entry.
func FuzzDecodeList(f *testing.F) {
	f.Add([]byte(`{"epoch":"e","seq":2,"entries":[{"path":"a","hash":"","is_directory":true},{"path":"a/b","size":1}]}`))
	f.Add([]byte(`{"entries":[{"path":"x"}],"seq":1,"epoch":"e"}`))
	f.Add([]byte(`{"epoch":"e","seq":0,"entries":null}`))
	f.Add([]byte(`{"seq":"x"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		headSeen := false
		_ = DecodeList(bytes.NewReader(data), func(string, int64) error {
			if headSeen {
				t.Fatal("head called twice")
			}
			headSeen = true
			return nil
		}, func(protocol.Metadata) error {
			if !headSeen {
				t.Fatal("entry before head")
			}
			return nil
		})
	})
}

// FuzzDecodeError feeds arbitrary error bodies and statuses: the result always has a
// code, and nothing panics.
func FuzzDecodeError(f *testing.F) {
	f.Add(404, []byte(`{"error":{"code":"not_found","message":"x"}}`))
	f.Add(500, []byte(`<html>`))
	f.Add(302, []byte(``))
	f.Add(412, []byte(`{"error":{"code":""}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		resp := &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewReader(body))}
		if e := DecodeError(resp); e == nil || e.Code == "" {
			t.Fatalf("no code for %d %q", status, body)
		}
	})
}

// FuzzDecodeArchive feeds arbitrary bytes through the client's reading of a
// /api/archive answer: every entry it accepts is a clean path under the requested
// directory with a valid hash and seq, and reading never panics or hangs. The input is
// the stream with its zero runs written short (zeroRuns, as FuzzTarStream's).
func FuzzDecodeArchive(f *testing.F) {
	entry := func(name string, typ byte, body string, pax map[string]string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(&tar.Header{Typeflag: typ, Name: name, Size: int64(len(body)), Mode: 0o644, Format: tar.FormatPAX, PAXRecords: pax})
		_, _ = tw.Write([]byte(body))
		_ = tw.Close()
		return zeroRunsOf(buf.Bytes())
	}
	good := map[string]string{paxHash: strings.Repeat("ab", 32), paxSeq: "7"}
	f.Add(entry("docs/a.txt", tar.TypeReg, "hello", good), "docs")
	f.Add(entry("a.txt", tar.TypeReg, "hello", good), "")
	f.Add(entry("../x", tar.TypeReg, "evil", good), "")
	f.Add(entry("docs/../../x", tar.TypeReg, "evil", good), "docs")
	f.Add(entry("/etc/passwd", tar.TypeReg, "evil", good), "")
	f.Add(entry("other/a.txt", tar.TypeReg, "x", good), "docs")
	f.Add(entry(".syncspace/state.json", tar.TypeReg, "{}", good), "")
	f.Add(entry("docs", tar.TypeSymlink, "", good), "")
	f.Add(entry("a.txt", tar.TypeReg, "x", map[string]string{paxHash: "zz", paxSeq: "-1"}), "")
	f.Add(entry("Cafe\u0301.txt", tar.TypeReg, "nfd", good), "")
	f.Add([]byte("not a tar at all"), "")
	f.Add(entry("a.txt", tar.TypeReg, "hello", good)[:100], "")
	br, buf := bufio.NewReaderSize(nil, 64<<10), make([]byte, 4<<10) // reused: cheaper execs
	f.Fuzz(func(t *testing.T, in []byte, dir string) {
		d, err := pathrule.CleanDir(dir)
		if err != nil {
			return
		}
		data, ok := zeroRuns(in, 1<<20)
		if !ok {
			return
		}
		br.Reset(bytes.NewReader(data))
		ar := DecodeArchive(br, d)
		for i := 0; ; i++ {
			m, r, err := ar.Next()
			if err != nil {
				if err != io.EOF && protocol.CodeOf(err) == "" {
					t.Fatalf("error without a code: %v", err)
				}
				return
			}
			safePath(t, m.Path)
			if m.Path == d || !pathrule.Within(m.Path, d) {
				t.Fatalf("entry %q outside %q", m.Path, d)
			}
			if engine.CheckMeta(m) != nil || m.Seq < 0 {
				t.Fatalf("bad entry accepted: %+v", m)
			}
			n, _ := io.CopyBuffer(io.Discard, r, buf)
			if n > m.Size {
				t.Fatalf("entry %q gave %d bytes, size %d", m.Path, n, m.Size)
			}
		}
	})
}
