// Package pgstore is auth's Store on PostgreSQL, for cluster mode: the auth_* tables
// of the cluster's database (keys with their sealed private halves, token records,
// the revocation log, the append-only audit log, the recorded settings, and enrolled
// devices with their refresh secrets, kept as hashes), which every node shares. The
// schema is applied by tenants/pgschema (syncd and syncctl do
// it at start); pgstore only reads and writes it. The caller owns the pool.
//
// Times are kept as the SQLite adapter keeps them (token issue and expiry times in
// seconds, the others in Unix nanoseconds), so an import copies values unchanged.
// The revocation log is numbered from the counter row auth_revocation_head inside the
// revoking transaction, never from a sequence, whose values commit out of order: a
// node polling "Seq > last seen" misses no entry.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/auth"
)

// Store implements auth.Store on a pgx pool. Several Stores, on one node or several,
// may share one database.
type Store struct {
	pool *pgxpool.Pool
}

var _ auth.Store = (*Store)(nil)

// New returns the store on pool, after checking that the database carries the auth
// schema this adapter needs (else an error asking for the migrations).
func New(ctx context.Context, pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("auth: nil pool")
	}
	for _, q := range []string{
		`SELECT kid, public_key, private_enc, created_at, retired_at FROM auth_keys LIMIT 0`,
		`SELECT last FROM auth_revocation_head`,
		`SELECT key_dir, device_ttl FROM auth_settings LIMIT 0`,
		`SELECT device FROM auth_tokens LIMIT 0`,
		`SELECT hash, sealed FROM auth_refresh LIMIT 0`,
	} {
		rows, err := pool.Query(ctx, q)
		if err == nil {
			rows.Close()
			err = rows.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("auth: the database lacks the auth schema (apply the cluster's migrations first): %w", err)
		}
	}
	return &Store{pool: pool}, nil
}

// nanos returns t in Unix nanoseconds, or nil for a nil t.
func nanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos.
func fromNanos(n *int64) *time.Time {
	if n == nil {
		return nil
	}
	t := time.Unix(0, *n).UTC()
	return &t
}
