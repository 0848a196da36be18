package ctl

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"text/tabwriter"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/fsys"
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
	if p.has("device") != p.has("out") {
		return usagef("team issue --device NAME goes with --out FILE (the credential file)")
	}
	if p.has("device") && (p.has("path") || p.has("ttl")) {
		return usagef("team issue --device takes no --path or --ttl")
	}
	if err := validatePaths(p); err != nil {
		return err
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
	n := 0
	for _, has := range []bool{len(p.words) == 3, p.has("subject"), p.has("device")} {
		if has {
			n++
		}
	}
	if n != 1 {
		return usagef("team revoke takes one of: a JTI, --subject WHO, --device NAME")
	}
	if p.has("subject") && p.get("subject") == "" || p.has("device") && p.get("device") == "" {
		return usagef("--subject and --device need a value")
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
	if r.p.has("device") {
		return teamEnroll(ctx, r, c)
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
	devs, err := c.TeamDevices(ctx)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []auth.TokenRecord{}
	}
	if devs == nil {
		devs = []auth.DeviceRecord{}
	}
	if r.json() {
		return r.printJSON(map[string]any{"tokens": recs, "devices": devs})
	}
	defer printDevices(r, devs)
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
	if r.p.has("device") {
		n, err := c.TeamRevokeDevice(ctx, r.p.get("device"))
		if err != nil {
			return err
		}
		fmt.Fprintf(r.stdout, "revoked %d device(s)\n", n)
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

// printDevices lists devices after the token table.
func printDevices(r *runCtx, devs []auth.DeviceRecord) {
	if len(devs) == 0 {
		return
	}
	fmt.Fprintln(r.stdout)
	tw := tabwriter.NewWriter(r.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tID\tSUBJECT\tROLE\tEXPIRES\tLAST USED\tREVOKED")
	for _, d := range devs {
		last, rev := "-", "-"
		if d.LastUsedAt != nil {
			last = d.LastUsedAt.UTC().Format(time.RFC3339)
		}
		if d.RevokedAt != nil {
			rev = d.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(d.Name), d.ID, dash(d.Subject), d.Role, d.ExpiresAt.UTC().Format(time.RFC3339), last, rev)
	}
	tw.Flush()
}

// teamEnroll enrolls a device and writes its credential to --out (a new 0600 file;
// the device is revoked again if the file cannot be written).
func teamEnroll(ctx context.Context, r *runCtx, c *adminclient.Client) error {
	out := r.p.get("out")
	f, err := fsys.CreatePrivate(out) // private from its creation on, Windows too
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; refusing to overwrite it", out)
	}
	if err != nil {
		return err
	}
	cred, err := c.TeamEnrollDevice(ctx, r.p.get("subject"), r.p.get("role"), r.p.get("device"))
	if err == nil {
		if _, err = f.Write(append(cred, '\n')); err == nil {
			err = f.Sync()
		}
	}
	err = closeOut(f, err)
	if err != nil {
		os.Remove(out)
		if len(cred) > 0 {
			_, _ = c.TeamRevokeDevice(context.WithoutCancel(ctx), r.p.get("device"))
		}
		return err
	}
	fmt.Fprintf(r.stderr, "device credential written to %s\n", out)
	return nil
}
