package tenants

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
	"github.com/syncspace/syncspace/tenants/sqlite"
)

func TestRegistryCreate(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	attacks := []string{"", "-lead", "UPPER", "a_b", "a.b", "../x", "a/b", "x\x00", strings.Repeat("a", 64), "é", " a", "a ", "tenants"[:0]}
	for _, n := range attacks {
		_, err := e.reg.Create(ctx, n, Options{})
		wantCode(t, err, protocol.CodeBadRequest)
	}
	_, err := e.reg.Create(ctx, "ok", Options{Quota: -1})
	wantCode(t, err, protocol.CodeBadRequest)
	_, err = e.reg.Create(ctx, e.tenant, Options{})
	wantCode(t, err, protocol.CodeConflict)
	tn, err := e.reg.Create(ctx, strings.Repeat("z", 63), Options{Quota: 10, MaxFileSize: 5, MaxEntries: 3})
	if err != nil || len(tn.ID) != 32 || tn.Quota != 10 || tn.CreatedAt.IsZero() {
		t.Fatalf("%+v %v", tn, err)
	}
	got, err := e.reg.Get(ctx, tn.Name)
	if err != nil || got != tn {
		t.Fatalf("Get %+v %v, want %+v", got, err, tn)
	}
	list, err := e.reg.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != e.tenant {
		t.Fatalf("List %+v %v", list, err)
	}
	id, err := e.reg.LookupTenant(ctx, tn.Name)
	if err != nil || id != tn.ID {
		t.Fatal(id, err)
	}
	_, err = e.reg.LookupTenant(ctx, "nobody")
	wantCode(t, err, protocol.CodeNotFound)
	_, err = e.reg.Get(ctx, "nobody")
	wantCode(t, err, protocol.CodeNotFound)
	_, err = e.reg.Space(ctx, "../t1")
	wantCode(t, err, protocol.CodeNotFound)
	for _, sub := range []string{"", "files", "versions", "tmp"} {
		fi, err := os.Stat(filepath.Join(e.dir, "tenants", tn.Name, sub))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v %v", sub, fi, err)
		}
	}
}

// TestTenantIsolation: two tenants never see each other's files or events.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	if _, err := e.reg.Create(ctx, "t2", Options{}); err != nil {
		t.Fatal(err)
	}
	sp2, err := e.reg.Space(ctx, "t2")
	if err != nil {
		t.Fatal(err)
	}
	e.put("mine", []byte("1"))
	if _, err := sp2.Stat(ctx, "mine"); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatal("t2 sees t1's file")
	}
	if _, _, err := sp2.Put(ctx, "mine", strings.NewReader("2"), PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	if string(e.read("mine")) != "1" || len(e.evs()) != 1 {
		t.Fatal("t2's write reached t1")
	}
	if _, s := sp2.Head(); s != 1 {
		t.Fatalf("t2 head %d", s)
	}
}

