// The per-tenant sequencer: what turns commits (this node's, and other nodes' heard on
// the bus) into one ordered stream of events per tenant for the registry's listeners.

package tenants

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// fillPage is how many events one gap-fill read asks the index for.
const fillPage = 1000

// seqReadTimeout bounds each index read of the sequencer (a gap-fill page, the head
// check): a read that stalls (a stuck PostgreSQL query, a network partition that
// keeps the connection open) fails after it, is logged, and the next head check
// tries again. A catch-up holds the tenant's delivery section, which this node's
// commits of that tenant also take, so it must never wait without end. Each
// sequencer keeps its own copy (sequencer.readTimeout), which tests shorten.
const seqReadTimeout = 10 * time.Second

// HeadCheckInterval is how often, with a bus that may lose notices, the registry reads
// the heads of the tenants it delivers for, so that a lost last notice is delivered
// within about this long.
const HeadCheckInterval = time.Second

// InProcess is implemented by a Bus that carries every notice with its events, in
// publish order, and never loses one (tenants/localbus): the registry then needs no
// head check and no catch-up.
type InProcess interface {
	InProcess() bool
}

// sequencer delivers each tenant's events to the listeners once, in seq order. Every
// input passes through it: this node's commits (with their events, no index read),
// notices from the bus (a doorbell: the events are read from the index), the periodic
// head check and the bus's loss reports. Per tenant it keeps the next seq it expects;
// anything at or before the last delivered seq is dropped, and a notice or head beyond
// it makes it read the gap from the index first.
type sequencer struct {
	idx Index
	log *slog.Logger
	// readTimeout bounds each index read (seqReadTimeout; set before first use).
	readTimeout time.Duration

	mu      sync.Mutex
	tenants map[string]*tseq // by tenant id
	lis     atomic.Pointer[listeners]

	gapFills atomic.Int64 // index reads that delivered events no notice carried
	behind   atomic.Int64 // events the last head check found undelivered
}

// listeners are called with the tenant's immutable id and its name.
type listeners struct {
	events []func(id, tenant string, ev protocol.Event)
	resets []func(id, tenant, epoch string, head int64)
}

// tseq is one tenant's sequence state. mu is held while events are delivered, so each
// tenant's listeners run one at a time, in seq order.
type tseq struct {
	id, name string
	pending  atomic.Bool  // a catch-up is scheduled
	last     atomic.Int64 // seq of the last event delivered (read without mu)

	mu     sync.Mutex
	epoch  string
	space  *Space // open space whose head follows what is delivered; nil if closed
	active bool   // a space of the tenant is open here: the head check covers it
}

func newSequencer(idx Index, log *slog.Logger) *sequencer {
	s := &sequencer{idx: idx, log: log, readTimeout: seqReadTimeout, tenants: map[string]*tseq{}}
	s.lis.Store(&listeners{})
	return s
}

