package pgschema_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncspace/syncspace/tenants/pgschema"
	"github.com/syncspace/syncspace/tenants/pgschema/pgtest"
)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestMigrationsNumbered(t *testing.T) {
	for i, m := range pgschema.Migrations() {
		if m.Version != i+1 || m.Name == "" || strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %d: version %d, name %q", i, m.Version, m.Name)
		}
	}
}

func TestApplyFromEmptyAndAgain(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, pgtest.Postgres(t))
	if v, err := pgschema.Version(ctx, conn); err != nil || v != 0 {
		t.Fatalf("empty database: version %d, %v", v, err)
	}
	for i := range 2 {
		if err := pgschema.Apply(ctx, conn); err != nil {
			t.Fatalf("apply #%d: %v", i+1, err)
		}
		if v, err := pgschema.Version(ctx, conn); err != nil || v != pgschema.Latest() {
			t.Fatalf("after apply #%d: version %d, %v; want %d", i+1, v, err, pgschema.Latest())
		}
	}
	var rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != pgschema.Latest() {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", rows, err, pgschema.Latest())
	}
	for _, table := range []string{"tenants", "tenant_heads", "tenant_entries", "tenant_changes",
		"tenant_versions", "tenant_entry_undo", "tenant_blobs", "jobs",
		"auth_keys", "auth_tokens", "auth_revocations", "auth_revocation_head", "auth_audit", "auth_settings"} {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing (%v)", table, err)
		}
	}
	// The lock is released: another session can take it at once.
	other := connect(t, conn.Config().ConnString())
	var got bool
	if err := other.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(0x73796e6373706163)).Scan(&got); err != nil || !got {
		t.Fatalf("advisory lock still held after Apply (%v)", err)
	}
}

func TestApplyConcurrentNodes(t *testing.T) {
	url := pgtest.Postgres(t)
	const nodes = 4
	conns := make([]*pgx.Conn, nodes)
	for i := range conns {
		conns[i] = connect(t, url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range conns {
		wg.Go(func() { errs[i] = pgschema.Apply(ctx, conns[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	var rows int
	if err := conns[0].QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != pgschema.Latest() {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", rows, err, pgschema.Latest())
	}
}

func TestApplyRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, pgtest.Postgres(t))
	if err := pgschema.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, 'from the future')`, pgschema.Latest()+1); err != nil {
		t.Fatal(err)
	}
	if err := pgschema.Apply(ctx, conn); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Apply on a newer schema: %v", err)
	}
}

// TestSchemaRules checks the rules the schema itself enforces: usage never negative,
// byte-order listings, append-only audit, cascade on tenant deletion.
func TestSchemaRules(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, pgtest.Postgres(t))
	if err := pgschema.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	mustExec(`INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'team', 1)`)
	mustExec(`INSERT INTO tenant_heads (tenant_id, epoch) VALUES ('t1', 'e1')`)
	// A quota check as one conditional UPDATE: refused rows are not updated.
	tag, err := conn.Exec(ctx, `UPDATE tenant_heads SET used_bytes = used_bytes + $2 WHERE tenant_id = $1 AND used_bytes + $2 <= $3`, "t1", 10, 5)
	if err != nil || tag.RowsAffected() != 0 {
		t.Fatalf("over-quota update: %v rows, %v", tag.RowsAffected(), err)
	}
	if _, err := conn.Exec(ctx, `UPDATE tenant_heads SET used_bytes = -1 WHERE tenant_id = 't1'`); err == nil {
		t.Error("negative used_bytes accepted")
	}
	for i, p := range []string{"b", "B", "a", "Z", "é"} {
		mustExec(`INSERT INTO tenant_entries (tenant_id, fold, path, parent, is_dir, size, hash, modified, seq)
			VALUES ('t1', $1, $2, '', false, 0, '', 0, $3)`, p+"-fold", p, i+1)
	}
	rows, err := conn.Query(ctx, `SELECT path FROM tenant_entries WHERE tenant_id = 't1' ORDER BY parent, path`)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || strings.Join(paths, ",") != "B,Z,a,b,é" {
		t.Errorf("listing order %v (%v), want byte order B,Z,a,b,é", paths, err)
	}
	mustExec(`INSERT INTO auth_audit (time, actor, action) VALUES (1, 'ops', 'tenant.create')`)
	if _, err := conn.Exec(ctx, `UPDATE auth_audit SET actor = 'x'`); err == nil {
		t.Error("audit row updated")
	}
	if _, err := conn.Exec(ctx, `DELETE FROM auth_audit`); err == nil {
		t.Error("audit row deleted")
	}
	mustExec(`DELETE FROM tenants WHERE id = 't1'`)
	var left int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM tenant_heads) + (SELECT count(*) FROM tenant_entries)`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d rows left after deleting the tenant (%v)", left, err)
	}
}
