// Package pgindex is the tenants index of cluster mode on PostgreSQL (pgx, pgxpool),
// over the tables of tenants/pgschema, which syncd applies at start; New only checks
// that they are there.
//
// Each tenant's head row (tenant_heads: epoch, head_seq, used_bytes, entries) is the
// authority: Write locks it (SELECT … FOR UPDATE) before its function runs and updates
// it in the transaction that appends the change rows, so that seq is gapless across
// nodes and visible in seq order (a reader that sees seq N+1 sees N), and the usage
// counters are exact. A Write is one transaction of its own (tenants never share one:
// two nodes batching tenants in different orders would deadlock); its statements are
// pipelined (pgx.Batch), so a commit of any number of changes costs two round trips
// (begin and lock; the statements, the head update and COMMIT), one more for each
// RemoveTree, whose counts the caller needs at once. The statements that change
// entries move the head's counters themselves, so that nothing waits for their
// results.
//
// A node that stalls inside a Write holds its tenant's head lock until PostgreSQL ends
// its session: each Write sets idle_in_transaction_session_timeout for its own
// transaction (Options.WriteIdleTimeout), so that the other nodes wait seconds, not
// until TCP gives up.
//
// Reads run on the pool, each in one statement (one snapshot), except View, which
// holds a REPEATABLE READ transaction. Times are Unix nanoseconds, as in tenants/sqlite.
package pgindex

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options tune a Store; the zero value is the production setting.
type Options struct {
	// Logger receives repairs and warnings; nil means slog.Default().
	Logger *slog.Logger
	// MaxEntries is the server-wide entry limit of tenants whose own max_entries is 0
	// (tenants.Limits.MaxEntries); 0 means none.
	MaxEntries int64
	// NoLimits turns off Write's check of the quota and the entry limit against the
	// locked head row (see Write). Only for tools that copy data as it is.
	NoLimits bool
	// WriteIdleTimeout is how long a Write's transaction may sit idle (its node
	// stalled between two statements) before PostgreSQL ends its session and so
	// releases the tenant's head row that every node's writes wait for; 0 means
	// DefaultWriteIdleTimeout.
	WriteIdleTimeout time.Duration
}

// DefaultWriteIdleTimeout is Options.WriteIdleTimeout's default: far beyond the
// milliseconds a node spends between a Write's statements, and what a frozen or
// cut-off node costs the other nodes' writes of its tenant at most.
const DefaultWriteIdleTimeout = 10 * time.Second

// Store is the tenants index in one PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger

	chunkLists // index.Chunks (chunks.go), promoted
	dirStamps  // index.DirStamps (dirstamp.go), promoted
	undoLeases // index.UndoLeaser (undolease.go), promoted
}

// New returns the index of the database pool is connected to, after checking that its
// tables exist (tenants/pgschema applies them). The caller keeps and closes pool.
func New(ctx context.Context, pool *pgxpool.Pool, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WriteIdleTimeout <= 0 {
		o.WriteIdleTimeout = DefaultWriteIdleTimeout
	}
	var ok bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('tenant_heads') IS NOT NULL AND to_regclass('tenant_entry_undo') IS NOT NULL
		AND to_regclass('tenant_reservations') IS NOT NULL AND to_regclass('tenant_dir_stamps') IS NOT NULL
		AND EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'tenant_heads' AND column_name = 'undo_until')`).Scan(&ok); err != nil {
		return nil, fmt.Errorf("pgindex: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("pgindex: the tenants tables are missing: apply the schema migrations first")
	}
	return &Store{pool: pool, opts: o, log: o.Logger, chunkLists: chunkLists{pool}, dirStamps: dirStamps{pool},
		undoLeases: undoLeases{pool}}, nil
}

// Maintain implements index.Maintenance: PostgreSQL needs no upkeep from syncd
// (autovacuum reclaims deleted rows).
func (s *Store) Maintain(context.Context) {}

// Close implements index.Maintenance: it holds nothing of its own; the pool is the
// caller's.
func (s *Store) Close() {}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// args numbers the arguments of a query as it is written.
type args []any

// p adds v and returns its placeholder.
func (a *args) p(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// under is the condition "col lies strictly under dir" ("true" for the root). Path
// columns use the "C" collation: byte order, as the bounds assume.
func (a *args) under(col, dir string) string {
	if dir == "" {
		return "true"
	}
	return "(" + col + " > " + a.p(dir+"/") + " AND " + col + " < " + a.p(dir+"0") + ")"
}
