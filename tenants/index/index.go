// Package index is the vocabulary between package tenants and its index adapters
// (tenants/sqlite today; a PostgreSQL adapter later): the write transaction a commit
// runs in. tenants declares the Index it needs (tenants/index.go) in these terms, so
// that an adapter implements it without importing tenants.
package index

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// ErrNoTenant is Write's error for a tenant the index does not hold.
var ErrNoTenant = errors.New("index: no such tenant")

// ErrStale is what Write's error wraps when an expectation of an ExpectTx did not
// hold (another process changed what the caller had checked): nothing of the
// transaction was written, and the same writes, checked again, may succeed.
var ErrStale = errors.New("index: an expectation of the transaction does not hold")

// ErrSeqGap is Append's error for an event whose seq is not the head's + 1.
var ErrSeqGap = errors.New("index: seq is not the next one")

// WriteOptions qualify a write transaction.
type WriteOptions struct {
	// KeepUndo keeps, before the transaction changes an entry, the entry as it was
	// (or "no entry") for the paged listings open now, stamped with the head the
	// transaction began at + 1.
	KeepUndo bool

	// Alongside, if set, is work that runs beside the transaction (the group
	// commit's directory flush), in two steps. Write calls Alongside exactly once,
	// when the transaction is about to begin (and at the latest before it returns),
	// on a goroutine that must not be held: it queues its work (fsys.Flusher.Queue)
	// without waiting and returns the rest, which Write runs exactly once in a
	// goroutine of its own. An index that shares transactions between writes calls
	// the Alongside of all the writes of a batch one after the other, then starts
	// their rests, so that their flushes, all queued before the first is served,
	// share one flush however the goroutines are scheduled; it begins its next batch
	// only when all the rests have returned. Neither step may wait for a write of the
	// index, and the first must not panic (it runs under the index's write lock; an
	// index that shares transactions runs a do-nothing rest for one that does, as
	// FirstStep does, so a caller must not wait for its rest unless its first step
	// returned).
	Alongside func() (rest func())

	// Gather, if set, waits (briefly, bounded) for writes that are about to arrive:
	// an index that shares transactions between writes calls the Gather of the write
	// that leads a batch just before it takes the batch, so that those writes join it
	// instead of paying for a durable commit of their own just after it (the
	// registry-wide half of the group commit's gathering, tenants/gather.go). An index
	// that shares nothing ignores it. Gather must not wait for a write of the index.
	Gather func()
}

// Writer runs write transactions of one tenant's index.
type Writer interface {
	// Write runs fn in a write transaction of the tenant, which the index may share
	// with other tenants' writes (one durable commit for many). It returns once the
	// transaction committed (nil) or fn's changes were rolled back (fn's error, or
	// the commit's). The head moves to the last appended seq in the same
	// transaction. ErrNoTenant if the tenant does not exist.
	Write(ctx context.Context, tenantID string, o WriteOptions, fn func(Tx) error) error
}

// Tx is one write transaction of one tenant. Paths are clean (sync/pathrule); entries
// are matched by their fold key (pathrule.FoldKey).
type Tx interface {
	// Head returns the tenant's epoch and the seq of its last event, the events
	// appended in this transaction included.
	Head() (epoch string, seq int64)
	// Append adds ev to the change log. ev.Seq must be Head's seq + 1 (else
	// ErrSeqGap): the log has no gap. metaSeq is, for a Delete, the seq of the change
	// that last wrote the deleted metadata (0: ev.Seq).
	Append(ev protocol.Event, metaSeq int64, at time.Time) error
	// PutEntry inserts the entry m, or replaces the entry whose path has m.Path's fold
	// key (then its path becomes m.Path).
	PutEntry(m protocol.Metadata) error
	// RemoveTree deletes the entry whose path is exactly p and every entry under it
	// ("" = every entry), and returns how many it deleted and the bytes of the files
	// among them. Of a directory it drops the stamps too (DirStamps).
	RemoveTree(p string) (n, bytes int64, err error)
	// MoveTree moves the entry whose path is exactly from and every entry under it to to (the entries
	// marked as written by seq) and the versions kept of those paths with them; it
	// drops the stamps (DirStamps) of from, to and the directories under them.
	MoveTree(from, to string, seq int64) error
	// AddVersion records m (m.Path, Size, Hash, Modified) as the kept earlier content
	// id of m.Path, replaced (or deleted) at replacedAt.
	AddVersion(id string, m protocol.Metadata, replacedAt time.Time, deleted bool) error
}

// ErrTenantExists is CreateTenant's error for a name already taken.
var ErrTenantExists = errors.New("index: tenant exists")

// Tenant is a tenant's record.
type Tenant struct {
	Name, ID                       string
	Quota, MaxFileSize, MaxEntries int64
	CreatedAt                      time.Time
}

// Tenants holds the tenant records and each tenant's head.
type Tenants interface {
	// CreateTenant adds t with head 0 in epoch; ErrTenantExists if t.Name is taken.
	CreateTenant(ctx context.Context, t Tenant, epoch string) error
	// DeleteTenant removes the tenant with id and everything the index holds of it;
	// ErrNoTenant if there is none.
	DeleteTenant(ctx context.Context, id string) error
	// TenantByName returns the tenant called name; ErrNoTenant if none.
	TenantByName(ctx context.Context, name string) (Tenant, error)
	// Tenants returns every tenant, ordered by name.
	Tenants(ctx context.Context) ([]Tenant, error)
}

// Recovery is what a space reads and repairs when it opens.
type Recovery interface {
	// LoadHead returns the tenant's epoch, head seq and the highest seq in its change
	// log (0 if empty); ErrNoTenant if none.
	LoadHead(ctx context.Context, id string) (epoch string, head, maxSeq int64, err error)
	// SetHead sets the tenant's epoch and head seq (a new epoch at recovery).
	SetHead(ctx context.Context, id, epoch string, head int64) error
	// Usage returns the bytes of the tenant's files and its number of entries.
	Usage(ctx context.Context, id string) (used, entries int64, err error)
	// VersionIDs returns the ids of every version the index keeps of the tenant.
	VersionIDs(ctx context.Context, id string) ([]string, error)
	// DeleteVersionRows forgets the tenant's versions ids (their content is gone).
	DeleteVersionRows(ctx context.Context, id string, ids []string) error
}

// FirstStep runs the first step of a write's Alongside work and returns its rest,
// never nil: a first step that returns nil gets a rest that does nothing, and so
// does one that panics (it must not), so that the index still runs the write (and,
// one that shares transactions, hands its write lock and lead over).
func FirstStep(along func() func()) (rest func()) {
	defer func() {
		if p := recover(); p != nil {
			slog.Error("index: an Alongside first step panicked: its rest does nothing", "panic", p, "stack", string(debug.Stack()))
			rest = func() {}
		}
	}()
	if rest = along(); rest == nil {
		rest = func() {}
	}
	return rest
}
