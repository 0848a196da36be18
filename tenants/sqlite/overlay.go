package sqlite

import (
	"slices"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// jgen is the overlay: the rows of the journal tables since the last merge, by
// tenant (journal.go). Rows are added pending, before their batch commits, and a read
// takes only those up to a head it knows committed (see visible).
type jgen struct {
	mu sync.RWMutex
	t  map[string]*jten
}

// jten is one tenant's rows in the overlay.
type jten struct {
	// committed is the head its last committed batch with rows here left (0: none
	// yet): the rows up to it are committed.
	committed int64
	changes   []jchange           // in seq order
	entries   map[string][]jentry // fold key → its rows in write order
}

// jchange is a change-log row: its values in changeCols order.
type jchange struct {
	seq            int64
	op, from, path string
	vals           []any
}

// jentry is an entry row: the entry and the head of the write that put it.
type jentry struct {
	hseq   int64
	parent string
	e      index.Entry
}

func newGen() *jgen { return &jgen{t: map[string]*jten{}} }

// ten returns tenant id's rows, created if add. The caller holds g.mu (W if add).
func (g *jgen) ten(id string, add bool) *jten {
	t := g.t[id]
	if t == nil && add {
		t = &jten{entries: map[string][]jentry{}}
		g.t[id] = t
	}
	return t
}

// add adds the rows of a stage's flush as pending: changes in changeCols order
// (changeWidth values a row), entries in entryCols9 order (entryWidth a row), hseqs
// the head of the write of each entry row. It raises each tenant's seq in heads to
// the highest it added.
func (g *jgen) add(changes, entries []any, hseqs []int64, heads map[string]int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := 0; i+changeWidth <= len(changes); i += changeWidth {
		v := slices.Clip(slices.Clone(changes[i : i+changeWidth]))
		id, seq := v[0].(string), v[1].(int64)
		t := g.ten(id, true)
		t.changes = append(t.changes, jchange{seq: seq, op: v[2].(string), from: v[3].(string), path: v[4].(string), vals: v})
		heads[id] = max(heads[id], seq)
	}
	for i, k := 0, 0; i+entryWidth <= len(entries); i, k = i+entryWidth, k+1 {
		v := entries[i : i+entryWidth]
		id, fold := v[0].(string), v[1].(string)
		t := g.ten(id, true)
		e := index.Entry{Path: v[2].(string), IsDir: v[4].(bool), Size: v[5].(int64), Hash: v[6].(string), Seq: v[8].(int64)}
		e.Modified = unixNano(v[7].(int64))
		t.entries[fold] = append(t.entries[fold], jentry{hseq: hseqs[k], parent: v[3].(string), e: e})
		heads[id] = max(heads[id], hseqs[k])
	}
}

// commit marks the rows up to each tenant's head in heads committed.
func (g *jgen) commit(heads map[string]int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, h := range heads {
		if t := g.t[id]; t != nil {
			t.committed = max(t.committed, h)
		}
	}
}

// drop removes the pending rows of the tenants in heads (their batch failed).
func (g *jgen) drop(heads map[string]int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id := range heads {
		t := g.t[id]
		if t == nil {
			continue
		}
		n := len(t.changes)
		for n > 0 && t.changes[n-1].seq > t.committed {
			n--
		}
		// Clipped: a later append must not write over what an earlier reader holds.
		t.changes = slices.Clip(t.changes[:n])
		for fold, rows := range t.entries {
			k := len(rows)
			for k > 0 && rows[k-1].hseq > t.committed {
				k--
			}
			if k == 0 {
				delete(t.entries, fold)
			} else {
				t.entries[fold] = slices.Clip(rows[:k])
			}
		}
		if len(t.changes) == 0 && len(t.entries) == 0 {
			delete(g.t, id)
		}
	}
}

// head returns h, or the tenant's committed head if h < 0. The caller holds g.mu.
func (t *jten) head(h int64) int64 {
	if h < 0 {
		return t.committed
	}
	return h
}

// entry returns the row of fold visible at head h (h < 0: the committed one).
// The caller holds g.mu.
func (t *jten) entry(fold string, h int64) (jentry, bool) {
	h = t.head(h)
	rows := t.entries[fold]
	for k := len(rows) - 1; k >= 0; k-- {
		if rows[k].hseq <= h {
			return rows[k], true
		}
	}
	return jentry{}, false
}

// lookup returns tenant id's entry of fold at head h (h < 0: committed), a copy.
func (g *jgen) lookup(id, fold string, h int64) (*index.Entry, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	t := g.t[id]
	if t == nil {
		return nil, false
	}
	r, ok := t.entry(fold, h)
	if !ok {
		return nil, false
	}
	e := r.e
	return &e, true
}

// entries returns tenant id's entries visible at head h (h < 0: committed) that
// match, and the fold keys of all its visible entries (nil if it has none): a row of
// the tables with one of those keys is replaced by the overlay's.
func (g *jgen) entries(id string, h int64, match func(path, parent string) bool) ([]*index.Entry, map[string]bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	t := g.t[id]
	if t == nil || len(t.entries) == 0 {
		return nil, nil
	}
	var out []*index.Entry
	folds := make(map[string]bool, len(t.entries))
	for fold := range t.entries {
		r, ok := t.entry(fold, h)
		if !ok {
			continue
		}
		folds[fold] = true
		if match(r.e.Path, r.parent) {
			e := r.e
			out = append(out, &e)
		}
	}
	return out, folds
}

// changes returns tenant id's events after since up to head h (h < 0: committed),
// at most n, in seq order.
func (g *jgen) changes(id string, since, h int64, n int) []protocol.Event {
	g.mu.RLock()
	defer g.mu.RUnlock()
	t := g.t[id]
	if t == nil {
		return nil
	}
	h = t.head(h)
	var out []protocol.Event
	for _, c := range t.changes {
		if len(out) == n || c.seq > h {
			break
		}
		if c.seq > since {
			ev, _ := scanEvent(valScanner{c.vals[1], c.vals[2], c.vals[3], c.vals[4], c.vals[5], c.vals[6], c.vals[7], c.vals[8], c.vals[9], c.vals[10], c.vals[12]})
			out = append(out, ev)
		}
	}
	return out
}

// bounds returns tenant id's first and last seq up to head h (h < 0: committed);
// 0, 0 if none.
func (g *jgen) bounds(id string, h int64) (first, last int64) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	t := g.t[id]
	if t == nil {
		return 0, 0
	}
	h = t.head(h)
	for _, c := range t.changes {
		if c.seq > h {
			break
		}
		if first == 0 {
			first = c.seq
		}
		last = c.seq
	}
	return first, last
}

