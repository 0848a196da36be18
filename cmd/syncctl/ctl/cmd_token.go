package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/config"
	"github.com/syncspace/syncspace/sync/fsys"
	"github.com/syncspace/syncspace/sync/pathscope"
	"github.com/syncspace/syncspace/sync/protocol"
)

func validateTokenIssue(p *parsed) error {
	if !p.has("subject") || p.get("subject") == "" {
		return usagef("token issue needs --subject WHO")
	}
	if p.has("ops") {
		if p.has("tenant") || p.has("role") {
			return usagef("token issue --ops takes no --tenant or --role")
		}
		if p.has("server") {
			return usagef("token issue --ops works only in local mode (--data DIR)")
		}
		if p.has("path") {
			return usagef("token issue --ops takes no --path (paths limit tenant tokens)")
		}
	} else {
		if !p.has("tenant") || !p.has("role") {
			return usagef("token issue needs --tenant NAME and --role read|write|admin (or --ops)")
		}
		switch p.get("role") {
		case auth.RoleRead, auth.RoleWrite, auth.RoleAdmin:
		default:
			return usagef("--role must be read, write or admin")
		}
	}
	if p.has("path") && p.has("device") {
		return usagef("--path limits tokens; device credentials take no --path")
	}
	if err := validatePaths(p); err != nil {
		return err
	}
	if p.has("ttl") {
		if _, err := parseTTL(p.get("ttl")); err != nil {
			return err
		}
	}
	if p.has("link") {
		if p.has("ops") {
			return usagef("--link is for tenant tokens (the web app refuses ops tokens)")
		}
		if p.has("out") {
			return usagef("--link prints a link and --out writes a file: choose one")
		}
	}
	if p.has("public-url") {
		if !p.has("link") && !p.has("device") {
			return usagef("--public-url goes with --link or --device")
		}
		if err := config.ValidatePublicURL(p.get("public-url")); err != nil {
			return usagef("--public-url: %v", err)
		}
	}
	return nil
}

// validatePaths refuses a --path the server would refuse (a prefix that breaks the
// path rules, too many prefixes) as bad usage, before anything is opened.
func validatePaths(p *parsed) error {
	if _, err := pathscope.Parse(p.list("path")); err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			err = errors.New(pe.Message)
		}
		return usagef("--path: %v", err)
	}
	return nil
}

// signInLink returns PUBLIC_URL/#token=TOKEN (SPEC §7.2): the fragment never reaches
// a server. PUBLIC_URL is --public-url, else what the backend knows (see PublicURL).
func signInLink(r *runCtx, token string) string {
	base := r.p.get("public-url")
	if base == "" {
		var derived bool
		base, derived = r.b.PublicURL()
		if derived {
			fmt.Fprintf(r.stderr, "note: the link uses %s, derived from the listen address; set web.public_url in the config or pass --public-url if users reach the server elsewhere\n", base)
		}
	}
	return strings.TrimRight(base, "/") + "/#token=" + url.QueryEscape(token)
}

func tokenIssue(ctx context.Context, r *runCtx) error {
	p := r.p
	if p.has("device") {
		return deviceIssue(ctx, r)
	}
	if p.has("cert") {
		return usagef("--cert goes with --device")
	}
	ops := p.has("ops")
	ttl := r.b.DefaultTTL(ops)
	if p.has("ttl") {
		var err error
		if ttl, err = parseTTL(p.get("ttl")); err != nil {
			return err
		}
	}
	// Open --out before issuing so that no token is issued if the file exists.
	var out *os.File
	if p.has("out") {
		// 0600, and on Windows an owner-only DACL from the file's creation on.
		f, err := fsys.CreatePrivate(p.get("out"))
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s exists; refusing to overwrite it", p.get("out"))
		}
		if err != nil {
			return err
		}
		out = f
	}
	var res issued
	var err error
	if ops {
		res, err = r.b.IssueOpsToken(ctx, p.get("subject"), ttl)
	} else if p.has("path") {
		res, err = r.b.IssueScopedToken(ctx, p.get("tenant"), p.get("subject"), p.get("role"), ttl, p.list("path"))
	} else {
		res, err = r.b.IssueToken(ctx, p.get("tenant"), p.get("subject"), p.get("role"), ttl)
	}
	if err == nil && res.Token == "" {
		err = errors.New("server returned no token")
	}
	if out != nil {
		if err == nil {
			if err = out.Chmod(0o600); err == nil {
				if _, err = io.WriteString(out, res.Token+"\n"); err == nil {
					err = out.Sync()
				}
			}
		}
		err = closeOut(out, err)
		if err != nil {
			os.Remove(p.get("out"))
			return err
		}
		fmt.Fprintf(r.stderr, "token written to %s (jti %s, expires %s)\n", p.get("out"), res.JTI, res.ExpiresAt.UTC().Format(time.RFC3339))
		return nil
	}
	if err != nil {
		return err
	}
	if p.has("link") {
		fmt.Fprintln(r.stdout, signInLink(r, res.Token))
	} else {
		fmt.Fprintln(r.stdout, res.Token)
	}
	fmt.Fprintf(r.stderr, "jti %s, expires %s\n", res.JTI, res.ExpiresAt.UTC().Format(time.RFC3339))
	return nil
}

func validateTokenList(p *parsed) error {
	if p.has("ops") && p.has("tenant") {
		return usagef("token list takes --tenant or --ops, not both")
	}
	return nil
}

func tokenList(ctx context.Context, r *runCtx) error {
	p := r.p
	recs, err := r.b.ListTokens(ctx, auth.TokenFilter{Tenant: p.get("tenant"), Ops: p.has("ops"), Subject: p.get("subject"), IncludeExpired: p.has("all")})
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
	fmt.Fprintln(tw, "JTI\tKIND\tTENANT\tSUBJECT\tROLE\tISSUED\tEXPIRES\tREVOKED")
	for _, t := range recs {
		rev := "-"
		if t.RevokedAt != nil {
			rev = t.RevokedAt.UTC().Format(time.RFC3339)
		}
		tenant := t.Tenant
		if tenant == "" {
			tenant = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(t.JTI), t.Kind, tenant, dash(t.Subject), t.Role,
			t.IssuedAt.UTC().Format(time.RFC3339), t.ExpiresAt.UTC().Format(time.RFC3339), rev)
	}
	return tw.Flush()
}

func validateTokenRevoke(p *parsed) error {
	if len(p.words) == 3 {
		if p.has("tenant") || p.has("subject") || p.has("ops") {
			return usagef("token revoke takes a JTI or --tenant/--ops with --subject, not both")
		}
		return nil
	}
	if !p.has("subject") || p.get("subject") == "" {
		return usagef("token revoke needs a JTI, or --subject WHO with --tenant NAME or --ops")
	}
	switch {
	case p.has("ops") && p.has("tenant"):
		return usagef("token revoke takes --tenant or --ops, not both")
	case !p.has("ops") && (!p.has("tenant") || p.get("tenant") == ""):
		return usagef("token revoke --subject needs --tenant NAME or --ops")
	}
	return nil
}

func tokenRevoke(ctx context.Context, r *runCtx) error {
	p := r.p
	if len(p.words) == 3 {
		jti := r.arg(2, 0)
		if err := r.b.RevokeJTI(ctx, jti); err != nil {
			return err
		}
		fmt.Fprintf(r.stdout, "revoked token %s\n", jti)
		return nil
	}
	n, err := r.b.RevokeSubject(ctx, p.get("tenant"), p.get("subject"))
	if err != nil {
		return err
	}
	fmt.Fprintf(r.stdout, "revoked %d token(s)\n", n)
	return nil
}
