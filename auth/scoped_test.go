package auth_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
)

func TestIssueScoped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok, rec, err := f.svc.IssueTenant(ctx, auth.TenantTokenRequest{Tenant: "acme", Subject: "c", Role: auth.RoleRead, TTL: time.Hour, Paths: []string{"Proj/A", "proj/a/b", "docs"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.Paths, []string{"docs", "Proj/A"}) {
		t.Fatalf("record paths %q", rec.Paths)
	}
	p, err := f.svc.Verify(ctx, tok, auth.AudienceTenant)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Scope.Paths(), rec.Paths) || !p.Scope.Contains("proj/a/x") || p.Scope.Contains("project") {
		t.Fatalf("principal scope %q", p.Scope.Paths())
	}
	plain, _ := mustIssue(t, f.svc, "acme", "d", auth.RoleRead)
	if p, err := f.svc.Verify(ctx, plain, auth.AudienceTenant); err != nil || p.Scope != nil {
		t.Fatalf("unscoped token has scope %v (%v)", p.Scope, err)
	}
	for _, c := range []struct {
		paths []string
		code  protocol.Code
	}{
		{[]string{"../x"}, protocol.CodeInvalidPath},
		{[]string{""}, protocol.CodeInvalidPath},
		{[]string{"a\x00b"}, protocol.CodeInvalidPath},
		{make([]string, 33), protocol.CodeInvalidPath},
	} {
		if _, _, err := f.svc.IssueTenant(ctx, auth.TenantTokenRequest{Tenant: "acme", Subject: "c", Role: auth.RoleRead, TTL: time.Hour, Paths: c.paths}); protocol.CodeOf(err) != c.code && protocol.CodeOf(err) != protocol.CodeBadRequest {
			t.Errorf("paths %q: %v", c.paths, err)
		}
	}
}
