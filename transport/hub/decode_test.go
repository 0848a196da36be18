package hub

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/syncspace/syncspace/sync/protocol"
)

func TestDecodeClientMessage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		ok     bool
		typ    string
		opID   string // expected operation_id, also on errors
		detail string // substring of the error message
	}{
		{"auth", `{"type":"Auth","token":"a.b.c"}`, true, "Auth", "", ""},
		{"refresh", `{"type":"Refresh","token":"a.b.c"}`, true, "Refresh", "", ""},
		{"subscribe", `{"type":"Subscribe","client_id":"uuid-1.x_y"}`, true, "Subscribe", "", ""},
		{"subscribe since", `{"type":"Subscribe","client_id":"c","since":0,"epoch":"e","batch":true}`, true, "Subscribe", "", ""},
		{"ping", `{"type":"Ping"}`, true, "Ping", "", ""},
		{"unknown fields ignored", `{"type":"Ping","timestamp":123}`, true, "Ping", "", ""},
		{"delete", `{"type":"FileOperation","operation":{"Delete":{"metadata":{"path":"a"}}},"operation_id":"op-7"}`, true, "FileOperation", "op-7", ""},
		{"move", `{"type":"FileOperation","operation":{"Move":{"from":"a","metadata":{"path":"b"}}}}`, true, "FileOperation", "", ""},

		// attacks and missing fields
		{"empty", ``, false, "", "", "malformed"},
		{"not json", `hello`, false, "", "", "malformed"},
		{"trailing data", `{"type":"Ping"} {"type":"Ping"}`, false, "", "", "malformed"},
		{"array", `[{"type":"Ping"}]`, false, "", "", "malformed"},
		{"null", `null`, false, "", "", "missing field type"},
		{"no type", `{}`, false, "", "", "missing field type"},
		{"type not string", `{"type":1}`, false, "", "", "malformed"},
		{"unknown type", `{"type":"Ack","operation_id":"o"}`, false, "Ack", "o", "unknown"},
		{"server type", `{"type":"ResyncRequired"}`, false, "", "", "unknown"},
		{"case differs", `{"type":"ping"}`, false, "", "", "unknown"},
		{"auth without token", `{"type":"Auth"}`, false, "", "", "token"},
		{"token too large", `{"type":"Auth","token":"` + strings.Repeat("a", protocol.MaxTokenBytes+1) + `"}`, false, "", "", "too large"},
		{"subscribe without client_id", `{"type":"Subscribe"}`, false, "", "", "client_id"},
		{"client_id bad chars", `{"type":"Subscribe","client_id":"a/b"}`, false, "", "", "client_id"},
		{"client_id too long", `{"type":"Subscribe","client_id":"` + strings.Repeat("a", 65) + `"}`, false, "", "", "client_id"},
		{"client_id newline", `{"type":"Subscribe","client_id":"a\nb"}`, false, "", "", "client_id"},
		{"negative since", `{"type":"Subscribe","client_id":"a","since":-1}`, false, "", "", "since"},
		{"since not a number", `{"type":"Subscribe","client_id":"a","since":"1"}`, false, "", "", "malformed"},
		{"since overflow", `{"type":"Subscribe","client_id":"a","since":1e30}`, false, "", "", "malformed"},
		{"operation missing", `{"type":"FileOperation","operation_id":"x"}`, false, "", "x", "operation"},
		{"operation empty", `{"type":"FileOperation","operation":{}}`, false, "", "", "exactly one"},
		{"two operations", `{"type":"FileOperation","operation":{"Delete":{"metadata":{"path":"a"}},"Update":{"metadata":{"path":"a"}}}}`, false, "", "", "exactly one"},
		{"operation null", `{"type":"FileOperation","operation":{"Delete":null}}`, false, "", "", "exactly one"},
		{"no path", `{"type":"FileOperation","operation":{"Create":{"metadata":{}}}}`, false, "", "", "path"},
		{"move no from", `{"type":"FileOperation","operation":{"Move":{"metadata":{"path":"b"}}}}`, false, "", "", "from"},
		{"operation_id kept on bad JSON", `{"operation_id":"keep","type":3}`, false, "", "keep", "malformed"},
		{"operation_id huge", `{"type":"Ping","operation_id":"` + strings.Repeat("x", 300) + `"}`, false, "", "", "operation_id"},
		{"deep nesting", `{"type":"Ping","x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, false, "", "", "malformed"},
		{"invalid utf8", "{\"type\":\"Subscribe\",\"client_id\":\"\xff\"}", false, "", "", "client_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeClientMessage([]byte(tc.in))
			if tc.ok != (err == nil) {
				t.Fatalf("ok=%v, err=%v", tc.ok, err)
			}
			if m.OperationID != tc.opID {
				t.Fatalf("operation_id %q, want %q", m.OperationID, tc.opID)
			}
			if err != nil {
				var pe *protocol.Error
				if !errors.As(err, &pe) || pe.Code != protocol.CodeBadRequest {
					t.Fatalf("want *protocol.Error bad_request, got %#v", err)
				}
				if !strings.Contains(pe.Message, tc.detail) {
					t.Fatalf("message %q lacks %q", pe.Message, tc.detail)
				}
				if strings.Contains(pe.Message, "aaaa") {
					t.Fatal("error echoes the token")
				}
				return
			}
			if m.Type != tc.typ {
				t.Fatalf("type %q", m.Type)
			}
		})
	}
}

func FuzzDecodeClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"Auth","token":"a.b.c"}`,
		`{"type":"Subscribe","client_id":"c1","since":5,"epoch":"e","batch":true}`,
		`{"type":"FileOperation","operation":{"Move":{"from":"a","metadata":{"path":"b","hash":"h","is_directory":false}}},"operation_id":"op"}`,
		`{"type":"FileOperation","operation":{"Delete":{"metadata":{"path":"a"}}}}`,
		`{"type":"Ping"}`, `{"type":"Refresh","token":"x"}`, `{`, `null`, `[]`, `{"type":"Subscribe","since":-1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeClientMessage(data)
		if len(m.OperationID) > maxOperationID {
			t.Fatalf("operation_id of %d bytes kept", len(m.OperationID))
		}
		if err != nil {
			if protocol.CodeOf(err) != protocol.CodeBadRequest {
				t.Fatalf("code %s", protocol.CodeOf(err))
			}
			// The Error frame built from it must encode.
			if !json.Valid(encodeError(protocol.CodeOf(err), err.(*protocol.Error).Message, m.OperationID)) {
				t.Fatal("error frame is not JSON")
			}
			return
		}
		switch m.Type {
		case protocol.TypeAuth, protocol.TypeRefresh:
			if m.Token == "" || len(m.Token) > protocol.MaxTokenBytes {
				t.Fatal("bad token accepted")
			}
		case protocol.TypeSubscribe:
			if !clientIDPattern.MatchString(m.ClientID) || !utf8.ValidString(m.ClientID) {
				t.Fatalf("client_id %q accepted", m.ClientID)
			}
			if m.Since != nil && *m.Since < 0 {
				t.Fatal("negative since accepted")
			}
		case protocol.TypeFileOperation:
			if m.Operation == nil || m.Operation.Kind() == "" || m.Operation.Meta().Path == "" {
				t.Fatal("incomplete operation accepted")
			}
			if m.Operation.Move != nil && m.Operation.Move.From == "" {
				t.Fatal("move without from accepted")
			}
		case protocol.TypePing:
		default:
			t.Fatalf("type %q accepted", m.Type)
		}
	})
}
