package tenants

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Create adds a tenant and its directories. A bad name or negative limit is
// bad_request; an existing name is conflict.
func (r *Registry) Create(ctx context.Context, name string, o Options) (Tenant, error) {
	if !ValidName(name) {
		return Tenant{}, protocol.Errorf(protocol.CodeBadRequest, "tenant name must match ^[a-z0-9][a-z0-9-]{0,62}$")
	}
	if o.Quota < 0 || o.MaxFileSize < 0 || o.MaxEntries < 0 {
		return Tenant{}, protocol.Errorf(protocol.CodeBadRequest, "limits must not be negative")
	}
	t := Tenant{Name: name, ID: newID(), Quota: o.Quota, MaxFileSize: o.MaxFileSize, MaxEntries: o.MaxEntries,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	unlock := r.store.LockWrites()
	err := func() error {
		tx, err := r.store.DB().BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tenants WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return protocol.Errorf(protocol.CodeConflict, "tenant %s exists", name)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (name, id, quota, max_file_size, max_entries, created_at, epoch, head_seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0)`, name, t.ID, t.Quota, t.MaxFileSize, t.MaxEntries, t.CreatedAt.UnixNano(), newID()); err != nil {
			return err
		}
		return tx.Commit()
	}()
	unlock()
	if err != nil {
		return Tenant{}, wrapInternal("create tenant", err)
	}
	if err := r.makeDirs(name); err != nil {
		_, _ = r.store.DB().ExecContext(context.WithoutCancel(ctx), `DELETE FROM tenants WHERE id = ?`, t.ID)
		return Tenant{}, internal("create tenant directories", err)
	}
	r.mu.Lock()
	r.cache[name] = t
	r.mu.Unlock()
	r.log.Info("tenant created", "tenant", name)
	return t, nil
}

func (r *Registry) tenantDir(name string) string {
	return filepath.Join(r.dataDir, "tenants", name)
}

func (r *Registry) makeDirs(name string) error {
	for _, sub := range []string{"", "files", "versions", "tmp"} {
		if err := mkdirAllOS(filepath.Join(r.tenantDir(name), sub)); err != nil {
			return err
		}
	}
	return nil
}

const tenantCols = `name, id, quota, max_file_size, max_entries, created_at`

func scanTenant(sc interface{ Scan(...any) error }) (Tenant, error) {
	var t Tenant
	var created int64
	if err := sc.Scan(&t.Name, &t.ID, &t.Quota, &t.MaxFileSize, &t.MaxEntries, &created); err != nil {
		return Tenant{}, err
	}
	t.CreatedAt = time.Unix(0, created).UTC()
	return t, nil
}

// Get returns the tenant called name, read from the database (not_found if none).
func (r *Registry) Get(ctx context.Context, name string) (Tenant, error) {
	t, err := scanTenant(r.store.Q().QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	if err != nil {
		return Tenant{}, internal("read tenant", err)
	}
	return t, nil
}

// List returns every tenant, ordered by name.
func (r *Registry) List(ctx context.Context) ([]Tenant, error) {
	rows, err := r.store.Q().QueryContext(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY name`)
	if err != nil {
		return nil, internal("list tenants", err)
	}
	defer rows.Close()
	out := []Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, internal("list tenants", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, internal("list tenants", err)
	}
	return out, nil
}

// LookupTenant returns the id of the tenant called name (not_found if none). It answers
// from memory, refreshed by Run; a name not in memory is looked up in the database so
// that a tenant created a moment ago by another process is found at once.
func (r *Registry) LookupTenant(ctx context.Context, name string) (string, error) {
	r.mu.Lock()
	t, ok := r.cache[name]
	r.mu.Unlock()
	if ok {
		return t.ID, nil
	}
	if !ValidName(name) {
		return "", protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	t, err := r.Get(ctx, name)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	r.cache[name] = t
	r.mu.Unlock()
	return t.ID, nil
}

// Delete removes the tenant's rows (index, change log, versions) and files, and closes
// its space. not_found if there is no such tenant.
func (r *Registry) Delete(ctx context.Context, name string) error {
	t, err := r.Get(ctx, name)
	if err != nil {
		return err
	}
	unlock := r.store.LockWrites()
	res, err := r.store.DB().ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, t.ID)
	unlock()
	if err != nil {
		return internal("delete tenant", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	r.mu.Lock()
	delete(r.cache, name)
	sl := r.spaces[name]
	delete(r.spaces, name)
	r.mu.Unlock()
	if sl != nil {
		sl.mu.Lock()
		if sl.space != nil {
			sl.space.close()
			sl.space = nil
		}
		sl.mu.Unlock()
	}
	// Move the directory aside first so that the name is free at once, then remove it.
	dir := r.tenantDir(name)
	trash := filepath.Join(r.dataDir, "tenants", ".deleted-"+t.ID)
	if err := os.Rename(dir, trash); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return internal("delete tenant files", err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return internal("delete tenant files", err)
	}
	r.log.Info("tenant deleted", "tenant", name)
	return nil
}
