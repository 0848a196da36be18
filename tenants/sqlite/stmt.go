package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// Prepared statements.
//
// Preparing a statement costs the pure-Go SQLite driver about as much as running a
// point query, and the read path of a GET or HEAD runs one such query per request. So
// every query of the tenants' tables goes through stmtCache: a statement is prepared
// once per Store (database/sql then prepares it once per pooled connection and keeps it) and
// reused, on the pool or, through Tx.StmtContext, inside a transaction. The cache is
// bounded: queries built for variable input (an IN list per path depth) beyond
// maxStmts run unprepared.

// maxStmts bounds the number of distinct prepared statements of a Store.
const maxStmts = 256

// stmtCache holds a Store's prepared statements by query text.
type stmtCache struct {
	db     *sql.DB
	mu     sync.RWMutex
	m      map[string]*sql.Stmt
	closed bool
}

// get returns the prepared statement of query, preparing it on first use; nil (run
// the query unprepared) when the cache is full or closed, or preparing failed (the
// unprepared run then reports the error).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	c.mu.RLock()
	st, ok := c.m[query]
	closed := c.closed
	c.mu.RUnlock()
	if ok || closed {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok || c.closed {
		return st
	}
	if len(c.m) >= maxStmts {
		return nil
	}
	st, err := c.db.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st
}

// close closes every statement; later queries run unprepared.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// Q runs queries through the statement cache, on the pool or inside a transaction.
type Q struct {
	c  *stmtCache
	tx *sql.Tx
	n  *atomic.Int64 // counts the statements run (nil: not counted)
}

// Q returns a Q on the pool.
func (r *Store) Q() Q { return Q{c: &r.stmts} }

// InTx returns a Q inside tx.
func (r *Store) InTx(tx *sql.Tx) Q { return Q{c: &r.stmts, tx: tx} }

func (d Q) stmt(ctx context.Context, query string) *sql.Stmt {
	if d.n != nil {
		d.n.Add(1)
	}
	st := d.c.get(ctx, query)
	if st != nil && d.tx != nil {
		st = d.tx.StmtContext(ctx, st)
	}
	return st
}

// QueryRowContext is sql.DB.QueryRowContext through the cache.
func (d Q) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := d.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	if d.tx != nil {
		return d.tx.QueryRowContext(ctx, query, args...)
	}
	return d.c.db.QueryRowContext(ctx, query, args...)
}

// QueryContext is sql.DB.QueryContext through the cache.
func (d Q) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := d.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	if d.tx != nil {
		return d.tx.QueryContext(ctx, query, args...)
	}
	return d.c.db.QueryContext(ctx, query, args...)
}

// ExecContext is sql.DB.ExecContext through the cache.
func (d Q) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := d.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	if d.tx != nil {
		return d.tx.ExecContext(ctx, query, args...)
	}
	return d.c.db.ExecContext(ctx, query, args...)
}
