package tenants

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncspace/syncspace/sync/protocol"
)

// fakeDisk is a free-space probe over a disk of a fixed capacity whose use is the
// bytes of the regular files under DATA/tenants: temp files, current files and
// versions all count as they are written and removed, as they would on a real disk.
type fakeDisk struct {
	dir      string
	mu       sync.Mutex
	capacity int64
	calls    atomic.Int64 // free's calls
}

func (d *fakeDisk) used() int64 {
	var n int64
	filepath.WalkDir(filepath.Join(d.dir, "tenants"), func(_ string, de fs.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			if fi, err := de.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func (d *fakeDisk) free() (uint64, error) {
	d.calls.Add(1)
	d.mu.Lock()
	c := d.capacity
	d.mu.Unlock()
	return uint64(max(c-d.used(), 0)), nil
}

// setFree sets the capacity so that free bytes are n now.
func (d *fakeDisk) setFree(n int64) {
	d.mu.Lock()
	d.capacity = d.used() + n
	d.mu.Unlock()
}

// newDiskEnv is newEnv with a fake disk and the floor min.
func newDiskEnv(t *testing.T, floor int64) (*env, *fakeDisk) {
	t.Helper()
	d := &fakeDisk{capacity: 1 << 50}
	e := newEnv(t, Limits{MinFreeDisk: floor, FreeDisk: d.free}, Options{})
	d.dir = e.dir
	return e, d
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (e *env) assertNothingStored(p string) {
	e.t.Helper()
	if _, err := e.sp.Stat(context.Background(), p); protocol.CodeOf(err) != protocol.CodeNotFound {
		e.t.Fatalf("%s stored after a refused upload: %v", p, err)
	}
	assertTmpEmpty(e.t.(*testing.T), e)
	if n := e.reg.InFlightDisk(); n != 0 {
		e.t.Fatalf("%d bytes still reserved", n)
	}
}

// TestUploadDiskFloorAttacks: uploads that would take the disk below
// limits.min_free_disk are refused with insufficient_storage and leave nothing
// behind, whether their length is declared or not (SPEC §3).
func TestUploadDiskFloorAttacks(t *testing.T) {
	const floor = 8 << 20
	e, d := newDiskEnv(t, floor)
	ctx := context.Background()
	attacks := []struct {
		name     string
		free     int64 // above the floor
		size     int   // body bytes
		declared bool
		maxRead  int64 // the body is not read beyond this
	}{
		// Unknown length passed the check with need 0 and filled the disk.
		{"chunked body crossing the floor", 3 << 20, 5 << 20, false, 4<<20 + 256<<10},
		{"chunked body far over the floor", 1 << 20, 64 << 20, false, 2<<20 + 256<<10},
		{"declared size over the floor", 3 << 20, 5 << 20, true, 0},
		{"declared size one byte over", 1 << 20, 1<<20 + 1, true, 0},
		{"disk already below the floor", -1, 1, false, 0},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			d.setFree(floor + a.free)
			body := &countingReader{r: bytes.NewReader(bytes.Repeat([]byte("z"), a.size))}
			o := PutOptions{Size: -1}
			if a.declared {
				o.Size = int64(a.size)
			}
			_, _, err := e.sp.Put(ctx, "big.bin", body, o)
			wantCode(t, err, protocol.CodeInsufficientStorage)
			if n := body.n.Load(); n > a.maxRead {
				t.Errorf("read %d body bytes, want at most %d", n, a.maxRead)
			}
			e.assertNothingStored("big.bin")
		})
	}
	// What fits is stored, chunked or declared.
	for _, size := range []int64{-1, 2 << 20} {
		d.setFree(floor + 2<<20 + 1)
		if _, _, err := e.sp.Put(ctx, "fits.bin", bytes.NewReader(make([]byte, 2<<20)), PutOptions{Size: size}); err != nil {
			t.Fatalf("upload that fits (size %d): %v", size, err)
		}
	}
	if n := e.reg.InFlightDisk(); n != 0 {
		t.Fatalf("%d bytes still reserved", n)
	}
}

// TestConcurrentUploadsReserveDisk: two uploads that each fit alone but not together
// do not both pass the free-disk check: the second is refused while the first is
// still arriving, and the first completes.
func TestConcurrentUploadsReserveDisk(t *testing.T) {
	const floor = 8 << 20
	for _, declared := range []bool{true, false} {
		name := "declared"
		if !declared {
			name = "chunked"
		}
		t.Run(name, func(t *testing.T) {
			e, d := newDiskEnv(t, floor)
			ctx := context.Background()
			const size = 2 << 20
			d.setFree(floor + size + size/2)
			size1, size2 := int64(size), int64(size)
			if !declared {
				size1, size2 = -1, -1
			}
			pr, pw := io.Pipe()
			first := make(chan error, 1)
			go func() {
				_, _, err := e.sp.Put(ctx, "one.bin", pr, PutOptions{Size: size1})
				first <- err
			}()
			// The first upload is under way: part of its body has been received.
			part := size / 2
			if !declared {
				part = size - 64<<10 // two reservation steps taken
			}
			if _, err := pw.Write(make([]byte, part)); err != nil {
				t.Fatal(err)
			}
			_, _, err := e.sp.Put(ctx, "two.bin", bytes.NewReader(make([]byte, size)), PutOptions{Size: size2})
			wantCode(t, err, protocol.CodeInsufficientStorage)
			if _, err := e.sp.Stat(ctx, "two.bin"); protocol.CodeOf(err) != protocol.CodeNotFound {
				t.Fatalf("refused upload stored: %v", err)
			}
			if _, err := pw.Write(make([]byte, size-part)); err != nil {
				t.Fatal(err)
			}
			pw.Close()
			if err := <-first; err != nil {
				t.Fatalf("first upload: %v", err)
			}
			assertTmpEmpty(t, e)
			if n := e.reg.InFlightDisk(); n != 0 {
				t.Fatalf("%d bytes still reserved", n)
			}
		})
	}
}

// versionIDs returns the ids of path's kept versions, oldest first.
func versionIDs(t *testing.T, sp *Space, path string) []string {
	t.Helper()
	vs, err := sp.Versions(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := len(vs) - 1; i >= 0; i-- {
		ids = append(ids, vs[i].ID)
	}
	return ids
}

// TestLowDiskPrunesWritersVersionsFirst: when free disk falls under the floor, the
// writing tenant's oldest versions are pruned first, and only then the oldest of all
// tenants (SPEC §3): one tenant's writes do not erase another's history first.
func TestLowDiskPrunesWritersVersionsFirst(t *testing.T) {
	const floor = 8 << 20
	const vsize = 100 << 10
	e, d := newDiskEnv(t, floor)
	ctx := context.Background()
	if _, err := e.reg.Create(ctx, "t2", Options{}); err != nil {
		t.Fatal(err)
	}
	other, err := e.reg.Space(ctx, "t2")
	if err != nil {
		t.Fatal(err)
	}
	content := func(i byte) []byte { return bytes.Repeat([]byte{i}, vsize) }
	putTo := func(sp *Space, p string, data []byte) {
		t.Helper()
		if _, _, err := sp.Put(ctx, p, bytes.NewReader(data), PutOptions{Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
	}
	// t1's history is older than t2's.
	for i := range 4 {
		putTo(e.sp, "a", content(byte('a'+i)))
	}
	for i := range 4 {
		putTo(other, "b", content(byte('A'+i)))
	}
	oldA, oldB := versionIDs(t, e.sp, "a"), versionIDs(t, other, "b")
	if len(oldA) != 3 || len(oldB) != 3 {
		t.Fatalf("versions %d %d", len(oldA), len(oldB))
	}

	// t2 writes with 2.5 versions' worth missing: t2's own versions go (oldest first,
	// then more), t1's stay.
	d.setFree(floor - 2*vsize - vsize/2)
	putTo(other, "new", []byte("x"))
	if got := versionIDs(t, e.sp, "a"); len(got) != 3 {
		t.Fatalf("t1's versions pruned for t2's write while t2 had its own: %d of 3 left", len(got))
	}
	if got := versionIDs(t, other, "b"); len(got) != 0 {
		t.Fatalf("t2 kept %v", got)
	}

	// t2 has nothing left to prune: the oldest of all go next, oldest first, and no
	// more than needed.
	d.setFree(floor - vsize/2)
	putTo(other, "new2", []byte("y"))
	if got := versionIDs(t, e.sp, "a"); len(got) != 2 || got[0] != oldA[1] || got[1] != oldA[2] {
		t.Fatalf("t1 kept %v, want its two newest of %v", got, oldA)
	}

	// Nothing left to prune: a write below the floor gets 507 and changes nothing.
	d.setFree(0)
	_, _, err = other.Put(ctx, "last", bytes.NewReader([]byte("w")), PutOptions{Size: 1})
	wantCode(t, err, protocol.CodeInsufficientStorage)
	if got := versionIDs(t, e.sp, "a"); len(got) != 0 {
		t.Fatalf("versions left although the disk is full: %v", got)
	}
	if _, err := other.Stat(ctx, "last"); protocol.CodeOf(err) != protocol.CodeNotFound {
		t.Fatalf("refused write stored: %v", err)
	}
	if n := e.reg.InFlightDisk(); n != 0 {
		t.Fatalf("%d bytes still reserved", n)
	}
}

// testClock is a clock that moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestFreeDiskCached: far from the floor a recent exact figure, less the bytes
// reserved since, answers the free-disk check without asking the file system; near
// the floor, or with an older figure, every check asks (and 507 comes exactly as
// without the cache).
func TestFreeDiskCached(t *testing.T) {
	const floor = 8 << 20
	e, d := newDiskEnv(t, floor)
	clock := &testClock{t: time.Now()}
	e.reg.disk.cached, e.reg.disk.now = true, clock.now
	ctx := context.Background()
	put := func(name string, size int) error {
		_, _, err := e.sp.Put(ctx, name, bytes.NewReader(bytes.Repeat([]byte{'c'}, size)), PutOptions{Size: int64(size)})
		return err
	}
	asked := func(what string, want int64, f func()) {
		t.Helper()
		before := d.calls.Load()
		f()
		if got := d.calls.Load() - before; got != want {
			t.Fatalf("%s: the free figure was asked %d times, want %d", what, got, want)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// Far from the floor: one exact figure serves the next checks.
	d.setFree(floor + freeCacheMargin + 4<<20)
	asked("first upload", 1, func() { must(put("a", 4<<10)) })
	asked("small uploads on a recent figure", 0, func() {
		for _, n := range []string{"b", "c", "d"} {
			must(put(n, 4<<10))
		}
	})
	// The bytes reserved since the figure count: 3 MiB still pass from it, the next
	// 2 MiB would not and ask again, before the body and at its check after 1 MiB
	// (and fit: the disk really has them).
	asked("3 MiB within the figure", 0, func() { must(put("e", 3<<20)) })
	asked("2 MiB past the figure", 2, func() { must(put("f", 2<<20)) })
	// An old figure is asked again, however far from the floor.
	d.setFree(floor + freeCacheMargin + 64<<20)
	clock.add(freeCacheAge + time.Millisecond)
	asked("a new figure", 1, func() { must(put("g", 4<<10)) })
	asked("on it", 0, func() { must(put("g2", 4<<10)) })
	clock.add(freeCacheAge + time.Millisecond)
	asked("after freeCacheAge", 1, func() { must(put("g3", 4<<10)) })

	// Near the floor every check asks: a disk that fills between two uploads (as
	// another program may fill it) is seen at once.
	d.setFree(floor + 1<<20)
	clock.add(freeCacheAge + time.Millisecond)
	asked("near the floor", 1, func() { must(put("h", 4<<10)) })
	d.setFree(floor + 100<<10)
	asked("near the floor again", 1, func() {
		_, _, err := e.sp.Put(ctx, "i", bytes.NewReader(make([]byte, 200<<10)), PutOptions{Size: 200 << 10})
		wantCode(t, err, protocol.CodeInsufficientStorage)
	})
	e.assertNothingStored("i")
}

// TestFreeDiskCachedConcurrent: checks racing on one cached figure never reserve
// together more than it leaves above the floor and its margin.
func TestFreeDiskCachedConcurrent(t *testing.T) {
	const floor, step, room = 1 << 30, 1 << 20, 50
	// A fixed clock: the figure stays fresh however slowly a loaded machine runs the
	// goroutines (freeCacheAge is 10 ms).
	at := time.Now()
	now := func() time.Time { return at }
	b := &diskBudget{cached: true, now: now}
	b.inflight.Store(7 << 20)
	b.reservedTotal.Store(123)
	free := func() (uint64, error) { return floor + freeCacheMargin + room*step + 7<<20, nil }
	if _, err := b.take(free); err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 4 * room {
		wg.Go(func() {
			if b.tryCached(floor, step) {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if n := ok.Load(); n == 0 || n > room {
		t.Fatalf("%d reservations of %d passed on the cached figure, want 1..%d", n, step, room)
	}
	if got, want := b.inflight.Load(), 7<<20+ok.Load()*step; got != want {
		t.Fatalf("in flight %d, want %d (refused checks must reserve nothing)", got, want)
	}
	// An upload in flight when the figure was taken still counts against it.
	b2 := &diskBudget{cached: true, now: now}
	b2.inflight.Store(room * step)
	if _, err := b2.take(free); err != nil {
		t.Fatal(err)
	}
	if b2.tryCached(floor, 8<<20) {
		t.Fatal("the figure's in-flight bytes were not subtracted")
	}
	// Without the cache (a probe in Limits) nothing passes without asking.
	b3 := &diskBudget{now: time.Now}
	if _, err := b3.take(free); err != nil {
		t.Fatal(err)
	}
	if b3.tryCached(floor, 1) {
		t.Fatal("a figure was cached although the budget is uncached")
	}
}
