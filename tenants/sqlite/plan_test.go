package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestChildrenPlan: the children of a directory are read through the parent index,
// not by reading every entry of the tenant (which made the disk check quadratic).
func TestChildrenPlan(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "syncd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := createSchema(ctx, db); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+childrenSQL, "t", "d")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if p := strings.Join(plan, "; "); !strings.Contains(p, "INDEX tenant_entries_parent (tenant_id=? AND parent=?)") {
		t.Fatalf("plan %q", p)
	}
}
