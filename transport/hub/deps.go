package hub

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// Verifier is the part of *auth.Service the hub uses: Verify for Auth and Refresh
// frames, Check for the periodic revocation sweep of live connections.
type Verifier interface {
	Verify(ctx context.Context, token, audience string) (*auth.Principal, error)
	Check(ctx context.Context, p *auth.Principal) error
}

// UpgradeAuthenticator authenticates the `Authorization: Bearer` header of an upgrade
// request (implemented by *authmw.Middleware: rate limiter, client address, header
// rules). A nil UpgradeAuthenticator means header tokens are verified with the
// Verifier alone.
type UpgradeAuthenticator interface {
	Authenticate(ctx context.Context, r *http.Request, audience string) (*auth.Principal, error)
}

// failureCounter is implemented by *authmw.Middleware: a failed re-authentication
// (a Refresh frame whose token does not verify) of the client at addr counts towards
// the failed-auth limiter; a rate_limited error when the address has no credit left.
type failureCounter interface {
	CountFailedAt(addr netip.Addr) error
}

// Space is the part of *tenants.Space the hub uses.
type Space interface {
	// ID is the tenant's immutable id (a token's tid): a tenant deleted and created
	// again under its name has another.
	ID() string
	Head() (epoch string, seq int64)
	// CatchUp delivers, before it returns, what other nodes committed and this node
	// has not delivered yet, so that Head is at least the store's head
	// (tenants.CatchUp): called before a resume from a seq beyond Head.
	CatchUp(ctx context.Context)
	Changes(ctx context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error)
	Stat(ctx context.Context, path string) (protocol.Metadata, error)
	// FlushPath makes the directory entries of the file at path durable (before an
	// Ack of a file Create or Update: tenants.Space.FlushPath).
	FlushPath(ctx context.Context, path string) error
	Delete(ctx context.Context, path string, o tenants.DeleteOptions) (int64, error)
	Mkdir(ctx context.Context, path string, src tenants.Source) (protocol.Metadata, bool, error)
	Move(ctx context.Context, from, to, ifMatch string, src tenants.Source) (protocol.Metadata, error)
}

// Registry is the part of *tenants.Registry the hub uses (see FromRegistry).
type Registry interface {
	// Listen registers fn, called after every commit with the tenant's immutable id
	// (Space.ID), per tenant in seq order; fn must not block.
	Listen(fn func(tenantID string, ev protocol.Event))
	// OpenSpace returns the named tenant's space.
	OpenSpace(ctx context.Context, tenant string) (Space, error)
}

var _ Space = tenantSpace{}

// tenantSpace is a *tenants.Space as a Space.
type tenantSpace struct{ *tenants.Space }

// CatchUp implements Space with tenants.CatchUp.
func (s tenantSpace) CatchUp(ctx context.Context) { tenants.CatchUp(ctx, s.Space) }

// resetsRegistry is implemented by a Registry that reports tenants (by id, as
// Listen) whose history changed under their listeners (tenants.Registry.ListenByID).
type resetsRegistry interface {
	ListenResets(fn func(tenantID, epoch string, head int64))
}

// FromRegistry adapts a *tenants.Registry to Registry.
func FromRegistry(r *tenants.Registry) Registry { return registryAdapter{r} }

type registryAdapter struct{ r *tenants.Registry }

func (a registryAdapter) Listen(fn func(string, protocol.Event)) { a.r.ListenByID(fn, nil) }

func (a registryAdapter) OpenSpace(ctx context.Context, tenant string) (Space, error) {
	s, err := a.r.Space(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return tenantSpace{s}, nil
}

func (a registryAdapter) ListenResets(fn func(string, string, int64)) {
	a.r.ListenByID(nil, fn)
}
