package pgindex

import (
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/syncspace/syncspace/sync/pathrule"
	"github.com/syncspace/syncspace/sync/protocol"
	"github.com/syncspace/syncspace/tenants/index"
)

var _ index.ExpectTx = (*writeTx)(nil)

// An expectation is a statement queued with the others that fails the transaction
// when it does not hold: it sets the locked head row's entries to -1, which the row's
// CHECK refuses (an error, so the server skips the rest of the pipeline, COMMIT
// included), and writeTx maps that constraint's name to errStale. It runs in order
// with the statements around it, so it sees what the transaction changed before it.
const staleConstraint = "tenant_heads_entries_check"

// expect queues "fail unless cond" (cond an SQL condition over $1, the tenant). It
// changes nothing when cond holds, so it does not count as a write.
func (w *writeTx) expect(cond string, a args) {
	if w.b == nil {
		w.b = &pgx.Batch{}
	}
	w.b.Queue(`UPDATE tenant_heads SET entries = -1 WHERE tenant_id = $1 AND NOT (`+cond+`)`, a...)
}

// ExpectEntry implements index.ExpectTx.
func (w *writeTx) ExpectEntry(p string, e *index.Entry) error {
	a := args{w.tid}
	fold := a.p(pathrule.FoldKey(p))
	var cond string
	switch {
	case e == nil:
		cond = `NOT EXISTS (SELECT 1 FROM tenant_entries WHERE tenant_id = $1 AND fold = ` + fold + `)`
	case e.Seq == 0:
		cond = `EXISTS (SELECT 1 FROM tenant_entries WHERE tenant_id = $1 AND fold = ` + fold + `)`
	default:
		cond = `EXISTS (SELECT 1 FROM tenant_entries WHERE tenant_id = $1 AND fold = ` + fold + ` AND seq = ` + a.p(e.Seq) + `)`
	}
	w.expect(cond+parentDir(&a, p), a)
	return nil
}

// ExpectNoFile implements index.ExpectTx.
func (w *writeTx) ExpectNoFile(p string) error {
	a := args{w.tid}
	cond := `NOT EXISTS (SELECT 1 FROM tenant_entries WHERE tenant_id = $1 AND fold = ` + a.p(pathrule.FoldKey(p)) + ` AND NOT is_dir)`
	w.expect(cond+parentDir(&a, p), a)
	return nil
}

// parentDir is " AND p's parent is a directory" ("" when p's parent is the root).
func parentDir(a *args, p string) string {
	parent := pathrule.Parent(p)
	if parent == "" {
		return ""
	}
	return ` AND EXISTS (SELECT 1 FROM tenant_entries WHERE tenant_id = $1 AND fold = ` + a.p(pathrule.FoldKey(parent)) + ` AND is_dir)`
}

// ExpectTree implements index.ExpectTx.
func (w *writeTx) ExpectTree(dir string, n, maxSeq int64) error {
	a := args{w.tid}
	under := a.under("path", dir)
	w.expect(`EXISTS (SELECT 1 FROM (SELECT count(*) AS n, coalesce(max(seq), 0) AS m FROM tenant_entries
		WHERE tenant_id = $1 AND `+under+`) s WHERE s.n = `+a.p(n)+` AND s.m = `+a.p(maxSeq)+`)`, a)
	return nil
}

// errStale is the error of a transaction whose expectation failed: another node
// changed what the caller had checked between its check and its commit.
// It is a 503 asking for a retry after a second (the retry is checked against that
// change), not a 409: a group commit whose transaction fails so commits its members
// one by one, and the writes that conflict with nothing go through, but any of them
// may still meet another node's change first.
func errStale() error {
	return staleError{protocol.Errorf(protocol.CodeUnavailable, "another node changed this part of the tree meanwhile; try again")}
}

// staleError is errStale's error: a protocol error whose Retry-After is one second.
type staleError struct{ error }

// RetryAfterSeconds implements transport/httperr's RetryAfterError.
func (staleError) RetryAfterSeconds() int { return 1 }

// Unwrap returns the protocol error.
func (e staleError) Unwrap() error { return e.error }

// Is reports index.ErrStale as one of its causes, so that a group commit can tell
// this failure from others (it commits its members one by one then).
func (staleError) Is(target error) bool { return target == index.ErrStale }

// stale reports whether err is an expectation's failure.
func stale(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.ConstraintName == staleConstraint
}
