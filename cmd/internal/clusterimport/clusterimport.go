// Package clusterimport moves a single-node data dir into a cluster's storage
// (syncctl cluster import): tenants with their ids, the index (entries, change log
// with its seqs and epoch, versions, heads), the content into the blob store, and the
// auth records (signing keys, their private halves sealed under the KEK; tokens;
// revocations; enrolled devices with their current refresh secret; share links; the audit log). Clients and tokens carry on as if nothing happened.
//
// Each tenant is all or nothing: its content is copied first, then its index rows in
// one transaction. A run that stopped half-way can be run again: a tenant already
// imported with the same id is skipped, as are keys and tokens already present; the
// audit log is copied only into an empty one. A tenant name the cluster holds with
// another id stops the import before anything is written.
package clusterimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/cmd/internal/node"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/pgindex"
	"github.com/syncspace/syncspace/tenants/rootblobs"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

// Report counts what Run copied.
type Report struct {
	Tenants, Skipped, Files, Changes, Versions, Keys, Tokens, Devices, Shares, Audit int
}

// Run copies the data dir dataDir (no syncd may run on it) into dst; progress lines
// go to out.
func Run(ctx context.Context, dataDir string, dst *node.ClusterTarget, out io.Writer) (Report, error) {
	var rep Report
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, node.DBFile))
	if err != nil {
		return rep, fmt.Errorf("open data dir: %w", err)
	}
	defer db.Close()
	// Rows a syncd that stopped without closing its store left in the journal.
	if err := sqlite.MergeJournal(ctx, db); err != nil {
		return rep, fmt.Errorf("open data dir: %w", err)
	}
	src := &source{db: db}
	ts, err := src.tenants(ctx)
	if err != nil {
		return rep, err
	}
	todo, err := plan(ctx, dst.Index, ts, &rep)
	if err != nil {
		return rep, err
	}
	files, err := rootblobs.New(dataDir)
	if err != nil {
		return rep, err
	}
	for _, t := range todo {
		if err := importTenant(ctx, src, files, dst, t, &rep); err != nil {
			return rep, fmt.Errorf("tenant %s: %w", t.Tenant.Name, err)
		}
		fmt.Fprintf(out, "imported tenant %s (%d entries, %d changes, %d versions)\n", t.Tenant.Name, len(t.Entries), len(t.Changes), len(t.Versions))
	}
	store, err := sqlitestore.New(ctx, db)
	if err != nil {
		return rep, err
	}
	if err := importAuth(ctx, store, dst, dataDir, &rep); err != nil {
		return rep, err
	}
	if err := importDevices(ctx, db, store, dst, &rep, out); err != nil {
		return rep, err
	}
	if err := importShares(ctx, db, dst.Pool, ts, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// plan returns the tenants to import: those the target lacks. A name it holds with
// the same id was imported before (skipped); with another id, nothing is imported.
func plan(ctx context.Context, idx *pgindex.Store, ts []pgindex.ImportRows, rep *Report) ([]pgindex.ImportRows, error) {
	var todo []pgindex.ImportRows
	var clash []string
	for _, t := range ts {
		have, err := idx.TenantByName(ctx, t.Tenant.Name)
		switch {
		case errors.Is(err, index.ErrNoTenant):
			todo = append(todo, t)
		case err != nil:
			return nil, err
		case have.ID == t.Tenant.ID:
			rep.Skipped++
		default:
			clash = append(clash, t.Tenant.Name)
		}
	}
	if len(clash) > 0 {
		return nil, fmt.Errorf("the cluster already holds a tenant named %s (another tenant, not an earlier import of this one): nothing imported", strings.Join(clash, ", "))
	}
	return todo, nil
}

// importAuth copies the signing keys (private halves sealed under the KEK), the token
// records with their revocations and, into an empty log, the audit log.
func importAuth(ctx context.Context, src *sqlitestore.Store, dst *node.ClusterTarget, dataDir string, rep *Report) error {
	keyDir := filepath.Join(dataDir, "keys")
	if set, ok, err := src.LoadSettings(ctx); err != nil {
		return err
	} else if ok && set.KeyDir != "" {
		keyDir = set.KeyDir
	}
	if err := importKeys(ctx, src, dst, keyDir, rep); err != nil {
		return err
	}
	if err := importTokens(ctx, src, dst, rep); err != nil {
		return err
	}
	have, err := dst.Auth.AuditTail(ctx, 1)
	if err != nil || len(have) > 0 {
		return err
	}
	entries, err := src.AuditTail(ctx, 0)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := dst.Auth.AppendAudit(ctx, e); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		rep.Audit++
	}
	return nil
}

func importKeys(ctx context.Context, src *sqlitestore.Store, dst *node.ClusterTarget, keyDir string, rep *Report) error {
	keys, err := src.Keys(ctx)
	if err != nil {
		return err
	}
	have, err := dst.Auth.Keys(ctx)
	if err != nil {
		return err
	}
	known, live := map[string]bool{}, map[string]bool{}
	for _, k := range have {
		known[k.KID], live[k.KID] = true, k.RetiredAt == nil
	}
	for _, k := range keys {
		if known[k.KID] {
			continue
		}
		rec := k
		rec.Sealed = nil
		if k.RetiredAt == nil { // a retired key only verifies: no private half needed
			if rec, err = auth.SealKeyFile(dst.KEK, keyDir, k); err != nil {
				return err
			}
		}
		if err := dst.Auth.AddKey(ctx, rec); err != nil {
			return fmt.Errorf("key %s: %w", k.KID, err)
		}
		rep.Keys++
	}
	// Retire after every key is in (one live key must remain), and retire too what an
	// earlier run copied live and the data dir has retired since.
	for _, k := range keys {
		if k.RetiredAt != nil && (!known[k.KID] || live[k.KID]) {
			if _, err := dst.Auth.RetireKey(ctx, k.KID, *k.RetiredAt); err != nil {
				return fmt.Errorf("retire key %s: %w", k.KID, err)
			}
		}
	}
	return nil
}

func importTokens(ctx context.Context, src *sqlitestore.Store, dst *node.ClusterTarget, rep *Report) error {
	toks, err := src.Tokens(ctx, auth.TokenQuery{})
	if err != nil {
		return err
	}
	for _, r := range toks {
		have, err := dst.Auth.Token(ctx, r.JTI)
		added := false
		switch {
		case err == nil && (have.Revoked || !r.Revoked):
			continue
		case err == nil: // copied live by an earlier run: revoked since, or that run stopped before its revocation
		case !errors.Is(err, auth.ErrNoRecord):
			return err
		default:
			if err := dst.Auth.AddToken(ctx, r); err != nil {
				return fmt.Errorf("token %s: %w", r.JTI, err)
			}
			added = true
		}
		if r.Revoked {
			at := time.Now()
			if r.RevokedAt != nil {
				at = *r.RevokedAt
			}
			if _, err := dst.Auth.Revoke(ctx, auth.TokenMatch{JTI: r.JTI}, at); err != nil {
				return fmt.Errorf("revoke token %s: %w", r.JTI, err)
			}
		}
		if added {
			rep.Tokens++
		}
	}
	return nil
}
