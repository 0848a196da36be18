//go:build !windows

package ctl

import (
	"context"

	"github.com/syncspace/syncspace/auth"
	"github.com/syncspace/syncspace/transport/adminclient"
)

var _ deviceBackend = (*local)(nil)

// EnrollDevice implements deviceBackend on the data dir.
func (l *local) EnrollDevice(ctx context.Context, tenant, subject, role, name, certPEM string) (adminclient.Enrolled, error) {
	thumb := ""
	if certPEM != "" {
		var err error
		if thumb, err = auth.ThumbprintPEM([]byte(certPEM)); err != nil {
			return adminclient.Enrolled{}, err
		}
	}
	secret, d, err := l.svc.Devices().Enroll(ctx, tenant, subject, role, name, thumb)
	l.audit(ctx, "device.enroll", tenant+"/"+subject+"/"+name+" id="+d.ID, err)
	return adminclient.Enrolled{RefreshToken: secret, Device: d}, err
}

// ListDevices implements deviceBackend on the data dir.
func (l *local) ListDevices(ctx context.Context, tenant string) ([]auth.DeviceRecord, error) {
	return l.svc.Devices().List(ctx, tenant)
}

// RevokeDevice implements deviceBackend on the data dir.
func (l *local) RevokeDevice(ctx context.Context, id string) error {
	target := l.svc.Devices().DeviceTarget(ctx, id)
	err := l.svc.Devices().Revoke(ctx, id)
	l.audit(ctx, "device.revoke", target, err)
	return err
}