// TestOtherProcess: a second registry on the same database file (syncctl in local
// mode) creates and deletes tenants; the first (syncd, running Run) sees it within 1 s.
func TestOtherProcess(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.reg.Run(ctx)
	must(t, e.reg.StartWatchers(ctx))

	db2, err := sqlite.Open(ctx, filepath.Join(e.dir, "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	ctl, err := openRegistry(ctx, db2, e.dir, Limits{}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	nt, err := ctl.Create(ctx, "fresh", Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.reg.LookupTenant(ctx, "fresh")
	if err != nil || id != nt.ID {
		t.Fatalf("lookup of a tenant made by another process: %v %v", id, err)
	}
	// A hand-copied file in the new tenant is picked up by syncd's watcher.
	must(t, os.WriteFile(filepath.Join(e.dir, "tenants", "fresh", "files", "hello.txt"), []byte("hi"), 0o600))
	waitFor(t, 20*time.Second, "watcher on a tenant created by another process", func() bool {
		sp, err := e.reg.Space(ctx, "fresh")
		if err != nil {
			return false
		}
		_, err = sp.Stat(ctx, "hello.txt")
		return err == nil
	})

	// Deletion by the other process: the space closes, lookups fail, files are gone.
	sp := e.sp
	start := time.Now()
	must(t, ctl.Delete(ctx, e.tenant))
	waitFor(t, time.Second, "deletion seen", func() bool {
		_, err := e.reg.LookupTenant(ctx, e.tenant)
		return protocol.CodeOf(err) == protocol.CodeNotFound && sp.isClosed()
	})
	t.Logf("deletion seen after %v", time.Since(start))
	_, _, err = sp.Put(ctx, "x", strings.NewReader("x"), PutOptions{Size: 1})
	wantCode(t, err, protocol.CodeNotFound)
	if _, err := os.Stat(filepath.Join(e.dir, "tenants", e.tenant)); !os.IsNotExist(err) {
		t.Fatal("tenant files left")
	}
	// Recreated under the same name: a new id, an empty space.
	t2, err := ctl.Create(ctx, e.tenant, Options{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "recreated tenant", func() bool {
		id, err := e.reg.LookupTenant(ctx, e.tenant)
		return err == nil && id == t2.ID
	})
	sp3, err := e.reg.Space(ctx, e.tenant)
	if err != nil || sp3.ID() != t2.ID {
		t.Fatal(err)
	}
	if ep, s := sp3.Head(); s != 0 || ep == "" {
		t.Fatalf("recreated tenant head %q %d", ep, s)
	}
	must(t, e.reg.Delete(ctx, "fresh"))
	err = e.reg.Delete(ctx, "fresh")
	wantCode(t, err, protocol.CodeNotFound)
}

// TestListenDoorbellNotice: a doorbell (a notice without events) for seqs already
// delivered is dropped; one for commits this node has not delivered (written to the
// index by another node) is delivered from the log, once.
func TestListenDoorbellNotice(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	for _, p := range []string{"a", "b", "c"} {
		e.put(p, []byte(p))
	}
	epoch, head := e.sp.Head()
	var mu sync.Mutex
	var got []int64
	e.reg.seq.listen(func(_, tenant string, ev protocol.Event) {
		if tenant == e.tenant {
			mu.Lock()
			got = append(got, ev.Seq)
			mu.Unlock()
		}
	}, nil)
	ctx := context.Background()
	bus := e.reg.bus.(*syncBus)
	must(t, bus.Publish(ctx, Notice{TenantID: e.sp.ID(), TenantName: e.tenant, Epoch: epoch, First: 2, Last: head}))
	// Another node's commit: straight into the index, then only the doorbell.
	must(t, e.reg.index.Write(ctx, e.sp.ID(), index.WriteOptions{}, func(tx index.Tx) error {
		ev := protocol.Event{Type: protocol.TypeFileOperation, Seq: head + 1,
			Operation: protocol.NewOperation(protocol.OpCreate, "", protocol.Metadata{Path: "d", IsDirectory: true, Seq: head + 1})}
		return tx.Append(ev, 0, time.Now())
	}))
	must(t, bus.Publish(ctx, Notice{TenantID: e.sp.ID(), TenantName: e.tenant, Epoch: epoch, First: head + 1, Last: head + 1}))
	waitFor(t, 10*time.Second, "the doorbell's event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint([]int64{head + 1}) {
		t.Fatalf("events %v, want [%d]", got, head+1)
	}
	if _, s := e.sp.Head(); s != head+1 {
		t.Fatalf("space head %d after another node's commit, want %d", s, head+1)
	}
}

// TestLookupAfterDeleteAndRecreate: the registry answers a deleted tenant as not
// found as soon as Delete returns, and a tenant created again under the same name
// with its new id, while other goroutines look it up and Run's poll re-reads the
// table: a lookup or a poll that read the table before the Delete must not put the
// tenant back into the registry's memory.
func TestLookupAfterDeleteAndRecreate(t *testing.T) {
	e := newEnv(t, Limits{}, Options{})
	ctx := context.Background()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := e.reg.refresh(ctx); err != nil {
				t.Errorf("refresh: %v", err)
			}
		}
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id, err := e.reg.LookupTenant(ctx, "gone")
				if err != nil && protocol.CodeOf(err) != protocol.CodeNotFound {
					t.Errorf("lookup: %v", err)
				}
				if err == nil && len(id) != 32 {
					t.Errorf("id %q", id)
				}
				if sp, err := e.reg.Space(ctx, "gone"); err == nil && sp.ID() == "" {
					t.Error("a space without an id")
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for round := 0; round < 20; round++ {
		tn, err := e.reg.Create(ctx, "gone", Options{})
		if err != nil {
			t.Fatal(err)
		}
		if id, err := e.reg.LookupTenant(ctx, "gone"); err != nil || id != tn.ID {
			t.Fatalf("round %d: after Create: %q %v, want %q", round, id, err, tn.ID)
		}
		if sp, err := e.reg.Space(ctx, "gone"); err != nil || sp.ID() != tn.ID {
			t.Fatalf("round %d: Space after Create: %v", round, err)
		}
		if err := e.reg.Delete(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		_, err = e.reg.LookupTenant(ctx, "gone")
		wantCode(t, err, protocol.CodeNotFound)
		_, err = e.reg.Space(ctx, "gone")
		wantCode(t, err, protocol.CodeNotFound)
		if id, err := e.reg.LookupTenant(ctx, e.tenant); err != nil || id == "" {
			t.Fatalf("another tenant lost: %q %v", id, err)
		}
	}
}

// BenchmarkTenantLookups is what an authenticated request asks the registry: auth's
// LookupTenant alone, and followed by Space, from every P at once; cpu-ns/op is the
// process's CPU time per call.
func BenchmarkTenantLookups(b *testing.B) {
	e := newEnv(b, Limits{}, Options{})
	ctx := context.Background()
	for i := range 100 { // a registry of some size
		if _, err := e.reg.Create(ctx, fmt.Sprintf("other-%d", i), Options{}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := e.reg.Space(ctx, e.tenant); err != nil {
		b.Fatal(err)
	}
	for _, withSpace := range []bool{false, true} {
		name := "LookupTenant"
		if withSpace {
			name += "+Space"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			c0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.reg.LookupTenant(ctx, e.tenant); err != nil {
						b.Error(err)
						return
					}
					if !withSpace {
						continue
					}
					if _, err := e.reg.Space(ctx, e.tenant); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}
