package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
)

// FuzzIgnoreRules: .syncignore comes from the server (it is synced), so its content
// is outside input. Any content must give a matcher that never panics and never lets
// the client's own names through.
func FuzzIgnoreRules(f *testing.F) {
	f.Add([]byte("*.log\n!keep.log\nbuild/\n"), "a/b.log", false)
	f.Add([]byte("!.syncspace\n!.syncspace-tmp-*\n"), ".syncspace/state.json", false)
	f.Add([]byte("[\n\\\n**/\n!\n/\n"), "x", true)
	f.Add([]byte("\xff\xfe\x00"), "é/ü", false)
	f.Fuzz(func(t *testing.T, content []byte, p string, dir bool) {
		ig := newIgnorer(content)
		got := ig.Ignored(p, dir)
		for _, s := range strings.Split(p, "/") {
			if internalName(s) && !got {
				t.Fatalf("internal name %q not ignored with rules %q", p, content)
			}
		}
	})
}

// FuzzEventJSON decodes an arbitrary /api/changes event and checks it: an accepted
// event only names clean paths inside DIR.
func FuzzEventJSON(f *testing.F) {
	h := strings.Repeat("0", 64)
	f.Add([]byte(`{"type":"FileOperation","seq":1,"operation":{"Create":{"metadata":{"path":"a","hash":"` + h + `"}}}}`))
	f.Add([]byte(`{"seq":2,"operation":{"Move":{"from":"../a","metadata":{"path":"b","is_directory":true}}}}`))
	f.Add([]byte(`{"seq":3,"operation":{"Delete":{"metadata":{"path":".syncspace"}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev protocol.Event
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		if CheckEvent(ev) != nil {
			return
		}
		paths := []string{ev.Operation.Meta().Path}
		if ev.Operation.Move != nil {
			paths = append(paths, ev.Operation.Move.From)
		}
		for _, p := range paths {
			if c, err := pathrule.Clean(p); err != nil || c != p || strings.HasPrefix(p, "/") || strings.Contains(p, "..") && strings.Contains("/"+p+"/", "/../") {
				t.Fatalf("accepted unsafe path %q", p)
			}
		}
	})
}
