//go:build !windows

package ctl

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

// TestClusterNewEpoch: cluster new-epoch gives every tenant a new epoch of its own
// and keeps its head seq; it needs --config or --postgres.
func TestClusterNewEpoch(t *testing.T) {
	url := pgtest.Postgres(t)
	kek := filepath.Join(t.TempDir(), "kek")
	if err := auth.WriteKEKFile(kek); err != nil {
		t.Fatal(err)
	}
	pg := []string{"--postgres", url, "--kek-file", kek}
	run(t, append([]string{"tenant", "create", "one"}, pg...)...).must(t)
	run(t, append([]string{"tenant", "create", "two"}, pg...)...).must(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE tenant_heads SET head_seq = 7`); err != nil {
		t.Fatal(err)
	}
	heads := func() map[string]string {
		rows, err := conn.Query(ctx, `SELECT tenant_id, epoch, head_seq FROM tenant_heads`)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for rows.Next() {
			var id, epoch string
			var seq int64
			if err := rows.Scan(&id, &epoch, &seq); err != nil {
				t.Fatal(err)
			}
			if seq != 7 || len(epoch) != 32 {
				t.Errorf("tenant %s: epoch %q head %d, want a 32-character epoch at head 7", id, epoch, seq)
			}
			out[id] = epoch
		}
		if rows.Err() != nil || len(out) != 2 {
			t.Fatalf("heads %v %v", out, rows.Err())
		}
		return out
	}
	before := heads()
	res := run(t, "cluster", "new-epoch", "--postgres", url).must(t)
	if !strings.Contains(res.stdout, "new epoch for 2 tenants") {
		t.Errorf("output %q", res.stdout)
	}
	after := heads()
	seen := map[string]bool{}
	for id, e := range after {
		if e == before[id] || seen[e] {
			t.Errorf("tenant %s: epoch %q after, %q before (after: %v)", id, e, before[id], after)
		}
		seen[e] = true
	}
	if r := run(t, "cluster", "new-epoch"); r.code != ExitUsage {
		t.Errorf("without --config or --postgres: exit %d", r.code)
	}
	if r := run(t, "cluster", "new-epoch", "--postgres", url, "--data", t.TempDir()); r.code != ExitUsage {
		t.Errorf("with --data: exit %d", r.code)
	}
}
