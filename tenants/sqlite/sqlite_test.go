//go:build unix

package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestOpenCreatesPrivateWAL(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dir with space", "syncd.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	checks := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000",
		"journal_size_limit": "16777216"}
	// Check several pooled connections, not only the first.
	var conns []*sql.Conn
	for i := 0; i < 3; i++ {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		for k, want := range checks {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+k).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("conn %d: %s = %s, want %s", i, k, got, want)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	for _, side := range []string{"-wal", "-shm"} {
		if fi, err := os.Stat(path + side); err == nil && fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %v", side, fi.Mode())
		}
	}
}

func TestOpenRefusesOpenModes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		path := filepath.Join(dir, "db"+mode.String())
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		db, err := Open(ctx, path)
		if err == nil {
			db.Close()
			t.Fatalf("mode %v accepted", mode)
		}
		if !strings.Contains(err.Error(), "group or others") {
			t.Errorf("mode %v: %v", mode, err)
		}
	}
	// attacks: a symlink and a directory in place of the file
	link := filepath.Join(dir, "link.db")
	target := filepath.Join(dir, "target.db")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(ctx, link); err == nil {
		db.Close()
		t.Fatal("symlink accepted")
	}
	if db, err := Open(ctx, dir); err == nil {
		db.Close()
		t.Fatal("directory accepted")
	}
	// A path with URL-special characters must still name the file itself.
	odd := filepath.Join(dir, "a?b#c%20d.db")
	db, err := Open(ctx, odd)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(odd); err != nil {
		t.Fatalf("file not at literal path: %v", err)
	}
}

// TestConcurrentWriters runs writers on two *sql.DB handles (as syncd and syncctl do)
// and checks that none fails with SQLITE_BUSY and no write is lost.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "syncd.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.ExecContext(ctx, "CREATE TABLE c (n INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ExecContext(ctx, "INSERT INTO c VALUES (0)"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	const per = 25
	errs := make(chan error, 8*per)
	for w := 0; w < 8; w++ {
		db := a
		if w%2 == 1 {
			db = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					errs <- err
					return
				}
				var n int
				if err := tx.QueryRowContext(ctx, "SELECT n FROM c").Scan(&n); err != nil {
					tx.Rollback()
					errs <- err
					return
				}
				if _, err := tx.ExecContext(ctx, "UPDATE c SET n = ?", n+1); err != nil {
					tx.Rollback()
					errs <- err
					return
				}
				if err := tx.Commit(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRowContext(ctx, "SELECT n FROM c").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 8*per {
		t.Fatalf("n = %d, want %d (lost updates)", n, 8*per)
	}
}
