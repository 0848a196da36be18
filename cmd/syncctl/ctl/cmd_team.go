package ctl

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/transport/adminclient"
)

// The team commands run a tenant with a tenant admin token (SPEC §7.5): remote mode
// only, against /api/team; the tenant is the token's.

func validateTeam(p *parsed) error {
	if !p.has("server") || !p.has("token-file") {
		return usagef("team commands need --server URL and --token-file FILE holding a tenant admin token")
	}
	return nil
}

func validateTeamIssue(p *parsed) error {
	if err := validateTeam(p); err != nil {
		return err
	}
	if p.get("subject") == "" || p.get("role") == "" {
		return usagef("team issue needs --subject WHO and --role read|write|admin")
	}
	switch p.get("role") {
	case auth.RoleRead, auth.RoleWrite, auth.RoleAdmin:
	default:
		return usagef("--role must be read, write or admin")
	}
	if p.has("ttl") {
		if _, err := parseTTL(p.get("ttl")); err != nil {
			return err
		}
	}
	return nil
}

func validateTeamRevoke(p *parsed) error {
	if err := validateTeam(p); err != nil {
		return err
	}
	if (len(p.words) == 3) == p.has("subject") {
		return usagef("team revoke takes a JTI or --subject WHO")
	}
	if p.has("subject") && p.get("subject") == "" {
		return usagef("--subject needs a value")
	}
	return nil
}

// teamClient is the remote backend's client (validateTeam made sure it is remote).
func teamClient(r *runCtx) (*adminclient.Client, error) {
	rb, ok := r.b.(*remote)
	if !ok {
		return nil, usagef("team commands need --server URL")
	}
	return rb.Client, nil
}

func teamIssue(ctx context.Context, r *runCtx) error {
	c, err := teamClient(r)
	if err != nil {
		return err
	}
	req := adminclient.TeamIssue{Subject: r.p.get("subject"), Role: r.p.get("role"), Paths: r.p.list("path")}
	if r.p.has("ttl") {
		if req.TTL, err = parseTTL(r.p.get("ttl")); err != nil {
			return err
		}
	}
	res, err := c.TeamIssueToken(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintln(r.stdout, res.Token)
	fmt.Fprintf(r.stderr, "jti %s, expires %s\n", res.JTI, res.ExpiresAt.UTC().Format(time.RFC3339))
	return nil
}

func teamTokens(ctx context.Context, r *runCtx) error {
	c, err := teamClient(r)
	if err != nil {
		return err
	}
	recs, err := c.TeamTokens(ctx)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []auth.TokenRecord{}
	}
	if r.json() {
		return r.printJSON(recs)
	}
	tw := tabwriter.NewWriter(r.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JTI\tSUBJECT\tROLE\tISSUED\tEXPIRES\tREVOKED")
	for _, t := range recs {
		rev := "-"
		if t.RevokedAt != nil {
			rev = t.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", dash(t.JTI), dash(t.Subject), dash(t.Role),
			t.IssuedAt.UTC().Format(time.RFC3339), t.ExpiresAt.UTC().Format(time.RFC3339), rev)
	}
	return tw.Flush()
}

func teamRevoke(ctx context.Context, r *runCtx) error {
	c, err := teamClient(r)
	if err != nil {
		return err
	}
	if len(r.p.words) == 3 {
		jti := r.arg(2, 0)
		if err := c.TeamRevokeToken(ctx, jti); err != nil {
			return err
		}
		fmt.Fprintf(r.stdout, "revoked token %s\n", jti)
		return nil
	}
	n, err := c.TeamRevokeSubject(ctx, r.p.get("subject"))
	if err != nil {
		return err
	}
	fmt.Fprintf(r.stdout, "revoked %d token(s)\n", n)
	return nil
}

func teamAudit(ctx context.Context, r *runCtx) error {
	c, err := teamClient(r)
	if err != nil {
		return err
	}
	limit, err := auditLimit(r.p)
	if err != nil {
		return err
	}
	es, err := c.TeamAudit(ctx, limit)
	if err != nil {
		return err
	}
	if es == nil {
		es = []auth.AuditEntry{}
	}
	if r.json() {
		return r.printJSON(es)
	}
	tw := tabwriter.NewWriter(r.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tADDRESS\tACTION\tTARGET\tOUTCOME")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), dash(e.Actor), dash(e.Address), dash(e.Action), dash(e.Target), dash(e.Outcome))
	}
	return tw.Flush()
}
