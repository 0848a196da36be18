package ctl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// An ops token file as Windows PowerShell 5.1 writes `syncctl token issue … >
// ops.token` (UTF-16 little-endian with a byte order mark, CRLF) works in remote
// mode.
func TestRemoteModeUTF16TokenFile(t *testing.T) {
	d, data := startSyncd(t)
	tok := strings.TrimSpace(run(t, "token", "issue", "--ops", "--subject", "root", "--data", data).must(t).stdout)
	content := []byte{0xff, 0xfe}
	for _, u := range utf16.Encode([]rune(tok + "\r\n")) {
		content = append(content, byte(u), byte(u>>8))
	}
	opsFile := filepath.Join(t.TempDir(), "ops.token")
	if err := os.WriteFile(opsFile, content, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "--server", "http://"+d.Addr(), "--token-file", opsFile, "tenant", "list").must(t)
}