// listen adds an event listener and, if reset is not nil, a listener of epoch changes.
func (s *sequencer) listen(fn func(id, tenant string, ev protocol.Event), reset func(id, tenant, epoch string, head int64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.lis.Load()
	l := &listeners{events: old.events, resets: old.resets}
	if fn != nil {
		l.events = append(l.events[:len(l.events):len(l.events)], fn)
	}
	if reset != nil {
		l.resets = append(l.resets[:len(l.resets):len(l.resets)], reset)
	}
	s.lis.Store(l)
}

// get returns the tenant's state, creating it at head (epoch, seq) if create.
func (s *sequencer) get(id, name, epoch string, seq int64, create bool) *tseq {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.tenants[id]
	if st == nil && create {
		st = &tseq{id: id, name: name, epoch: epoch}
		st.last.Store(seq)
		s.tenants[id] = st
	}
	return st
}

// track starts (or resumes) delivering the tenant id from its head, loaded from the
// index when its space sp opened (sp nil: no space follows). A tenant already tracked
// in the same epoch keeps its position, so that nothing between is skipped.
func (s *sequencer) track(id, name string, sp *Space, epoch string, head int64) {
	st := s.get(id, name, epoch, head, true)
	st.mu.Lock()
	if st.epoch != epoch {
		s.reset(st, epoch, head)
	}
	st.space, st.active = sp, true
	st.mu.Unlock()
}

// untrack stops the head check of the tenant id (its space sp closed).
func (s *sequencer) untrack(id string, sp *Space) {
	st := s.get(id, "", "", 0, false)
	if st == nil {
		return
	}
	st.mu.Lock()
	if st.space == sp {
		st.space, st.active = nil, false
	}
	st.mu.Unlock()
}

// own delivers this node's commit n (events included), reading first from the index
// any gap before it (commits of other nodes not heard of yet). The committer calls it
// inside the commit section.
func (s *sequencer) own(ctx context.Context, n Notice) {
	st := s.get(n.TenantID, n.TenantName, n.Epoch, n.First-1, true)
	st.mu.Lock()
	defer st.mu.Unlock()
	s.apply(ctx, st, n, false)
}

// notice handles a notice from the bus: with its events (an in-process bus) it is
// delivered at once; a doorbell schedules a catch-up from the index unless everything
// it announces was delivered already. Notices of tenants no space is open for here are
// ignored: nobody here listens for them, and opening the space starts from the index.
func (s *sequencer) notice(n Notice) {
	st := s.get(n.TenantID, "", "", 0, false)
	if st == nil {
		return
	}
	if n.Events != nil {
		st.mu.Lock()
		s.apply(context.Background(), st, n, true)
		st.mu.Unlock()
		return
	}
	st.mu.Lock()
	seen := n.Epoch == st.epoch && n.Last <= st.last.Load()
	st.mu.Unlock()
	if !seen {
		s.schedule(st)
	}
}

// apply delivers n's events after any gap before them. st.mu is held.
func (s *sequencer) apply(ctx context.Context, st *tseq, n Notice, fromBus bool) {
	if n.Epoch != st.epoch {
		if fromBus {
			s.catchUp(ctx, st) // the index says which epoch is current
			return
		}
		s.reset(st, n.Epoch, n.First-1)
	}
	if n.Last <= st.last.Load() {
		return
	}
	if n.First > st.last.Load()+1 {
		s.fill(ctx, st, n.First-1)
		if st.epoch != n.Epoch {
			return
		}
	}
	l := s.lis.Load()
	for i := range n.Events {
		if n.Events[i].Seq == st.last.Load()+1 {
			s.deliver(l, st, n.Events[i])
		}
	}
	st.advanceSpace()
}

// deliver hands ev to every listener, the open space's head moved to ev first: a
// listener handed event N finds Head at N or later, as for this node's commits (the
// committer moves the head before it delivers), so that a subscriber acknowledged
// at Head between two deliveries is not promised an event already handed out.
// st.mu is held.
func (s *sequencer) deliver(l *listeners, st *tseq, ev protocol.Event) {
	st.last.Store(ev.Seq)
	st.advanceSpace()
	for _, fn := range l.events {
		fn(st.id, st.name, ev)
	}
}

// reset moves the tenant to epoch at head and tells the reset listeners: what was
// delivered belongs to another history. st.mu is held.
func (s *sequencer) reset(st *tseq, epoch string, head int64) {
	if st.epoch != "" {
		s.log.Info("tenant epoch changed", "tenant", st.name, "epoch", epoch, "head", head)
	}
	st.epoch = epoch
	st.last.Store(head)
	// The space first: a subscriber closed by the listeners and resuming at once must
	// find the new epoch, not be acknowledged in the old one.
	st.advanceSpace()
	for _, fn := range s.lis.Load().resets {
		fn(st.id, st.name, epoch, head)
	}
}

// fill delivers from the index the events after the last delivered one up to upto
// (0: up to the head). st.mu is held.
func (s *sequencer) fill(ctx context.Context, st *tseq, upto int64) {
	l := s.lis.Load()
	for {
		since := st.last.Load()
		limit := fillPage
		if upto > 0 {
			if since >= upto {
				return
			}
			limit = int(min(upto-since, fillPage))
		}
		page, err := s.readChanges(ctx, st.id, since, limit)
		if err != nil {
			s.log.Warn("fill change gap", "tenant", st.name, "since", since, "err", err)
			return
		}
		if page.Epoch != st.epoch {
			s.reset(st, page.Epoch, page.Head)
			return
		}
		if page.Head <= since {
			return
		}
		if len(page.Events) == 0 || page.Events[0].Seq != since+1 {
			// The log no longer holds the gap: the listeners cannot be given it.
			s.log.Warn("change gap no longer in the log", "tenant", st.name, "since", since, "oldest", page.Oldest)
			s.reset(st, page.Epoch, page.Head)
			return
		}
		s.gapFills.Add(1)
		for _, ev := range page.Events {
			if ev.Seq == st.last.Load()+1 && (upto == 0 || ev.Seq <= upto) {
				s.deliver(l, st, ev)
			}
		}
		if !page.More {
			return
		}
	}
}

// readChanges is idx.Changes bounded by s.readTimeout.
func (s *sequencer) readChanges(ctx context.Context, id string, since int64, limit int) (index.ChangesPage, error) {
	ctx, cancel := context.WithTimeout(ctx, s.readTimeout)
	defer cancel()
	return s.idx.Changes(ctx, id, since, limit)
}

// catchUp delivers everything up to the index's head. st.mu is held.
func (s *sequencer) catchUp(ctx context.Context, st *tseq) {
	s.fill(ctx, st, 0)
	st.advanceSpace()
}

// catchUpNow runs a catch-up of the tenant id in the caller's goroutine (Space.CatchUp).
func (s *sequencer) catchUpNow(ctx context.Context, id string) {
	st := s.get(id, "", "", 0, false)
	if st == nil {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s.catchUp(ctx, st)
}

// schedule runs a catch-up of st in its own goroutine, unless one is already waiting.
func (s *sequencer) schedule(st *tseq) {
	if !st.pending.CompareAndSwap(false, true) {
		return
	}
	go func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		st.pending.Store(false)
		s.catchUp(context.Background(), st)
	}()
}

// lost catches every active tenant up: the bus may have lost notices.
func (s *sequencer) lost() {
	for _, st := range s.active() {
		s.schedule(st)
	}
}

func (s *sequencer) active() []*tseq {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*tseq, 0, len(s.tenants))
	for _, st := range s.tenants {
		st.mu.Lock()
		if st.active {
			out = append(out, st)
		}
		st.mu.Unlock()
	}
	return out
}

