package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants"
)

// memRegistry is a test double of the tenants registry used to inject faults the real
// store cannot produce on demand: floods of events without disk I/O (slow consumer,
// fan-out benchmark), tiny change-log retention, another epoch. Its change log
// follows SPEC's rules for seq, epoch and retention.
type memRegistry struct {
	mu        sync.Mutex
	spaces    map[string]*memSpace
	listeners []func(string, protocol.Event)
	retain    int // events kept per tenant; 0 = all
}

func newMemRegistry() *memRegistry { return &memRegistry{spaces: map[string]*memSpace{}} }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *memRegistry) create(name string) *memSpace {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &memSpace{r: r, name: name, id: randHex(8), epoch: randHex(8), files: map[string]protocol.Metadata{}}
	r.spaces[name] = s
	return s
}

func (r *memRegistry) remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.spaces, name)
}

func (r *memRegistry) space(name string) *memSpace {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spaces[name]
}

func (r *memRegistry) LookupTenant(_ context.Context, name string) (string, error) {
	if s := r.space(name); s != nil {
		return s.id, nil
	}
	return "", protocol.Errorf(protocol.CodeNotFound, "no such tenant")
}

func (r *memRegistry) Listen(fn func(string, protocol.Event)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.listeners = append(r.listeners, fn)
}

func (r *memRegistry) OpenSpace(_ context.Context, name string) (Space, error) {
	if s := r.space(name); s != nil {
		return s, nil
	}
	return nil, protocol.Errorf(protocol.CodeNotFound, "no such tenant")
}

type memSpace struct {
	r        *memRegistry
	name, id string

	mu    sync.Mutex
	epoch string
	seq   int64
	log   []protocol.Event
	files map[string]protocol.Metadata

	flushed  []string // FlushPath's paths
	flushErr error    // what FlushPath returns
}

// commit appends an event and notifies the listeners in seq order (under mu).
func (s *memSpace) commit(kind, from string, meta protocol.Metadata, src tenants.Source) int64 {
	s.seq++
	meta.Seq = s.seq
	ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: s.seq, Operation: protocol.NewOperation(kind, from, meta),
		SourceClient: src.ClientID, SourceSubject: src.Subject}
	s.log = append(s.log, ev)
	if s.r.retain > 0 && len(s.log) > s.r.retain {
		s.log = append([]protocol.Event(nil), s.log[len(s.log)-s.r.retain:]...)
	}
	s.r.mu.Lock()
	ls := s.r.listeners
	s.r.mu.Unlock()
	for _, fn := range ls {
		fn(s.id, ev)
	}
	return s.seq
}

// put stores a file with that hash (content itself is not kept).
func (s *memSpace) put(path, hash string, src tenants.Source) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	kind := protocol.OpCreate
	if _, ok := s.files[path]; ok {
		kind = protocol.OpUpdate
	}
	m := protocol.Metadata{Path: path, Size: 10, Modified: time.Unix(1700000000, 0).UTC(), Hash: hash}
	seq := s.commit(kind, "", m, src)
	m.Seq = seq
	s.files[path] = m
	return seq
}

// newEpoch forgets the history (a restore from backup).
func (s *memSpace) newEpoch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch = randHex(8)
	s.log = nil
}

func (s *memSpace) ID() string { return s.id }

func (s *memSpace) Head() (string, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch, s.seq
}

func (s *memSpace) Changes(_ context.Context, since int64, epoch string, limit int) (protocol.ChangesPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resync := protocol.Errorf(protocol.CodeResyncRequired, "resync required")
	if epoch != s.epoch && !(epoch == "" && since == 0) || since > s.seq {
		return protocol.ChangesPage{}, resync
	}
	oldest := s.seq + 1
	if len(s.log) > 0 {
		oldest = s.log[0].Seq
	}
	if since < oldest-1 {
		return protocol.ChangesPage{}, resync
	}
	page := protocol.ChangesPage{Epoch: s.epoch, Seq: since, Events: []protocol.Event{}}
	for _, ev := range s.log {
		if ev.Seq <= since {
			continue
		}
		if len(page.Events) == limit {
			page.More = true
			break
		}
		page.Events = append(page.Events, ev)
		page.Seq = ev.Seq
	}
	return page, nil
}

func (s *memSpace) Stat(_ context.Context, path string) (protocol.Metadata, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.files[path]
	if !ok {
		return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "not found")
	}
	return m, nil
}

// FlushPath records path and returns flushErr (set by tests to fail a flush).
func (s *memSpace) CatchUp(context.Context) {}

func (s *memSpace) FlushPath(_ context.Context, path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushed = append(s.flushed, path)
	return s.flushErr
}

// setFlush sets what FlushPath returns and returns the paths it was called with.
func (s *memSpace) setFlush(err error) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushErr = err
	return append([]string(nil), s.flushed...)
}

func (s *memSpace) under(dir string) []string {
	var out []string
	for p := range s.files {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

func (s *memSpace) Delete(_ context.Context, path string, o tenants.DeleteOptions) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.files[path]
	if !ok {
		return 0, protocol.Errorf(protocol.CodeNotFound, "not found")
	}
	if o.IfMatch != "" && o.IfMatch != m.Hash {
		return 0, protocol.Errorf(protocol.CodePreconditionFailed, "content changed")
	}
	kids := s.under(path)
	if len(kids) > 0 && !o.Recursive {
		return 0, protocol.Errorf(protocol.CodeConflict, "directory not empty")
	}
	for _, k := range kids {
		delete(s.files, k)
	}
	delete(s.files, path)
	return s.commit(protocol.OpDelete, "", m, o.Source), nil
}

func (s *memSpace) Mkdir(_ context.Context, path string, src tenants.Source) (protocol.Metadata, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.files[path]; ok {
		if m.IsDirectory {
			return m, false, nil
		}
		return protocol.Metadata{}, false, protocol.Errorf(protocol.CodeConflict, "a file has that path")
	}
	m := protocol.Metadata{Path: path, Modified: time.Unix(1700000000, 0).UTC(), IsDirectory: true}
	m.Seq = s.commit(protocol.OpCreate, "", m, src)
	s.files[path] = m
	return m, true, nil
}

func (s *memSpace) Move(_ context.Context, from, to, ifMatch string, src tenants.Source) (protocol.Metadata, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.files[from]
	if !ok {
		return protocol.Metadata{}, protocol.Errorf(protocol.CodeNotFound, "not found")
	}
	if ifMatch != "" && ifMatch != m.Hash {
		return protocol.Metadata{}, protocol.Errorf(protocol.CodePreconditionFailed, "content changed")
	}
	if _, ok := s.files[to]; ok {
		return protocol.Metadata{}, protocol.Errorf(protocol.CodeConflict, "target exists")
	}
	for _, k := range s.under(from) {
		km := s.files[k]
		delete(s.files, k)
		km.Path = to + strings.TrimPrefix(k, from)
		s.files[km.Path] = km
	}
	delete(s.files, from)
	m.Path = to
	m.Seq = s.commit(protocol.OpMove, from, m, src)
	s.files[to] = m
	return m, nil
}
