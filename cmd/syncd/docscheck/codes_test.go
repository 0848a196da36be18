package docscheck

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/transport/httperr"
)

// pkgSource returns the non-test Go source of the package directory rel, joined.
func pkgSource(t *testing.T, rel string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), filepath.FromSlash(rel), "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no Go files (%v)", rel, err)
	}
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}

// TestErrorCodesDocumented: every error code of sync/protocol has a row of
// docs/API.md's error table with the status transport/httperr maps it to
// ("| `code` | 404 |"), so a code added or remapped without docs fails here.
func TestErrorCodesDocumented(t *testing.T) {
	doc := readDoc(t, "docs/API.md")
	src := pkgSource(t, "sync/protocol")
	consts := regexp.MustCompile(`(?m)^\s*Code\w+\s+Code = "([a-z_]+)"`).FindAllStringSubmatch(src, -1)
	if len(consts) < 15 {
		t.Fatalf("only %d error codes found in sync/protocol; the pattern is broken", len(consts))
	}
	for _, m := range consts {
		code := protocol.Code(m[1])
		row := "| `" + m[1] + "` | " + strconv.Itoa(httperr.Status(code)) + " |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/API.md's error table lacks the row %q", row)
		}
	}
}

// closeCodes maps the close-code constants syncd's hub may name to their values. A
// constant the hub starts to use that is missing here fails the test below: add it.
var closeCodes = map[string]int{
	"websocket.CloseNormalClosure":           websocket.CloseNormalClosure,
	"websocket.CloseGoingAway":               websocket.CloseGoingAway,
	"websocket.CloseProtocolError":           websocket.CloseProtocolError,
	"websocket.CloseUnsupportedData":         websocket.CloseUnsupportedData,
	"websocket.CloseInvalidFramePayloadData": websocket.CloseInvalidFramePayloadData,
	"websocket.ClosePolicyViolation":         websocket.ClosePolicyViolation,
	"websocket.CloseMessageTooBig":           websocket.CloseMessageTooBig,
	"websocket.CloseInternalServerErr":       websocket.CloseInternalServerErr,
	"websocket.CloseServiceRestart":          websocket.CloseServiceRestart,
	"websocket.CloseTryAgainLater":           websocket.CloseTryAgainLater,
	"protocol.CloseGoingAway":                protocol.CloseGoingAway,
	"protocol.ClosePolicyViolation":          protocol.ClosePolicyViolation,
	"protocol.CloseTooBig":                   protocol.CloseTooBig,
	"protocol.CloseUnauthenticated":          protocol.CloseUnauthenticated,
	"protocol.CloseForbidden":                protocol.CloseForbidden,
	"protocol.CloseTokenExpired":             protocol.CloseTokenExpired,
	"protocol.CloseTokenRevoked":             protocol.CloseTokenRevoked,
	"protocol.CloseSlowConsumer":             protocol.CloseSlowConsumer,
}

// TestCloseCodesDocumented: every WebSocket close code transport/hub names has a row
// in docs/websocket.md's "## Close codes" table (1012, which cluster nodes send, had
// none until session 26).
func TestCloseCodesDocumented(t *testing.T) {
	doc := readDoc(t, "docs/websocket.md")
	i := strings.Index(doc, "\n## Close codes\n")
	if i < 0 {
		t.Fatal("docs/websocket.md has no \"## Close codes\" section")
	}
	table := doc[i:]
	if j := strings.Index(table[1:], "\n## "); j >= 0 {
		table = table[:j+1]
	}
	src := pkgSource(t, "transport/hub")
	names := map[string]bool{}
	for _, n := range regexp.MustCompile(`\b(?:websocket|protocol)\.Close[A-Z]\w*`).FindAllString(src, -1) {
		switch n {
		case "websocket.CloseMessage", "websocket.CloseError": // a frame type, an error type
			continue
		}
		names[n] = true
	}
	if len(names) < 8 {
		t.Fatalf("only %d close codes found in transport/hub: %v", len(names), names)
	}
	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		code, ok := closeCodes[n]
		if !ok {
			t.Errorf("transport/hub uses %s, which this test does not know: add it to closeCodes", n)
			continue
		}
		if !strings.Contains(table, "\n| "+strconv.Itoa(code)+" |") {
			t.Errorf("docs/websocket.md's close codes table has no row for %d (%s)", code, n)
		}
	}
}
