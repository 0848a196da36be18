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

// Listen registers fn to be called after every committed change of every tenant, per
// tenant in seq order, through a subscription to the registry's bus. With the
// in-process bus fn runs inside the tenant's commit section: it must not block
// (enqueue and return) and must not call back into the Space.
func (r *Registry) Listen(fn func(tenant string, ev protocol.Event)) {
	r.bus.Subscribe(func(n Notice) {
		for _, ev := range r.noticeEvents(n) {
			fn(n.TenantName, ev)
		}
	}, func() {})
}

// noticeEvents returns the events of n: carried by the bus, or read from the index
// for a bus that only rings the doorbell.
func (r *Registry) noticeEvents(n Notice) []protocol.Event {
	if n.Events != nil || n.Last < n.First {
		return n.Events
	}
	ctx := context.Background()
	sp, err := r.Space(ctx, n.TenantName)
	if err != nil {
		r.log.Warn("read notified changes", "tenant", n.TenantName, "err", err)
		return nil
	}
	var out []protocol.Event
	for since := n.First - 1; since < n.Last; {
		page, err := sp.Changes(ctx, since, n.Epoch, int(n.Last-since))
		if err != nil || len(page.Events) == 0 {
			if err != nil {
				r.log.Warn("read notified changes", "tenant", n.TenantName, "err", err)
			}
			return out
		}
		for _, ev := range page.Events {
			if ev.Seq <= n.Last {
				out = append(out, ev)
			}
		}
		since = page.Seq
	}
	return out
}