// changedAfter reports whether a committed event of tenant id after seq touched p or
// a path under it, or deleted or moved an ancestor of p (index.Reader.ChangedAfter).
func (g *jgen) changedAfter(id, p string, seq int64) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	t := g.t[id]
	if t == nil {
		return false
	}
	for _, c := range t.changes {
		if c.seq > t.committed {
			break
		}
		if c.seq <= seq {
			continue
		}
		if pathrule.Within(c.path, p) || pathrule.Within(c.from, p) {
			return true
		}
		if (c.op == protocol.OpDelete || c.op == protocol.OpMove) && (ancestor(c.path, p) || ancestor(c.from, p)) {
			return true
		}
	}
	return false
}

// under reports whether path lies strictly under dir (dir "" = the root).
func under(path, dir string) bool { return path != dir && pathrule.Within(path, dir) }

// ancestor reports whether a is a directory above p (never the root).
func ancestor(a, p string) bool { return a != "" && under(p, a) }

// unixNano is a stored time.
func unixNano(n int64) time.Time { return time.Unix(0, n).UTC() }

// valScanner scans stored values (string, int64, bool) as a row would.
type valScanner []any

func (v valScanner) Scan(dest ...any) error {
	for i, d := range dest {
		switch d := d.(type) {
		case *string:
			*d = v[i].(string)
		case *int64:
			*d = v[i].(int64)
		case *bool:
			*d = v[i].(bool)
		}
	}
	return nil
}
