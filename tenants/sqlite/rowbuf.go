package sqlite

import (
	"context"
	"strings"
)

// Multi-row inserts.
//
// A write transaction's change-log rows and (outside a listing's undo keeping) its
// entry rows are queued and inserted by one statement per table, up to maxBatchRows
// rows each, instead of one statement per row: a group commit of one tenant puts
// several uploads in one Write, and each statement costs its run (binding, the
// program's start, database/sql's call path) besides its rows. Every other statement
// of the transaction, and its end, first inserts what is queued (writeTx.flush), so
// the statements see and leave the tables as row-by-row inserts would; an insert
// that fails fails the Write, as the row's own statement did.
//
// The statements are INSERT OR FAIL (and the stage's head update UPDATE OR FAIL):
// one that fails keeps the rows it wrote before the failing one, where the default
// (ABORT) undoes them, which costs SQLite a statement journal, a copy of every page
// the statement first changes (over many tenants, several pages a write:
// docs/BENCHMARKS.md, "Commits and small uploads: session 21"). The change-log insert
// and the head update then need none (TestStageStatementsCannotAbort); the entries'
// upsert still does, for the checks of its DO UPDATE branch. Nothing is kept: a
// failed statement fails its Write, whose savepoint (or, for a lone write or the
// batch's stage, the whole transaction) is rolled back.

// maxBatchRows bounds the rows of one multi-row INSERT (and so the distinct statement
// texts: one per row count).
const maxBatchRows = 16

// rowBuf queues the rows of one INSERT statement.
type rowBuf struct {
	queries []string // queries[n] inserts n rows
	cols    int
	args    []any
}

// newRowBuf returns a queue for the statement head + " VALUES " + row, row, ... + tail,
// row being cols placeholders.
func newRowBuf(head string, cols int, tail string) rowBuf {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	qs := make([]string, maxBatchRows+1)
	for n := 1; n <= maxBatchRows; n++ {
		qs[n] = head + " VALUES " + row + strings.Repeat(", "+row, n-1) + tail
	}
	return rowBuf{queries: qs, cols: cols}
}

// add queues one row of b.cols values.
func (b *rowBuf) add(vals ...any) { b.args = append(b.args, vals...) }

// flush inserts the queued rows through q and empties the queue (also on error).
func (b *rowBuf) flush(ctx context.Context, q Q) error {
	args := b.args
	b.args = b.args[:0]
	for len(args) > 0 {
		n := min(len(args)/b.cols, maxBatchRows)
		if _, err := q.ExecContext(ctx, b.queries[n], args[:n*b.cols]...); err != nil {
			return err
		}
		args = args[n*b.cols:]
	}
	return nil
}
