package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncspace/syncspace/tenants/index"
)

func newBatcher(t *testing.T) (*txBatcher, *sql.DB) {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return &txBatcher{db: db, wmu: &sync.Mutex{}, stmts: &stmtCache{db: db}}, db
}

// insert is a job that inserts k by a statement of its own (in its savepoint).
func insert(k string) func(j *jobTx) error {
	return func(j *jobTx) error {
		if err := j.change(); err != nil {
			return err
		}
		_, err := j.tx.Exec(`INSERT INTO t (k) VALUES (?)`, k)
		return err
	}
}

func rows(t *testing.T, db *sql.DB) map[string]bool {
	t.Helper()
	rs, err := db.Query(`SELECT k FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	got := map[string]bool{}
	for rs.Next() {
		var k string
		rs.Scan(&k)
		got[k] = true
	}
	return got
}

// TestTxBatcher: jobs queued while the write lock is held commit together in one
// transaction; a failing, a panicking and a constraint-violating job are rolled back
// alone (their savepoint) and the others still commit.
func TestTxBatcher(t *testing.T) {
	b, db := newBatcher(t)
	ctx := context.Background()
	if err := b.run(ctx, index.WriteOptions{}, insert("dup")); err != nil {
		t.Fatal(err)
	}
	before := b.batches.Load()

	errBoom := errors.New("boom")
	jobs := map[string]func(j *jobTx) error{
		"a": insert("a"),
		"b": insert("b"),
		"fails": func(j *jobTx) error {
			if err := insert("fails")(j); err != nil {
				return err
			}
			return errBoom
		},
		"panics": func(j *jobTx) error {
			insert("panics")(j)
			panic("bad job")
		},
		"dup": insert("dup"), // unique constraint
		"c":   insert("c"),
	}
	b.wmu.Lock() // a commit "in progress": everything below queues
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := map[string]error{}
	for name, fn := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.run(ctx, index.WriteOptions{}, fn)
			mu.Lock()
			errs[name] = err
			mu.Unlock()
		}()
	}
	waitPending(t, b, len(jobs))
	b.wmu.Unlock()
	wg.Wait()

	if n := b.batches.Load() - before; n != 1 {
		t.Errorf("%d transactions for one queue, want 1", n)
	}
	for _, k := range []string{"a", "b", "c"} {
		if errs[k] != nil {
			t.Errorf("%s: %v", k, errs[k])
		}
	}
	if !errors.Is(errs["fails"], errBoom) {
		t.Errorf("fails: %v", errs["fails"])
	}
	if errs["panics"] == nil || errs["dup"] == nil {
		t.Errorf("panics: %v, dup: %v", errs["panics"], errs["dup"])
	}
	got := rows(t, db)
	want := map[string]bool{"dup": true, "a": true, "b": true, "c": true}
	if len(got) != len(want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("row %s missing: %v", k, got)
		}
	}

	// A lone failing job leaves nothing behind either.
	if err := b.run(ctx, index.WriteOptions{}, func(j *jobTx) error { insert("lone")(j); return errBoom }); !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	if rows(t, db)["lone"] {
		t.Error("lone failed job committed")
	}
}

// TestBatchConnDiscarded: the batch connection checks no foreign keys, so it must
// never go back to the pool. With a pool of one connection, the batches' connection
// is the only one; once released (here by close), the next statement on the pool
// must run on a new connection, which checks foreign keys again.
func TestBatchConnDiscarded(t *testing.T) {
	b, db := newBatcher(t)
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	fkIn := func(tx *sql.Tx) (on int, err error) {
		err = tx.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&on)
		return on, err
	}
	var inBatch int
	if err := b.run(ctx, index.WriteOptions{}, func(j *jobTx) (err error) { inBatch, err = fkIn(j.tx); return err }); err != nil {
		t.Fatal(err)
	}
	if inBatch != 0 {
		t.Fatalf("foreign_keys in a batch = %d, want 0 (the batch connection's pragmas did not run)", inBatch)
	}
	b.close()
	var onPool int
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&onPool); err != nil {
		t.Fatal(err)
	}
	if onPool != 1 {
		t.Fatalf("foreign_keys on the pool after the batches' connection was released = %d, want 1", onPool)
	}
	// After close, batches run on the pool, with its checks.
	if err := b.run(ctx, index.WriteOptions{}, func(j *jobTx) (err error) { inBatch, err = fkIn(j.tx); return err }); err != nil {
		t.Fatal(err)
	}
	if inBatch != 1 {
		t.Fatalf("foreign_keys in a batch on the pool = %d, want 1", inBatch)
	}
}

// TestTxBatcherAlongside: every job's Alongside runs exactly once — for a job that
// commits, one that fails and one that panics —, the first steps of all the batch's
// jobs before any of their rests (so that their flushes queue together), and the
// next batch does not begin
// while the previous batch's Alongside work runs; the writes queued meanwhile share
// one batch. Removing the wait on the previous batch's work fails the "next batch
// waits" part.
func TestTxBatcherAlongside(t *testing.T) {
	b, db := newBatcher(t)
	ctx := context.Background()
	errBoom := errors.New("boom")

	var mu sync.Mutex
	started := map[string]int{}
	var order []string // "q name" when a job's first step runs, "r name" its rest
	release := make(chan struct{})
	along := func(name string, hold bool) func() func() {
		return func() func() {
			mu.Lock()
			order = append(order, "q "+name)
			mu.Unlock()
			return func() {
				mu.Lock()
				started[name]++
				order = append(order, "r "+name)
				mu.Unlock()
				if hold {
					<-release
				}
			}
		}
	}
	jobs := []struct {
		name string
		fn   func(j *jobTx) error
	}{
		{"a", insert("a")},
		{"fails", func(*jobTx) error { return errBoom }},
		{"panics", func(*jobTx) error { panic("bad job") }},
	}
	// First batch: three jobs queued behind a commit "in progress"; their Alongside
	// work is held until released.
	b.wmu.Lock()
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Go(func() {
			errs[i] = b.run(ctx, index.WriteOptions{Alongside: along(j.name, true)}, j.fn)
		})
	}
	waitPending(t, b, len(jobs))
	before := b.batches.Load()
	b.wmu.Unlock()
	wg.Wait() // the batch committed; its Alongside work is still held
	if errs[0] != nil || !errors.Is(errs[1], errBoom) || errs[2] == nil {
		t.Fatalf("results %v", errs)
	}
	// Every job's first step (its flush requests queued) before any rest starts.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n == 2*len(jobs) || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	for i, ev := range order {
		if (i < len(jobs)) != strings.HasPrefix(ev, "q ") {
			t.Errorf("Alongside steps in the order %v: every first step must come before any rest", order)
			break
		}
	}
	mu.Unlock()

	// Second batch: queued while the first one's Alongside work runs, it must wait.
	var ran sync.WaitGroup
	second := make([]error, 2)
	for i, k := range []string{"b", "c"} {
		ran.Go(func() { second[i] = b.run(ctx, index.WriteOptions{Alongside: along(k, false)}, insert(k)) })
	}
	waitPending(t, b, 2) // both queued: the leader has not taken its batch
	time.Sleep(50 * time.Millisecond)
	if rows(t, db)["b"] || rows(t, db)["c"] {
		t.Fatal("the next batch began while the previous batch's Alongside work ran")
	}
	close(release)
	ran.Wait()
	if second[0] != nil || second[1] != nil {
		t.Fatalf("second batch: %v", second)
	}
	got := rows(t, db)
	if !got["a"] || !got["b"] || !got["c"] || got["fails"] || got["panics"] {
		t.Errorf("rows %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"a", "fails", "panics", "b", "c"} {
		if started[k] != 1 {
			t.Errorf("%s: Alongside started %d times, want 1", k, started[k])
		}
	}
	if n := b.batches.Load() - before; n != 2 {
		t.Errorf("%d transactions for the three jobs and the two queued behind them, want 2", n)
	}
}

func waitPending(t *testing.T, b *txBatcher, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		got := len(b.pending)
		b.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTxBatcherFirstStepPanics: a job's Alongside first step that panics does not
// leave the write lock or the lead held: the batch commits, and the next write runs.
func TestTxBatcherFirstStepPanics(t *testing.T) {
	b, db := newBatcher(t)
	ctx := context.Background()
	if err := b.run(ctx, index.WriteOptions{Alongside: func() func() { panic("first step") }}, insert("p")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.run(ctx, index.WriteOptions{}, insert("next")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next write never ran: the panicking leader kept the write lock and the lead")
	}
	if got := rows(t, db); !got["p"] || !got["next"] {
		t.Errorf("rows %v", got)
	}
}
