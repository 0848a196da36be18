package api_test

import (
	"testing"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// TestDeleteIfSeqZero: `?if_seq=0` is a precondition like any other N (SPEC §3: 412 if
// anything under the path changed after N), not its absence. Before, 0 read as "no
// if_seq" and `DELETE /api/files/dir?recursive=true&if_seq=0` deleted a directory
// whose every file changed after seq 0, where `if_seq=1` was refused; an empty
// `if_seq=` was dropped the same way.
func TestDeleteIfSeqZero(t *testing.T) {
	e := startDaemon(t, nil)
	W := e.tenant("acme", tenants.Options{}, "write")
	e.put(W, "dir/a.txt", []byte("a"))
	last := e.put(W, "dir/sub/b.txt", []byte("b"))
	e.put(W, "f.txt", []byte("f"))

	cases := []struct {
		name, path string
		status     int
		code       protocol.Code
	}{
		// attacks: a precondition that must not vanish.
		{"attack: directory, if_seq=0", "/api/files/dir?recursive=true&if_seq=0", 412, protocol.CodePreconditionFailed},
		{"attack: directory, if_seq=00", "/api/files/dir?recursive=true&if_seq=00", 412, protocol.CodePreconditionFailed},
		{"attack: file, if_seq=0", "/api/files/f.txt?if_seq=0", 412, protocol.CodePreconditionFailed},
		{"attack: directory, empty if_seq", "/api/files/dir?recursive=true&if_seq=", 400, protocol.CodeBadRequest},
		{"attack: directory, stale if_seq", "/api/files/dir?recursive=true&if_seq=1", 412, protocol.CodePreconditionFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := e.do(req{method: "DELETE", path: c.path, token: W})
			if a.status != c.status || a.code() != c.code {
				t.Fatalf("DELETE %s: %d %s, want %d %s", c.path, a.status, a.body, c.status, c.code)
			}
		})
	}
	if got := e.get(W, "dir/sub/b.txt"); string(got) != "b" {
		t.Fatalf("dir/sub/b.txt after refused deletes: %q", got)
	}
	if got := e.get(W, "f.txt"); string(got) != "f" {
		t.Fatalf("f.txt after refused deletes: %q", got)
	}
	// The precondition still passes when nothing changed after N.
	if a := e.do(req{method: "DELETE", path: "/api/files/dir?recursive=true&if_seq=" + itoa(last.Seq), token: W}); a.status != 200 {
		t.Fatalf("DELETE dir with current if_seq: %d %s", a.status, a.body)
	}
}

// TestChangesEmptyEpoch: an explicit empty epoch= on /api/changes is 400, not "no
// epoch" (a script's unset variable would otherwise read another epoch's history with
// a seq of the one it knew, where any other wrong epoch is 410); absent still means
// no check.
func TestChangesEmptyEpoch(t *testing.T) {
	e := startDaemon(t, nil)
	W := e.tenant("acme", tenants.Options{}, "write")
	e.put(W, "a.txt", []byte("a"))
	for _, c := range []struct {
		query  string
		status int
		code   protocol.Code
	}{
		{"since=0", 200, ""},
		{"since=0&epoch=" + e.allChanges(W).Epoch, 200, ""},
		// attacks
		{"since=0&epoch=", 400, protocol.CodeBadRequest},
		{"since=1&epoch", 400, protocol.CodeBadRequest},
		{"since=0&epoch=nope", 410, protocol.CodeResyncRequired},
	} {
		a := e.do(req{method: "GET", path: "/api/changes?" + c.query, token: W})
		if a.status != c.status || (c.code != "" && a.code() != c.code) {
			t.Errorf("GET /api/changes?%s: %d %s, want %d %s", c.query, a.status, a.body, c.status, c.code)
		}
	}
}

// TestDeleteIfMatchStar: `If-Match: *` on a DELETE is the RFC 9110 "any current
// representation", as on a PUT: the file is deleted, a missing path stays 404 (the
// answer without the precondition). It was 400 bad_request (review).
func TestDeleteIfMatchStar(t *testing.T) {
	e := startDaemon(t, nil)
	W := e.tenant("acme", tenants.Options{}, "write")
	e.put(W, "f.txt", []byte("f"))
	e.put(W, "dir/a.txt", []byte("a"))
	star := map[string]string{"If-Match": "*"}
	if a := e.do(req{method: "DELETE", path: "/api/files/f.txt", token: W, hdr: star}); a.status != 200 {
		t.Fatalf("DELETE If-Match * of a file: %d %s", a.status, a.body)
	}
	if a := e.do(req{method: "GET", path: "/api/files/f.txt", token: W}); a.status != 404 {
		t.Fatalf("file still there after DELETE If-Match *: %d", a.status)
	}
	if a := e.do(req{method: "DELETE", path: "/api/files/f.txt", token: W, hdr: star}); a.status != 404 || a.code() != protocol.CodeNotFound {
		t.Fatalf("DELETE If-Match * of a missing path: %d %s", a.status, a.body)
	}
	if a := e.do(req{method: "DELETE", path: "/api/files/dir?recursive=true", token: W, hdr: star}); a.status != 200 {
		t.Fatalf("DELETE If-Match * of a directory: %d %s", a.status, a.body)
	}
	if a := e.do(req{method: "DELETE", path: "/api/files/x", token: W, hdr: map[string]string{"If-Match": "**"}}); a.status != 400 {
		t.Fatalf("DELETE If-Match **: %d %s", a.status, a.body)
	}
}
