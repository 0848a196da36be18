package auth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	. "github.com/syncspace/syncspace/auth"
)

// TestListAuditOf: the newest limit entries that pass the filter, oldest first,
// found across pages of the log (one tenant's entries among many of another's).
func TestListAuditOf(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	SetAuditScanPage(t, 4)
	for i := range 21 {
		actor := "tenant:busy:bot"
		if i%7 == 0 || i == 20 {
			actor = "tenant:acme:alice"
		}
		if err := f.svc.Audit(ctx, AuditEntry{Actor: actor, Action: fmt.Sprint("act", i)}); err != nil {
			t.Fatal(err)
		}
	}
	acme := func(e AuditEntry) bool { return e.Actor == "tenant:acme:alice" }
	none := func(AuditEntry) bool { return false }
	for _, c := range []struct {
		limit int
		keep  func(AuditEntry) bool
		want  string
	}{{1, acme, "act20"}, {3, acme, "act7 act14 act20"}, {10, acme, "act0 act7 act14 act20"}, {5, none, ""}} {
		es, err := f.svc.ListAuditOf(ctx, c.limit, c.keep)
		var got []string
		for _, e := range es {
			got = append(got, e.Action)
		}
		if err != nil || es == nil || strings.Join(got, " ") != c.want {
			t.Errorf("ListAuditOf(%d) = %v (nil %v), %v; want %q", c.limit, got, es == nil, err, c.want)
		}
	}
}
