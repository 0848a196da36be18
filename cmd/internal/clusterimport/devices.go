package clusterimport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/auth/sqlitestore"
	"github.com/syncspace/syncspace/cmd/internal/node"
)

// importDevices copies the enrolled devices with their current (unredeemed) refresh
// secret, so that device credentials keep refreshing; a device without one, or
// already in the target, is left out (one already there is revoked if the data dir
// has revoked it since). The grace of a secret redeemed just before the
// import is not carried over. A live device whose name an older live device of its
// tenant holds (a duplicate enrolled before the name check was atomic) is left out
// too, with a line on out: the cluster's store refuses a second live name, and the
// import must not stop on it; that device is enrolled again.
func importDevices(ctx context.Context, db *sql.DB, src *sqlitestore.Store, dst *node.ClusterTarget, rep *Report, out io.Writer) error {
	devs, err := src.Devices(ctx, "")
	if err != nil {
		return err
	}
	for _, d := range devs {
		if have, err := dst.Auth.Device(ctx, d.ID); err == nil {
			if d.RevokedAt != nil && have.RevokedAt == nil { // revoked since an earlier run
				if _, err := dst.Auth.RevokeDevice(ctx, d.ID, *d.RevokedAt); err != nil {
					return fmt.Errorf("revoke device %s: %w", d.ID, err)
				}
			}
			continue
		} else if !errors.Is(err, auth.ErrNoRecord) {
			return err
		}
		var hash string
		err := db.QueryRowContext(ctx, `SELECT hash FROM auth_refresh WHERE device_id = ? AND used_at IS NULL ORDER BY issued_at DESC LIMIT 1`, d.ID).Scan(&hash)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return err
		}
		r, err := src.RefreshSecret(ctx, hash)
		if err != nil {
			return err
		}
		if err := dst.Auth.AddDevice(ctx, d, r); errors.Is(err, auth.ErrDeviceNameTaken) {
			fmt.Fprintf(out, "left out device %s of tenant %s: an older live device is named %q too (enrol it again)\n", d.ID, d.Tenant, d.Name)
			continue
		} else if err != nil {
			return fmt.Errorf("device %s: %w", d.ID, err)
		}
		if d.RevokedAt != nil {
			if _, err := dst.Auth.RevokeDevice(ctx, d.ID, *d.RevokedAt); err != nil {
				return fmt.Errorf("revoke device %s: %w", d.ID, err)
			}
		}
		rep.Devices++
	}
	return nil
}
