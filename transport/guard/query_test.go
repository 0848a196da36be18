package guard

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/syncspace/syncspace/sync/protocol"
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want url.Values
		bad  string // the parameter the error must name; "" = valid
	}{
		{"empty", "", url.Values{}, ""},
		{"one", "path=a", url.Values{"path": {"a"}}, ""},
		{"several", "path=a%2Fb&recursive=true", url.Values{"path": {"a/b"}, "recursive": {"true"}}, ""},
		{"repeated", "since=1&since=2", url.Values{"since": {"1", "2"}}, ""},
		{"plus is space", "path=a+b", url.Values{"path": {"a b"}}, ""},
		{"no value", "recursive", url.Values{"recursive": {""}}, ""},
		{"empty value", "path=", url.Values{"path": {""}}, ""},
		{"empty pairs", "a=1&&b=2&", url.Values{"a": {"1"}, "b": {"2"}}, ""},
		{"utf8", "path=%C3%A9t%C3%A9", url.Values{"path": {"été"}}, ""},
		{"equals in value", "path=a=b", url.Values{"path": {"a=b"}}, ""},

		// attacks: pairs that url.ParseQuery drops silently.
		{"attack: bad escape in value", "recursive=true&if_seq=1%zz", nil, "if_seq"},
		{"attack: bad escape only pair", "path=%zz", nil, "path"},
		{"attack: truncated escape", "path=a%2", nil, "path"},
		{"attack: lone percent", "path=%", nil, "path"},
		{"attack: bad escape in key", "if%zzseq=1", nil, "if%zzseq"},
		{"attack: semicolon separator", "a=1;if_seq=2", nil, "a"},
		{"attack: semicolon in key", "a;b=1", nil, "a;b"},
		{"attack: bad pair after good", "path=ok&limit=%G0", nil, "limit"},
		{"attack: bad pair before good", "since=%%&since=1", nil, "since"},
		{"attack: long bad key clipped", strings.Repeat("k", 500) + "%zz=1", nil, strings.Repeat("k", 64) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQuery(tt.raw)
			if tt.bad == "" {
				if err != nil {
					t.Fatalf("ParseQuery(%q): %v", tt.raw, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("ParseQuery(%q) = %v, want %v", tt.raw, got, tt.want)
				}
				// Behind the check, url.ParseQuery (what Echo's QueryParams uses) agrees.
				std, stdErr := url.ParseQuery(tt.raw)
				if stdErr != nil || !reflect.DeepEqual(std, got) {
					t.Fatalf("url.ParseQuery(%q) = %v, %v; strict %v", tt.raw, std, stdErr, got)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseQuery(%q) = %v, want an error naming %q", tt.raw, got, tt.bad)
			}
			if protocol.CodeOf(err) != protocol.CodeBadRequest {
				t.Fatalf("code %q", protocol.CodeOf(err))
			}
			if !strings.Contains(err.Error(), `"`+tt.bad+`"`) {
				t.Fatalf("error %q does not name %q", err, tt.bad)
			}
		})
	}
}

// FuzzParseQuery: never a panic; accepted input agrees with url.ParseQuery exactly, and
// input url.ParseQuery refuses is refused.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "a=1", "recursive=true&if_seq=1%zz", "a;b", "%", "a=%C3%A9&&b", "+=+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := ParseQuery(raw)
		std, stdErr := url.ParseQuery(raw)
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("ParseQuery(%q) err %v, url.ParseQuery err %v", raw, err, stdErr)
		}
		if err == nil && !reflect.DeepEqual(got, std) {
			t.Fatalf("ParseQuery(%q) = %v, url.ParseQuery %v", raw, got, std)
		}
		if err != nil && protocol.CodeOf(err) != protocol.CodeBadRequest {
			t.Fatalf("code %q", protocol.CodeOf(err))
		}
	})
}

func TestQueryMiddleware(t *testing.T) {
	e := echo.New()
	called := false
	h := Query(func(c echo.Context) error { called = true; return nil })
	for _, tt := range []struct {
		target string
		ok     bool
	}{
		{"/api/list?path=a", true},
		{"/api/list?path=%zz", false},
		{"/healthz?x=%", false},
		{"/ws?a=1;b=2", false},
	} {
		called = false
		req := httptest.NewRequest(http.MethodGet, "http://x"+tt.target, nil)
		c := e.NewContext(req, httptest.NewRecorder())
		err := h(c)
		if (err == nil) != tt.ok || called != tt.ok {
			t.Errorf("%s: err %v, handler called %v", tt.target, err, called)
		}
	}
}

// TestParam: one value, none, or a refusal of a repeated parameter (never one of its
// values picked silently); a query that does not decode is refused as by Values.
func TestParam(t *testing.T) {
	e := echo.New()
	for _, tt := range []struct {
		query, want string
		ok          bool
	}{
		{"tenant=acme", "acme", true},
		{"other=1", "", true},
		{"", "", true},
		{"tenant=", "", true},
		{"tenant=acme&tenant=bravo", "", false},
		{"tenant=acme&tenant=acme", "", false},
		{"tenant=%zz", "", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://x/admin/tokens?"+tt.query, nil)
		got, err := Param(e.NewContext(req, httptest.NewRecorder()), "tenant")
		if got != tt.want || (err == nil) != tt.ok || err != nil && protocol.CodeOf(err) != protocol.CodeBadRequest {
			t.Errorf("%q: %q, %v", tt.query, got, err)
		}
	}
}

// TestSingleAndBool: a parameter given twice is bad_request, never half read; Bool
// takes true/1 and false/0 (or empty) only.
func TestSingleAndBool(t *testing.T) {
	e := echo.New()
	for _, tt := range []struct {
		query     string
		single    string
		has, bool bool
		bad       bool
	}{
		{"", "", false, false, false},
		{"p=", "", true, false, false},
		{"p=true", "true", true, true, false},
		{"p=1", "1", true, true, false},
		{"p=0", "0", true, false, false},
		{"p=false&q=x", "false", true, false, false},
		// attacks
		{"p=true&p=false", "", false, false, true},
		{"p=false&p=true", "", false, false, true},
		{"p=%zz", "", false, false, true},
	} {
		c := e.NewContext(httptest.NewRequest("GET", "/x?"+tt.query, nil), httptest.NewRecorder())
		v, has, err := Single(c, "p")
		if (err != nil) != tt.bad || v != tt.single || has != tt.has {
			t.Errorf("Single(%q) = %q, %v, %v", tt.query, v, has, err)
		}
		if err != nil && protocol.CodeOf(err) != protocol.CodeBadRequest {
			t.Errorf("Single(%q) code %q", tt.query, protocol.CodeOf(err))
		}
		b, err := Bool(c, "p")
		if (err != nil) != tt.bad || b != tt.bool {
			t.Errorf("Bool(%q) = %v, %v", tt.query, b, err)
		}
	}
	c := e.NewContext(httptest.NewRequest("GET", "/x?p=yes", nil), httptest.NewRecorder())
	if _, err := Bool(c, "p"); protocol.CodeOf(err) != protocol.CodeBadRequest {
		t.Errorf("Bool(p=yes) err %v", err)
	}
}
