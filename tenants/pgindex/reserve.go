package pgindex

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/syncspace/syncspace/tenants/index"
)

// Upload reservations across nodes (index.Reserver), in tenant_reservations: one row
// per reservation, owned by a node until its lease ends; the head row's
// reserved_bytes is the sum of the tenant's rows, moved by the statement that
// inserts or deletes a row. Every statement that takes a reservation row's bytes off
// the head locks the head row first, as a commit does (Write), so none of them can
// deadlock with a commit that releases reservations.

var (
	_ index.Reserver  = (*Reservations)(nil)
	_ index.ReleaseTx = (*writeTx)(nil)
)

// DefaultLease is how long a node's reservations outlive its last renewal.
const DefaultLease = 30 * time.Second

// ReservationOptions tune Reservations; the zero value is the production setting.
type ReservationOptions struct {
	// NodeID names this node's reservations; "" means a random id. A node that
	// starts ends the reservations its id still holds.
	NodeID string
	// Lease is how long this node's reservations outlive it; 0 means DefaultLease.
	// Maintain renews them every Lease/3.
	Lease time.Duration
	// Logger receives the reservations ended for a node gone; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Reservations are one node's upload reservations (index.Reserver) in the database
// of an index (Store); its commits release them (ReleaseTx).
type Reservations struct {
	pool    *pgxpool.Pool
	opts    ReservationOptions
	log     *slog.Logger
	renewed atomic.Int64 // Unix ns of the last lease renewal
}

// NewReservations returns this node's reservations in the database pool is
// connected to, after ending those its node id still held.
func NewReservations(ctx context.Context, pool *pgxpool.Pool, o ReservationOptions) (*Reservations, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.NodeID == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		o.NodeID = "node-" + hex.EncodeToString(b[:])
	}
	s := &Reservations{pool: pool, opts: o, log: o.Logger}
	if err := s.dropOwnReservations(ctx); err != nil {
		return nil, fmt.Errorf("pgindex: %w", err)
	}
	return s, nil
}

func (s *Reservations) lease() time.Duration { return s.opts.Lease }

// Reserve implements index.Reserver in one statement: the conditional update of the
// head row (used + reserved + n within the quota) and the reservation row.
func (s *Reservations) Reserve(ctx context.Context, tenantID string, n int64) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	ct, err := s.pool.Exec(ctx, `WITH h AS (UPDATE tenant_heads h SET reserved_bytes = h.reserved_bytes + $3 FROM tenants t
			WHERE h.tenant_id = $1 AND t.id = h.tenant_id AND (t.quota <= 0 OR h.used_bytes + h.reserved_bytes + $3 <= t.quota)
			RETURNING h.tenant_id)
		INSERT INTO tenant_reservations (id, tenant_id, node_id, bytes, expires_at)
		SELECT $2, tenant_id, $4, $3, clock_timestamp() + make_interval(secs => $5) FROM h`,
		tenantID, id, n, s.opts.NodeID, s.lease().Seconds())
	if err != nil {
		return "", fmt.Errorf("pgindex: reserve: %w", err)
	}
	if ct.RowsAffected() == 0 {
		return "", index.ErrOverQuota
	}
	return id, nil
}

// Release implements index.Reserver.
func (s *Reservations) Release(ctx context.Context, tenantID, id string) error {
	return s.dropReservation(ctx, tenantID, id, "true")
}

// dropReservation deletes the reservation id if cond holds for it and takes its bytes
// off the head row, locked first; one round trip.
func (s *Reservations) dropReservation(ctx context.Context, tenantID, id, cond string) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(`SELECT 1 FROM tenant_heads WHERE tenant_id = $1 FOR UPDATE`, tenantID)
	b.Queue(`WITH d AS (DELETE FROM tenant_reservations WHERE id = $2 AND tenant_id = $1 AND `+cond+` RETURNING bytes)
		UPDATE tenant_heads h SET reserved_bytes = greatest(h.reserved_bytes - d.bytes, 0) FROM d WHERE h.tenant_id = $1`, tenantID, id)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		w := &writeTx{ctx: ctx, conn: conn}
		w.rollback()
		return fmt.Errorf("pgindex: release reservation: %w", err)
	}
	return nil
}

// ReleaseReservations implements index.ReleaseTx: the reservations' rows go and their
// bytes leave reserved_bytes in the commit (the head row is locked already).
func (w *writeTx) ReleaseReservations(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	w.queue(`WITH d AS (DELETE FROM tenant_reservations WHERE tenant_id = $1 AND id = ANY($2) RETURNING bytes)
		UPDATE tenant_heads SET reserved_bytes = greatest(reserved_bytes - (SELECT coalesce(sum(bytes), 0) FROM d), 0)
		WHERE tenant_id = $1 AND EXISTS (SELECT 1 FROM d)`, w.tid, ids)
	return nil
}

// dropOwnReservations ends what this node's id holds from an earlier run (a node
// restarted under a fixed node_id): a node that starts holds no reservation.
func (s *Reservations) dropOwnReservations(ctx context.Context) error {
	return s.expireReservations(ctx, "node_id = $1", s.opts.NodeID)
}

// Maintain implements index.Reserver: it pushes this node's leases forward, and ends
// the reservations of nodes whose lease ran out (they died, or lost the database for
// a lease); at most every lease/3, whatever the caller's rate.
func (s *Reservations) Maintain(ctx context.Context) {
	now := time.Now()
	if last := s.renewed.Load(); last != 0 && now.Sub(time.Unix(0, last)) < s.lease()/3 {
		return
	}
	s.renewed.Store(now.UnixNano())
	if _, err := s.pool.Exec(ctx, `UPDATE tenant_reservations SET expires_at = clock_timestamp() + make_interval(secs => $2)
		WHERE node_id = $1`, s.opts.NodeID, s.lease().Seconds()); err != nil && ctx.Err() == nil {
		s.log.Warn("renew upload reservations", "err", err)
	}
	if err := s.expireReservations(ctx, "expires_at < clock_timestamp()", ""); err != nil && ctx.Err() == nil {
		s.log.Warn("end expired upload reservations", "err", err)
	}
}

// expireReservations ends every reservation whose row matches cond (an SQL
// condition on tenant_reservations, checked again as it is deleted), each in its own
// transaction; node, if not "", is cond's $1 when it selects.
func (s *Reservations) expireReservations(ctx context.Context, cond, node string) error {
	var a []any
	if node != "" {
		a = append(a, node)
	}
	recheck := cond
	if node != "" {
		recheck = "true" // the node's own rows: nobody else renews them
	}
	for {
		rows, err := s.pool.Query(ctx, `SELECT tenant_id, id FROM tenant_reservations WHERE `+cond+` LIMIT 100`, a...)
		if err != nil {
			return err
		}
		type res struct{ tid, id string }
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (res, error) {
			var x res
			return x, r.Scan(&x.tid, &x.id)
		})
		if err != nil {
			return err
		}
		for _, x := range found {
			if err := s.dropReservation(ctx, x.tid, x.id, recheck); err != nil {
				return err
			}
			s.log.Info("upload reservation of a node gone ended", "tenant", x.tid, "reservation", x.id)
		}
		if len(found) < 100 {
			return nil
		}
	}
}