// checkHeads reads the heads of the active tenants and catches up those whose head is
// beyond what was delivered (a lost last notice) or in another epoch.
func (s *sequencer) checkHeads(ctx context.Context) {
	act := s.active()
	if len(act) == 0 {
		return
	}
	ids := make([]string, len(act))
	for i, st := range act {
		ids[i] = st.id
	}
	rctx, cancel := context.WithTimeout(ctx, s.readTimeout)
	heads, err := readHeads(rctx, s.idx, ids)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("head check", "err", err)
		}
		return
	}
	var behind int64
	for _, st := range act {
		h, ok := heads[st.id]
		if !ok {
			continue
		}
		st.mu.Lock()
		stale := h.Epoch != st.epoch || h.Seq > st.last.Load()
		if h.Epoch == st.epoch && h.Seq > st.last.Load() {
			behind += h.Seq - st.last.Load()
		}
		st.mu.Unlock()
		if stale {
			s.schedule(st)
		}
	}
	s.behind.Store(behind)
}

// advanceSpace moves the open space's in-memory head to what was delivered (commits
// of other nodes, a new epoch). st.mu is held.
func (st *tseq) advanceSpace() {
	if st.space != nil {
		st.space.cm.follow(st.epoch, st.last.Load())
	}
}

// readHeads returns the heads of the tenants ids, in one query when the index can.
func readHeads(ctx context.Context, idx Index, ids []string) (map[string]index.Head, error) {
	if hr, ok := idx.(index.HeadReader); ok {
		return hr.Heads(ctx, ids)
	}
	out := make(map[string]index.Head, len(ids))
	for _, id := range ids {
		epoch, head, _, err := idx.LoadHead(ctx, id)
		if errors.Is(err, index.ErrNoTenant) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[id] = index.Head{Epoch: epoch, Seq: head}
	}
	return out, nil
}
