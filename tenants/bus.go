package tenants

import (
	"context"

	"github.com/syncspace/syncspace/sync/protocol"
)

// Notice is what a Bus carries: one group commit of one tenant, published after the
// commit is durable. The index stays the authority: a notice only says "the tenant's
// log now reaches Last"; a subscriber that missed First-1 fetches the gap from the
// index.
type Notice struct {
	TenantID   string
	TenantName string
	Epoch      string
	First      int64 // seq of the first event of the commit
	Last       int64 // seq of the last event of the commit (inclusive)
	// Events are the commit's events in seq order when the bus carries them (the
	// in-process bus does); nil from a doorbell bus, whose subscribers read
	// First..Last from the index.
	Events []protocol.Event
}

// Bus carries committed changes from the node that committed them to every
// subscriber: in process on a single node, over Redis or PostgreSQL LISTEN/NOTIFY in
// cluster mode. It is declared here, where it is used; adapters live in subpackages.
type Bus interface {
	// Publish announces a durable commit. It never blocks on a slow subscriber.
	Publish(ctx context.Context, n Notice) error
	// Subscribe calls onNotice for notices published after it returns, per tenant in
	// publish order as far as the transport allows, and onLoss whenever notices may
	// have been lost (a reconnect of a network bus), so that the subscriber catches
	// up from the index. stop ends the subscription.
	Subscribe(onNotice func(Notice), onLoss func()) (stop func())
	// Close releases the bus's connections.
	Close() error
}

// announce publishes this node's commit n for the other nodes. On a network bus it
// only queues n (sender.go): a commit never waits for the bus. An in-process bus is
// called at once (it hands n to its subscribers and returns).
func (r *Registry) announce(ctx context.Context, n Notice) {
	if r.send != nil {
		r.send.send(n)
		return
	}
	if err := r.bus.Publish(ctx, n); err != nil {
		if !r.busDown.Swap(true) {
			r.log.Warn("publish commit", "err", err, "tenant", n.TenantName, "first", n.First, "last", n.Last)
		}
	} else {
		r.busDown.Store(false)
	}
}

// Receiver is implemented by a network bus that knows whether its subscriptions
// are connected (tenants/redisbus, tenants/pgbus).
type Receiver interface {
	// Receiving reports whether every subscription of the bus is connected now: false
	// while one is reconnecting, or has not connected yet.
	Receiving() bool
}

// ListenByID registers fn to be called after every committed change of every tenant
// whose space is open on this node, per tenant in seq order, once each: this node's
// commits, and other nodes' heard on the bus or found by the head check (sequencer.go).
// fn runs inside the tenant's delivery section (for this node's commits, inside its
// commit section): it must not block (enqueue and return) and must not call back into
// the Space. Tenants are named by their immutable id (Tenant.ID, a token's tid), not
// their name: a tenant deleted and created again under the same name is another
// tenant, with its own seqs from 1, which a listener keyed by name could not tell
// from the first. Either function may be nil. reset is called when a tenant's
// history changes under the listeners: another node started a new epoch, or events
// they have not been given are no longer in the change log. head is where events
// continue from (the next event delivered is head+1); what was delivered before
// belongs to another history, so a live subscriber must resynchronise. Same rules for
// reset as for fn.
func (r *Registry) ListenByID(fn func(id string, ev protocol.Event), reset func(id, epoch string, head int64)) {
	var efn func(id, tenant string, ev protocol.Event)
	if fn != nil {
		efn = func(id, _ string, ev protocol.Event) { fn(id, ev) }
	}
	var rfn func(id, tenant, epoch string, head int64)
	if reset != nil {
		rfn = func(id, _, epoch string, head int64) { reset(id, epoch, head) }
	}
	r.seq.listen(efn, rfn)
}

// CatchUp delivers to the listeners, before it returns, every change of s's tenant
// that other nodes committed and this node has not delivered yet (cluster mode: read
// from the index), and moves s.Head with them, so that Head is then at least the
// index's head and epoch as of the call: a subscriber resuming here from a seq that
// another node gave it must not be told that the seq lies beyond the head. A failed
// read is logged (the head check tries again). Nothing to do on a single node.
func CatchUp(ctx context.Context, s *Space) {
	if s.reg.inProcess {
		return
	}
	s.reg.seq.catchUpNow(ctx, s.id)
}

// Stats are the registry's figures for metrics.
type Stats struct {
	// GapFills counts index reads that delivered events no bus notice carried
	// (a doorbell bus, a lost or late notice).
	GapFills int64
	// Behind is how many committed events the last head check found not yet
	// delivered here (cluster mode; 0 on one node).
	Behind int64
	// CommitCount and CommitNanos total the index write transactions of commits and
	// their time.
	CommitCount, CommitNanos int64
	// BusDown: the bus is degraded. Either this node's last publish failed and the
	// bus has not reconnected since (other nodes deliver this node's commits through
	// their head check), or its subscription is not connected (this node delivers
	// other nodes' commits through its own head check).
	BusDown bool
	// Leading: this node runs the once-only jobs.
	Leading bool
	// BlobsCollected and BlobBytesCollected total what the blob garbage collector
	// removed on this node (cluster mode, while it leads).
	BlobsCollected, BlobBytesCollected int64
	// NoticesDropped counts this node's bus notices never published (the sender's
	// queue was full or the publish failed): other nodes then deliver those commits
	// through their head check, about a second later.
	NoticesDropped int64
}

// Stats returns the registry's figures so far.
func (r *Registry) Stats() Stats {
	return Stats{GapFills: r.seq.gapFills.Load(), Behind: r.seq.behind.Load(),
		CommitCount: r.commits.Load(), CommitNanos: r.commitNanos.Load(),
		BusDown: r.busDown.Load() || !receiving(r.bus), Leading: r.leader.Leading(),
		BlobsCollected: r.gc.blobs.Load(), BlobBytesCollected: r.gc.bytes.Load(),
		NoticesDropped: r.send.droppedCount()}
}

// receiving reports whether b's subscription is connected (true for a bus that cannot
// tell).
func receiving(b Bus) bool {
	rc, ok := b.(Receiver)
	return !ok || rc.Receiving()
}

// Ping reports whether the index answers (readiness).
func (r *Registry) Ping(ctx context.Context) error { return r.index.Ping(ctx) }

// isInProcess reports whether b is a bus that loses nothing (see InProcess).
func isInProcess(b Bus) bool {
	ip, ok := b.(InProcess)
	return ok && ip.InProcess()
}
