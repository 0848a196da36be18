package auth

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Audit outcomes.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
	OutcomeFailed = "failed"
)

// AuditEntry is one line of the append-only audit log. Actor is "ops:<subject>" (with
// JTI and Address) for the admin API, "local:<uid>" for syncctl in local mode, or, for
// a failed admin authentication, ActorOf the token refused ("tenant:<tenant>:<subject>"
// with its JTI for a valid tenant token) or "anonymous" (no token that verifies).
// Action names what was done ("tenant.create", "token.issue", "auth.failed"…), Target
// what it was done to, Outcome is OutcomeOK, OutcomeDenied or OutcomeFailed. ID and a
// zero Time are filled in by Audit.
type AuditEntry struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	JTI     string    `json:"jti,omitempty"`
	Address string    `json:"address,omitempty"`
	Action  string    `json:"action"`
	Target  string    `json:"target,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
}

// OpsTarget is the audit target of an action on the ops tokens (listing them);
// OpsTarget+"/"+subject that of an action on one ops subject's tokens (issuing,
// revoking). It is a form no tenant name takes ("(" is not allowed in one), so an
// entry about ops tokens never reads as one about a tenant named "ops"
// (transport/team shows a tenant ops actions whose target is the tenant or under it).
const OpsTarget = "(ops)"

// LocalActor returns the audit actor of this process acting on the data dir directly:
// "local:<uid>".
func LocalActor() string { return fmt.Sprintf("local:%d", os.Getuid()) }

// OpsActor returns the audit actor of an ops principal: "ops:<subject>".
func OpsActor(p *Principal) string {
	if p == nil {
		return "anonymous"
	}
	return "ops:" + p.Subject
}

// ActorOf returns the audit actor of any principal: "ops:<subject>" for an ops
// token, "tenant:<tenant>:<subject>" for a tenant token (tenant names hold no ':'),
// "anonymous" for nil.
func ActorOf(p *Principal) string {
	switch {
	case p == nil:
		return "anonymous"
	case p.Kind == KindTenant:
		return "tenant:" + p.Tenant + ":" + p.Subject
	}
	return OpsActor(p)
}

// maxAuditField bounds each text field of an audit entry, so that a caller cannot
// grow the log with huge values.
const maxAuditField = 512

func clip(s string) string {
	if len(s) > maxAuditField {
		return strings.ToValidUTF8(s[:maxAuditField], "") + "…"
	}
	return s
}

// Audit appends e to the audit log, which refuses updates and deletes.
func (s *Service) Audit(ctx context.Context, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("auth: audit entry needs actor and action")
	}
	e.Actor, e.JTI, e.Address = clip(e.Actor), clip(e.JTI), clip(e.Address)
	e.Action, e.Target, e.Outcome = clip(e.Action), clip(e.Target), clip(e.Outcome)
	if err := s.store.AppendAudit(ctx, e); err != nil {
		return internal("audit", err)
	}
	return nil
}

// MaxAuditScan bounds how many entries one ListAuditOf reads, newest first: the
// reach of a filtered listing (GET /api/team/audit) back into a log that every
// tenant writes to.
const MaxAuditScan = 200_000

// auditScanPage is how many entries ListAuditOf reads at a time (a variable for
// tests).
var auditScanPage = 1000

// ListAuditOf returns the newest limit entries (limit > 0) that keep accepts, oldest
// first. It reads the log backwards a page at a time, so that the entries of one
// tenant are found however many newer entries others added, up to MaxAuditScan
// entries read.
func (s *Service) ListAuditOf(ctx context.Context, limit int, keep func(AuditEntry) bool) ([]AuditEntry, error) {
	var found [][]AuditEntry // pages of kept entries, newest page first
	n := 0
	page, err := s.store.AuditTail(ctx, auditScanPage)
	for read := 0; err == nil && len(page) > 0 && n < limit; {
		read += len(page)
		var kept []AuditEntry
		for i := len(page) - 1; i >= 0 && n < limit; i-- {
			if keep(page[i]) {
				kept = append(kept, page[i])
				n++
			}
		}
		slices.Reverse(kept)
		found = append(found, kept)
		if read >= MaxAuditScan || len(page) < auditScanPage {
			break
		}
		page, err = s.store.AuditBefore(ctx, page[0].ID, min(auditScanPage, MaxAuditScan-read))
	}
	if err != nil {
		return nil, internal("list audit", err)
	}
	slices.Reverse(found)
	out := slices.Concat(found...)
	if out == nil {
		out = []AuditEntry{}
	}
	return out, nil
}

// ListAudit returns the newest limit entries (all if limit <= 0), oldest first.
func (s *Service) ListAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	out, err := s.store.AuditTail(ctx, limit)
	if err != nil {
		return nil, internal("list audit", err)
	}
	if out == nil {
		out = []AuditEntry{}
	}
	return out, nil
}
