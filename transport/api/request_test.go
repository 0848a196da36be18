package api

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/syncspace/syncspace/sync/protocol"
)

const hashA = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

func TestParseUploadHeaders(t *testing.T) {
	tests := []struct {
		name string
		hdr  map[string][]string
		want uploadHeaders
		code protocol.Code // "" = ok
	}{
		{name: "none", hdr: nil},
		{name: "all", hdr: map[string][]string{
			"X-Content-Sha256": {strings.ToUpper(hashA)},
			"If-Match":         {`"` + hashA + `"`},
			"X-Sync-Client-Id": {"laptop-1.home_A"},
			"X-Modified":       {"2024-01-02T03:04:05.123+02:00"},
			"Content-Encoding": {"identity"},
		}, want: uploadHeaders{SHA256: hashA, IfMatch: hashA, ClientID: "laptop-1.home_A", Modified: time.Date(2024, 1, 2, 1, 4, 5, 123e6, time.UTC)}},
		{name: "if-match unquoted", hdr: map[string][]string{"If-Match": {hashA}}, want: uploadHeaders{IfMatch: hashA}},
		{name: "if-match star", hdr: map[string][]string{"If-Match": {"*"}}, want: uploadHeaders{IfMatchAny: true}},
		{name: "if-none-match star", hdr: map[string][]string{"If-None-Match": {" * "}}, want: uploadHeaders{IfNoneMatch: true}},

		// attacks
		{name: "attack: short digest", hdr: map[string][]string{"X-Content-Sha256": {"abc"}}, code: protocol.CodeBadRequest},
		{name: "attack: digest non-hex", hdr: map[string][]string{"X-Content-Sha256": {strings.Repeat("g", 64)}}, code: protocol.CodeBadRequest},
		{name: "attack: two digests", hdr: map[string][]string{"X-Content-Sha256": {hashA, hashA}}, code: protocol.CodeBadRequest},
		{name: "attack: weak etag never matches", hdr: map[string][]string{"If-Match": {`W/"` + hashA + `"`}}, want: uploadHeaders{IfMatch: noMatchETag}},
		{name: "attack: quoted non-hash etag never matches", hdr: map[string][]string{"If-Match": {`"v1"`}}, want: uploadHeaders{IfMatch: noMatchETag}},
		{name: "attack: weak unquoted etag", hdr: map[string][]string{"If-Match": {`W/abc`}}, code: protocol.CodeBadRequest},
		{name: "attack: half-quoted etag", hdr: map[string][]string{"If-Match": {`"` + hashA}}, code: protocol.CodeBadRequest},
		{name: "attack: lone quote", hdr: map[string][]string{"If-Match": {`"`}}, code: protocol.CodeBadRequest},
		{name: "attack: etag list", hdr: map[string][]string{"If-Match": {`"` + hashA + `", "` + hashA + `"`}}, code: protocol.CodeBadRequest},
		{name: "attack: if-none-match tag", hdr: map[string][]string{"If-None-Match": {`"` + hashA + `"`}}, code: protocol.CodeBadRequest},
		{name: "attack: client id space", hdr: map[string][]string{"X-Sync-Client-Id": {"a b"}}, code: protocol.CodeBadRequest},
		{name: "attack: client id empty", hdr: map[string][]string{"X-Sync-Client-Id": {""}}, code: protocol.CodeBadRequest},
		{name: "attack: client id newline", hdr: map[string][]string{"X-Sync-Client-Id": {"a\nb"}}, code: protocol.CodeBadRequest},
		{name: "attack: client id unicode", hdr: map[string][]string{"X-Sync-Client-Id": {"ä"}}, code: protocol.CodeBadRequest},
		{name: "attack: client id 65", hdr: map[string][]string{"X-Sync-Client-Id": {strings.Repeat("a", 65)}}, code: protocol.CodeBadRequest},
		{name: "attack: modified not rfc3339", hdr: map[string][]string{"X-Modified": {"Mon, 02 Jan 2006 15:04:05 GMT"}}, code: protocol.CodeBadRequest},
		{name: "attack: modified year 0", hdr: map[string][]string{"X-Modified": {"0000-01-01T00:00:00Z"}}, code: protocol.CodeBadRequest},
		{name: "modified at the epoch", hdr: map[string][]string{"X-Modified": {"1970-01-01T00:00:00Z"}}, want: uploadHeaders{Modified: time.Unix(0, 0)}},
		{name: "modified at the last nanosecond", hdr: map[string][]string{"X-Modified": {"2262-04-11T23:47:16.854775807Z"}}, want: uploadHeaders{Modified: time.Unix(0, 1<<63-1)}},
		{name: "attack: modified year 9999 (once stored as 1901)", hdr: map[string][]string{"X-Modified": {"9999-12-31T23:59:59Z"}}, code: protocol.CodeBadRequest},
		{name: "attack: modified one second before the epoch", hdr: map[string][]string{"X-Modified": {"1969-12-31T23:59:59Z"}}, code: protocol.CodeBadRequest},
		{name: "attack: modified before the epoch by its offset", hdr: map[string][]string{"X-Modified": {"1970-01-01T01:00:00+02:00"}}, code: protocol.CodeBadRequest},
		{name: "attack: modified one nanosecond past 2262", hdr: map[string][]string{"X-Modified": {"2262-04-11T23:47:16.854775808Z"}}, code: protocol.CodeBadRequest},
		{name: "attack: modified 2262-04-12", hdr: map[string][]string{"X-Modified": {"2262-04-12T00:00:00Z"}}, code: protocol.CodeBadRequest},
		{name: "attack: gzip", hdr: map[string][]string{"Content-Encoding": {"gzip"}}, code: protocol.CodeUnsupportedMedia},
		{name: "attack: identity then br", hdr: map[string][]string{"Content-Encoding": {"identity, br"}}, code: protocol.CodeUnsupportedMedia},
		{name: "attack: second encoding header", hdr: map[string][]string{"Content-Encoding": {"identity", "deflate"}}, code: protocol.CodeUnsupportedMedia},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUploadHeaders(http.Header(tt.hdr))
			if tt.code != "" {
				if protocol.CodeOf(err) != tt.code {
					t.Fatalf("err %v, want code %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.SHA256 != tt.want.SHA256 || got.IfMatch != tt.want.IfMatch || got.IfMatchAny != tt.want.IfMatchAny ||
				got.IfNoneMatch != tt.want.IfNoneMatch || got.ClientID != tt.want.ClientID || !got.Modified.Equal(tt.want.Modified) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFilePath(t *testing.T) {
	tests := []struct {
		target string // request target as sent
		want   string
		bad    bool
	}{
		{target: "/api/files/a/b.txt", want: "a/b.txt"},
		{target: "/api/files/a%20b", want: "a b"},
		{target: "/api/files/%252e%252e", want: "%2e%2e"},
		{target: "/api/files/x%25", want: "x%"},
		{target: "/api/files/e%CC%81", want: "\u00e9"},
		// attacks
		{target: "/api/files/", bad: true},
		{target: "/api/files/%2e%2e", bad: true},
		{target: "/api/files/%2E%2e/x", bad: true},
		{target: "/api/files/a/../b", bad: true},
		{target: "/api/files/a%2f%2e%2e%2fb", bad: true},
		{target: "/api/files/a%5cb", bad: true},
		{target: "/api/files/a%00", bad: true},
		{target: "/api/files/%c0%ae%c0%ae", bad: true},
		{target: "/api/files//abs", bad: true},
		{target: "/api/files/AUX", bad: true},
		{target: "/api/files/.syncspace", bad: true},
		{target: "/api/filesX/a", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			got, err := filePath(r)
			if tt.bad {
				if protocol.CodeOf(err) != protocol.CodeInvalidPath {
					t.Fatalf("got %q, %v; want invalid_path", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestUnmarshalStrict(t *testing.T) {
	var b moveBody
	if err := unmarshalStrict([]byte(` {"from":"a","to":"b","if_match":"x"} `), &b); err != nil || b.From == nil || *b.From != "a" || b.To == nil || *b.To != "b" {
		t.Fatalf("%+v %v", b, err)
	}
	for _, in := range []string{``, `{`, `[]`, `"s"`, `{"from":1}`, `{"x":1}`, `{} {}`, `{}x`, `{"from":"a"}]`} {
		var b moveBody
		if err := unmarshalStrict([]byte(in), &b); protocol.CodeOf(err) != protocol.CodeBadRequest {
			t.Errorf("%q: err %v, want bad_request", in, err)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	for in, want := range map[string]string{
		"a.txt":         `attachment; filename="a.txt"; filename*=UTF-8''a.txt`,
		"é \"q\";x.pdf": `attachment; filename="__ _q__x.pdf"; filename*=UTF-8''%C3%A9%20%22q%22%3Bx.pdf`,
	} {
		if got := contentDisposition(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func FuzzParseUploadHeaders(f *testing.F) {
	f.Add(hashA, `"`+hashA+`"`, "*", "client-1", "2024-01-02T03:04:05Z", "identity")
	f.Add("", "*", "", "", "", "")
	f.Add("zz", `W/"x"`, `"a"`, "a b", "yesterday", "gzip")
	f.Fuzz(func(t *testing.T, sha, ifMatch, ifNone, client, modified, enc string) {
		h := http.Header{}
		for k, v := range map[string]string{"X-Content-Sha256": sha, "If-Match": ifMatch, "If-None-Match": ifNone,
			"X-Sync-Client-Id": client, "X-Modified": modified, "Content-Encoding": enc} {
			if v != "" {
				h.Set(k, v)
			}
		}
		u, err := parseUploadHeaders(h)
		if err != nil {
			var code = protocol.CodeOf(err)
			if code != protocol.CodeBadRequest && code != protocol.CodeUnsupportedMedia {
				t.Fatalf("code %s", code)
			}
			return
		}
		if u.SHA256 != "" && len(u.SHA256) != 64 || u.IfMatch != "" && len(u.IfMatch) != 64 {
			t.Fatalf("accepted malformed hash %+v", u)
		}
		if u.ClientID != "" && !clientIDPattern.MatchString(u.ClientID) {
			t.Fatalf("accepted client id %q", u.ClientID)
		}
	})
}

func FuzzFilePath(f *testing.F) {
	for _, s := range []string{"a/b", "%2e%2e", "a%2f..", "%252e", "a%00", "CON", "e%CC%81", "%ff", ".syncspace/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		r, err := http.NewRequest("GET", "http://h/api/files/"+rest, nil)
		if err != nil {
			return
		}
		p, err := filePath(r)
		if err != nil {
			if protocol.CodeOf(err) != protocol.CodeInvalidPath {
				t.Fatalf("code %s", protocol.CodeOf(err))
			}
			return
		}
		if !utf8.ValidString(p) || p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
			t.Fatalf("accepted %q", p)
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("accepted %q", p)
			}
		}
	})
}

func FuzzUnmarshalStrict(f *testing.F) {
	f.Add([]byte(`{"from":"a","to":"b","if_match":"x"}`))
	f.Add([]byte(`{"from":"a"} x`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var b moveBody
		if err := unmarshalStrict(data, &b); err != nil && protocol.CodeOf(err) != protocol.CodeBadRequest {
			t.Fatalf("code %s", protocol.CodeOf(err))
		}
	})
}

// TestValidClientID holds the written-out check to protocol.ClientIDPatternString:
// every byte alone and around valid ones, the length bounds, a trailing newline,
// UTF-8, and random strings agree with the regular expression.
func TestValidClientID(t *testing.T) {
	cases := []string{"", "a", strings.Repeat("a", 64), strings.Repeat("a", 65), "abc\n", "\nabc", "a b", "é", "a.b_c-D9", "syncbench"}
	for b := 0; b < 256; b++ {
		cases = append(cases, string([]byte{byte(b)}), "ab"+string([]byte{byte(b)})+"cd", string([]byte{byte(b)})+strings.Repeat("x", 63))
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	alphabet := "aZ09._-/+ \x00\xff"
	for i := 0; i < 5000; i++ {
		n := rnd.IntN(70)
		s := make([]byte, n)
		for j := range s {
			s[j] = alphabet[rnd.IntN(len(alphabet))]
		}
		cases = append(cases, string(s))
	}
	for _, c := range cases {
		if got, want := validClientID(c), clientIDPattern.MatchString(c); got != want {
			t.Fatalf("validClientID(%q) = %v, the pattern says %v", c, got, want)
		}
	}
}

// TestSingleKeysCanonical: single looks its key up directly, so every key it is given
// must be canonical.
func TestSingleKeysCanonical(t *testing.T) {
	for _, k := range []string{"X-Content-Sha256", "If-Match", "If-None-Match", "X-Modified", "X-Sync-Client-Id", "Content-Type"} {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Fatalf("%q is not canonical (%q)", k, c)
		}
	}
	h := http.Header{}
	h.Set("x-sync-client-id", "abc")
	if v, ok, err := single(h, "X-Sync-Client-Id"); err != nil || !ok || v != "abc" {
		t.Fatalf("single: %q %v %v", v, ok, err)
	}
}
