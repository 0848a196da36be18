package indextest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

// Readable is a Full index with its reads and upkeep.
type Readable interface {
	Full
	index.Reader
	index.Viewer
	index.Maintenance
	index.Chunks
	index.DirStamps
}

// RunReads runs the suite of reads against empty indexes made by newIndex.
func RunReads(t *testing.T, newIndex func(t *testing.T) Readable) {
	t.Run("LookupAndTrees", func(t *testing.T) { lookups(t, newIndex(t)) })
	t.Run("ChangesPages", func(t *testing.T) { changesPages(t, newIndex(t)) })
	t.Run("ListSnapshot", func(t *testing.T) { listSnapshot(t, newIndex(t)) })
	t.Run("Versions", func(t *testing.T) { versions(t, newIndex(t)) })
	t.Run("ChunkLists", func(t *testing.T) { chunkLists(t, newIndex(t)) })
	t.Run("DirStamps", func(t *testing.T) { dirStamps(t, newIndex(t)) })
}

// commit appends one event per entry (a Create of it) and puts the entries.
func commit(t *testing.T, x Readable, id string, o index.WriteOptions, ms ...protocol.Metadata) {
	t.Helper()
	if err := x.Write(ctx, id, o, func(tx index.Tx) error {
		for _, m := range ms {
			_, seq := tx.Head()
			m.Seq = seq + 1
			if err := tx.Append(event(m.Seq, m.Path), 0, time.Now()); err != nil {
				return err
			}
			if err := tx.PutEntry(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func paths(es []*index.Entry) string {
	var out []string
	for _, e := range es {
		out = append(out, e.Path)
	}
	return fmt.Sprint(out)
}

func lookups(t *testing.T, x Readable) {
	if err := x.CreateTenant(ctx, index.Tenant{Name: "t", ID: "id"}, "e"); err != nil {
		t.Fatal(err)
	}
	commit(t, x, "id", index.WriteOptions{}, protocol.Metadata{Path: "Dir", IsDirectory: true},
		protocol.Metadata{Path: "Dir/a", Size: 1}, protocol.Metadata{Path: "Dir/s", IsDirectory: true},
		protocol.Metadata{Path: "Dir/s/b", Size: 2}, protocol.Metadata{Path: "Dir0", Size: 3})
	e, err := x.Lookup(ctx, "id", "dir/A")
	if err != nil || e == nil || e.Path != "Dir/a" || e.Size != 1 || e.Seq != 2 {
		t.Fatalf("lookup under folding: %+v %v", e, err)
	}
	if e, err := x.Lookup(ctx, "id", "nothing"); e != nil || err != nil {
		t.Fatalf("lookup of a missing path: %+v %v", e, err)
	}
	many, err := x.LookupMany(ctx, "id", []string{"DIR", "dir/s/B", "none"})
	if err != nil || len(many) != 2 || many["dir"] == nil || many["dir/s/b"] == nil || many["dir/s/b"].Path != "Dir/s/b" {
		t.Fatalf("lookup many: %v %v", many, err)
	}
	for _, c := range []struct {
		got  func() ([]*index.Entry, error)
		want string
	}{
		{func() ([]*index.Entry, error) { return x.Children(ctx, "id", "Dir") }, "[Dir/a Dir/s]"},
		{func() ([]*index.Entry, error) { return x.Children(ctx, "id", "") }, "[Dir Dir0]"},
		{func() ([]*index.Entry, error) { return x.Subtree(ctx, "id", "Dir") }, "[Dir/a Dir/s Dir/s/b]"},
		{func() ([]*index.Entry, error) { return x.Subtree(ctx, "id", "") }, "[Dir Dir/a Dir/s Dir/s/b Dir0]"},
	} {
		es, err := c.got()
		if err != nil {
			t.Fatal(err)
		}
		// Children has no order: compare sorted.
		if got := paths(sorted(es)); got != c.want {
			t.Errorf("got %s, want %s", got, c.want)
		}
	}
	oldest, head, err := x.ChangeBounds(ctx, "id")
	if err != nil || oldest != 1 || head != 5 {
		t.Fatalf("bounds %d %d %v", oldest, head, err)
	}
	for _, c := range []struct {
		p    string
		seq  int64
		want bool
	}{{"Dir/s", 3, true}, {"Dir/s", 4, false}, {"Dir", 3, true}, {"Dir", 4, false}, {"Dir0", 4, true}, {"Dir0", 5, false}, {"Dir/a", 2, false}} {
		if got, err := x.ChangedAfter(ctx, "id", c.p, c.seq); err != nil || got != c.want {
			t.Errorf("changed %s after %d: %v %v, want %v", c.p, c.seq, got, err, c.want)
		}
	}
}

func sorted(es []*index.Entry) []*index.Entry {
	out := append([]*index.Entry(nil), es...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Path < out[i].Path {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func changesPages(t *testing.T, x Readable) {
	if err := x.CreateTenant(ctx, index.Tenant{Name: "t", ID: "id"}, "e"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		commit(t, x, "id", index.WriteOptions{}, protocol.Metadata{Path: fmt.Sprintf("f%d", i), Size: 1})
	}
	for _, c := range []struct {
		since       int64
		limit       int
		seqs        string
		more        bool
		wantsOldest bool
	}{{0, 2, "[1 2]", true, true}, {2, 3, "[3 4 5]", false, true}, {4, 10, "[5]", false, true}, {5, 10, "[]", false, false}} {
		p, err := x.Changes(ctx, "id", c.since, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []int64
		for _, ev := range p.Events {
			seqs = append(seqs, ev.Seq)
		}
		if p.Epoch != "e" || p.Head != 5 || fmt.Sprint(seqs) != c.seqs && !(c.seqs == "[]" && len(seqs) == 0) || p.More != c.more ||
			(c.wantsOldest && p.Oldest != 1) {
			t.Errorf("changes since %d limit %d: %+v (seqs %v), want %s more %v", c.since, c.limit, p, seqs, c.seqs, c.more)
		}
	}
	if err := x.PruneChanges(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if p, err := x.Changes(ctx, "id", 0, 10); err != nil || p.Oldest != 4 {
		t.Fatalf("after pruning to 2 behind the head: oldest %d %v, want 4", p.Oldest, err)
	}
}

// listPages lists the tenant "id" at snapshot at in pages of n (recursively or not)
// and returns the paths, with the size of "a".
func listPages(t *testing.T, x Readable, recursive bool, at int64, n int) string {
	t.Helper()
	var all []*index.Entry
	after := ""
	for {
		var page []*index.Entry
		var next string
		var done bool
		if err := x.View(ctx, "id", func(v index.View) error {
			var err error
			page, next, done, err = v.ListPage("", recursive, at, after, n)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if done {
			break
		}
		after = next
	}
	out := paths(all)
	for _, e := range all {
		if e.Path == "a" {
			out += fmt.Sprintf(" a=%d", e.Size)
		}
	}
	return out
}

func listSnapshot(t *testing.T, x Readable) {
	if err := x.CreateTenant(ctx, index.Tenant{Name: "t", ID: "id"}, "e"); err != nil {
		t.Fatal(err)
	}
	commit(t, x, "id", index.WriteOptions{}, protocol.Metadata{Path: "a", Size: 1}, protocol.Metadata{Path: "b", Size: 1},
		protocol.Metadata{Path: "d", IsDirectory: true}, protocol.Metadata{Path: "d/x", Size: 1})
	snap := int64(4)
	// After the snapshot, with undo rows kept: b removed, c added, a replaced.
	keep := index.WriteOptions{KeepUndo: true}
	if err := x.Write(ctx, "id", keep, func(tx index.Tx) error {
		if _, _, err := tx.RemoveTree("b"); err != nil {
			return err
		}
		if err := tx.PutEntry(protocol.Metadata{Path: "c", Size: 9, Seq: 5}); err != nil {
			return err
		}
		return tx.PutEntry(protocol.Metadata{Path: "a", Size: 7, Seq: 5})
	}); err != nil {
		t.Fatal(err)
	}
	list := func(recursive bool, at int64, n int) string {
		t.Helper()
		return listPages(t, x, recursive, at, n)
	}
	for _, c := range []struct {
		recursive bool
		at        int64
		n         int
		want      string
	}{
		{false, snap, 1, "[a b d] a=1"}, {true, snap, 2, "[a b d d/x] a=1"},
		{true, 5, 100, "[a c d d/x] a=7"}, {false, 5, 1, "[a c d] a=7"},
	} {
		if got := list(c.recursive, c.at, c.n); got != c.want {
			t.Errorf("list recursive=%v at %d pages of %d: %s, want %s", c.recursive, c.at, c.n, got, c.want)
		}
	}
	if err := x.PruneUndo(ctx, "id", 5); err != nil {
		t.Fatal(err)
	}
	if got := list(true, snap, 100); got != "[a c d d/x] a=7" {
		t.Errorf("after pruning the undo rows the snapshot reads the current state: %s", got)
	}
	if err := x.View(ctx, "id", func(v index.View) error {
		e, err := v.Lookup("C")
		if err != nil || e == nil || e.Size != 9 {
			return fmt.Errorf("view lookup: %+v %v", e, err)
		}
		epoch, head, err := v.Head()
		if err != nil || epoch != "e" || head != 4 {
			return fmt.Errorf("view head %q %d %v (the write appended no event)", epoch, head, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func versions(t *testing.T, x Readable) {
	for _, id := range []string{"id", "id2"} {
		if err := x.CreateTenant(ctx, index.Tenant{Name: "t" + id, ID: id}, "e"); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Unix(1000, 0)
	if err := x.Write(ctx, "id", index.WriteOptions{}, func(tx index.Tx) error {
		for i, v := range []struct {
			id, path string
			deleted  bool
		}{{"v1", "d/F", false}, {"v2", "d/f", true}, {"v3", "g", true}, {"v4", "h", true}} {
			at := t0.Add(time.Duration(i) * time.Second)
			if err := tx.AddVersion(v.id, protocol.Metadata{Path: v.path, Size: int64(i), Hash: v.id, Modified: t0}, at, v.deleted); err != nil {
				return err
			}
		}
		return tx.PutEntry(protocol.Metadata{Path: "h", Size: 1}) // h exists again
	}); err != nil {
		t.Fatal(err)
	}
	vs, err := x.Versions(ctx, "id", "D/F", time.Time{})
	if err != nil || len(vs) != 2 || vs[0].ID != "v2" || vs[1].ID != "v1" {
		t.Fatalf("versions of d/f (by fold key, newest first): %+v %v", vs, err)
	}
	if vs, err := x.Versions(ctx, "id", "d/f", t0.Add(time.Second)); err != nil || len(vs) != 1 {
		t.Fatalf("versions since t0+1s: %+v %v", vs, err)
	}
	del, _, done, err := x.DeletedPage(ctx, "id", "", time.Time{}, "", 100)
	if err != nil || !done || len(del) != 2 || del[0].Path != "d/f" || del[0].Version != "v2" || del[1].Path != "g" {
		t.Fatalf("deleted: %+v %v %v (h exists again)", del, done, err)
	}
	if m, err := x.Version(ctx, "id", "v3", "G"); err != nil || m.Hash != "v3" || m.Size != 2 || !m.Modified.Equal(t0) {
		t.Fatalf("version v3: %+v %v", m, err)
	}
	if _, err := x.Version(ctx, "id", "v3", "other"); !errors.Is(err, index.ErrNoVersion) {
		t.Fatalf("version under another path: %v", err)
	}
	old, err := x.OldestVersions(ctx, "", t0.Add(2*time.Second), 10)
	if err != nil || len(old) != 2 || old[0].ID != "v1" || old[0].TenantName != "tid" {
		t.Fatalf("oldest before t0+2s: %+v %v", old, err)
	}
	if old, err := x.OldestVersions(ctx, "id2", time.Time{}, 10); err != nil || len(old) != 0 {
		t.Fatalf("the other tenant's versions: %+v %v", old, err)
	}
	if err := x.DeleteVersions(ctx, old); err != nil {
		t.Fatal(err)
	}
	if ids, err := x.VersionIDs(ctx, "id"); err != nil || len(ids) != 2 {
		t.Fatalf("versions left %v %v, want v3 v4", ids, err)
	}
	deletedPages(t, x, t0)
}

// deletedPages: DeletedPage gives at most n paths a page, each once (its newest
// deleted version) across pages, in fold-key order, and stops at the end.
func deletedPages(t *testing.T, x Readable, t0 time.Time) {
	if err := x.Write(ctx, "id2", index.WriteOptions{}, func(tx index.Tx) error {
		for i := range 12 {
			p := fmt.Sprintf("del/%02d", i)
			n := 1
			if i == 2 {
				n = 3 // three versions of del/02, the newest last
			}
			for j := range n {
				at := t0.Add(time.Duration(10*i+j) * time.Second)
				if err := tx.AddVersion(fmt.Sprintf("w%d-%d", i, j), protocol.Metadata{Path: p, Size: int64(j), Hash: "h", Modified: t0}, at, true); err != nil {
					return err
				}
			}
		}
		// Outside the subtree by path, though its fold key lies inside "del/".
		if err := tx.AddVersion("case", protocol.Metadata{Path: "Del/zz", Hash: "h", Modified: t0}, t0, true); err != nil {
			return err
		}
		return tx.AddVersion("out", protocol.Metadata{Path: "else", Hash: "h", Modified: t0}, t0, true)
	}); err != nil {
		t.Fatal(err)
	}
	var got []string
	after, pages := "", 0
	for done := false; !done; pages++ {
		page, next, d, err := x.DeletedPage(ctx, "id2", "del", time.Time{}, after, 2)
		if err != nil || len(page) > 2 || pages > 20 {
			t.Fatalf("page after %q: %d paths, %v (page %d)", after, len(page), err, pages)
		}
		for _, e := range page {
			got = append(got, e.Path+"@"+e.Version)
		}
		after, done = next, d
	}
	want := "[del/00@w0-0 del/01@w1-0 del/02@w2-2 del/03@w3-0 del/04@w4-0 del/05@w5-0 del/06@w6-0 del/07@w7-0 del/08@w8-0 del/09@w9-0 del/10@w10-0 del/11@w11-0]"
	if fmt.Sprint(got) != want || pages < 6 {
		t.Fatalf("deleted pages (%d): %v, want %s", pages, got, want)
	}
}
