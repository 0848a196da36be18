package tenants

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/blob"
	"github.com/syncspace/syncspace/tenants/index"
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
	err := r.index.CreateTenant(ctx, index.Tenant(t), newID())
	if errors.Is(err, index.ErrTenantExists) {
		return Tenant{}, protocol.Errorf(protocol.CodeConflict, "tenant %s exists", name)
	}
	if err != nil {
		return Tenant{}, wrapInternal("create tenant", err)
	}
	if err := r.blobs.Create(blob.Tenant{Name: name, ID: t.ID}); err != nil {
		_ = r.index.DeleteTenant(context.WithoutCancel(ctx), t.ID)
		return Tenant{}, internal("create tenant directories", err)
	}
	r.mu.Lock()
	r.cache[name] = t
	r.mu.Unlock()
	r.log.Info("tenant created", "tenant", name)
	return t, nil
}

// Get returns the tenant called name, read from the database (not_found if none).
func (r *Registry) Get(ctx context.Context, name string) (Tenant, error) {
	t, err := r.index.TenantByName(ctx, name)
	if errors.Is(err, index.ErrNoTenant) {
		return Tenant{}, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
	}
	if err != nil {
		return Tenant{}, internal("read tenant", err)
	}
	return Tenant(t), nil
}

// List returns every tenant, ordered by name.
func (r *Registry) List(ctx context.Context) ([]Tenant, error) {
	list, err := r.index.Tenants(ctx)
	if err != nil {
		return nil, internal("list tenants", err)
	}
	out := make([]Tenant, len(list))
	for i, t := range list {
		out[i] = Tenant(t)
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
	drops := r.drops.Load()
	t, err := r.Get(ctx, name)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	if r.drops.Load() == drops { // else a Delete since the read: not put back
		r.cache[name] = t
	}
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
	if err := r.index.DeleteTenant(ctx, t.ID); err != nil {
		if errors.Is(err, index.ErrNoTenant) {
			return protocol.Errorf(protocol.CodeNotFound, "no such tenant")
		}
		return internal("delete tenant", err)
	}
	r.mu.Lock()
	r.drops.Add(1)
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
	if err := r.blobs.Delete(blob.Tenant{Name: name, ID: t.ID}); err != nil {
		return internal("delete tenant files", err)
	}
	r.log.Info("tenant deleted", "tenant", name)
	return nil
}
