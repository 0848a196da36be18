package tenants

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncspace/syncspace/sync/protocol"
)

// FuzzSpacePaths feeds arbitrary paths (as they arrive from requests) to a real space:
// no operation may panic or answer with an undocumented code, and whatever is written
// lands inside the tenant's files/ directory under its NFC name.
func FuzzSpacePaths(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "/etc/passwd", "a\\..\\b", "cafe\u0301", "CON", ".syncspace/x", "x/", "", "a//b",
		"%2e%2e/x", "\u202e", strings.Repeat("d/", 100) + "f"} {
		f.Add(s, "b")
	}
	e := newEnv(f, Limits{}, Options{})
	ctx := context.Background()
	allowed := map[protocol.Code]bool{protocol.CodeInvalidPath: true, protocol.CodeConflict: true, protocol.CodeNotFound: true,
		protocol.CodeTooLarge: true}
	f.Fuzz(func(t *testing.T, p, q string) {
		m, _, err := e.sp.Put(ctx, p, strings.NewReader("x"), PutOptions{Size: 1})
		if err != nil {
			if !allowed[protocol.CodeOf(err)] {
				t.Fatalf("Put(%q): %v", p, err)
			}
		} else {
			full := filepath.Join(e.filesDir(), filepath.FromSlash(m.Path))
			if !strings.HasPrefix(full, e.filesDir()+string(filepath.Separator)) {
				t.Fatalf("Put(%q) wrote outside: %s", p, full)
			}
			if b, err := os.ReadFile(full); err != nil || string(b) != "x" {
				t.Fatalf("Put(%q): not on disk at %s: %v", p, full, err)
			}
		}
		if _, err := e.sp.Stat(ctx, q); err != nil && !allowed[protocol.CodeOf(err)] {
			t.Fatalf("Stat(%q): %v", q, err)
		}
		if _, err := e.sp.Move(ctx, p, q, "", Source{}); err != nil && !allowed[protocol.CodeOf(err)] {
			t.Fatalf("Move(%q, %q): %v", p, q, err)
		}
		if _, err := e.sp.Delete(ctx, q, DeleteOptions{Recursive: true}); err != nil && !allowed[protocol.CodeOf(err)] {
			t.Fatalf("Delete(%q): %v", q, err)
		}
		if err := e.sp.List(ctx, q, true, nil, func(protocol.Metadata) error { return nil }); err != nil && !allowed[protocol.CodeOf(err)] {
			t.Fatalf("List(%q): %v", q, err)
		}
	})
}
