package ctl

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/syncspace/syncspace/auth"
)

func keyRotate(ctx context.Context, r *runCtx) error {
	k, err := r.b.RotateKey(ctx)
	if err != nil {
		return err
	}
	if r.json() {
		return r.printJSON(k)
	}
	fmt.Fprintf(r.stdout, "new signing key %s\n", k.KID)
	return nil
}

func keyList(ctx context.Context, r *runCtx) error {
	ks, err := r.b.ListKeys(ctx)
	if err != nil {
		return err
	}
	if ks == nil {
		ks = []auth.KeyInfo{}
	}
	if r.json() {
		return r.printJSON(ks)
	}
	tw := tabwriter.NewWriter(r.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tCREATED\tRETIRED\tSIGNING")
	for _, k := range ks {
		ret := "-"
		if k.RetiredAt != nil {
			ret = k.RetiredAt.UTC().Format(time.RFC3339)
		}
		sign := ""
		if k.Signing {
			sign = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.KID, k.CreatedAt.UTC().Format(time.RFC3339), ret, sign)
	}
	return tw.Flush()
}

func keyRetire(ctx context.Context, r *runCtx) error {
	kid := r.arg(2, 0)
	if err := r.b.RetireKey(ctx, kid); err != nil {
		return err
	}
	fmt.Fprintf(r.stdout, "retired key %s\n", kid)
	return nil
}

// auditLimit returns audit's --limit, 0 when not given.
func auditLimit(p *parsed) (int, error) {
	if !p.has("limit") {
		return 0, nil
	}
	n, err := strconv.Atoi(p.get("limit"))
	if err != nil || n < 1 {
		return 0, usagef("--limit: want a positive number")
	}
	return n, nil
}

func validateAudit(p *parsed) error {
	_, err := auditLimit(p)
	return err
}

func auditList(ctx context.Context, r *runCtx) error {
	limit, err := auditLimit(r.p)
	if err != nil {
		return err
	}
	es, err := r.b.ListAudit(ctx, limit)
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
